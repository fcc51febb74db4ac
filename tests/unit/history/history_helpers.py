"""A tide gauge's readings with something for every QC test: a spike, a flat stretch, a gap, an
out-of-span stretch and missing values; and the fresh-engine flags of them."""

from __future__ import annotations

import numpy as np

from schemas.registry import default_registry_path, load_registry
from services.history.judge import Columns
from streams.qc import QcConfig, QcEngine, Readings, load_qc_config

STATION = "dalian"
START_US = 1_735_689_600_000_000  # 2025-01-01T00:00:00Z
MINUTE_US = 60_000_000


def registry():  # type: ignore[no-untyped-def]
    return load_registry(default_registry_path())


def config() -> QcConfig:
    return load_qc_config(registry())


def series(days: float = 2.0) -> Columns:
    """1-minute water level and temperature at Dalian."""
    n = int(days * 1440)
    t = START_US + np.arange(n, dtype=np.int64) * MINUTE_US
    hours = np.arange(n) / 60
    level = 2.0 + 1.2 * np.sin(2 * np.pi * hours / 12.42) + 0.01 * np.sin(np.arange(n) * 1.7)
    level[300] += 1.5  # spike
    level[900:1200] = level[900]  # five flat hours
    level[1500:1520] = 9.0  # above the suspect span
    level[1700] = np.nan  # a missing reading
    keep = np.ones(n, dtype=bool)
    keep[2000:2100] = False  # a gap of 100 minutes
    temperature = 8.0 + 0.5 * np.sin(2 * np.pi * hours / 24)
    t = t[keep]
    variable = np.array(["water_level_m"] * len(t) + ["water_temperature_degC"] * len(t), dtype=object)
    return Columns(variable, np.concatenate([t, t]), np.concatenate([level[keep], temperature[keep]]))


def fresh_flags(config: QcConfig, readings: Columns) -> dict[tuple[str, int], tuple[int, int]]:
    """(variable, time) → (flag, packed tests) of a fresh engine over the whole sorted series."""
    engine = QcEngine(config)
    results = engine.process(
        Readings([STATION] * len(readings), list(readings.variable), readings.time_us, readings.value)
    )
    return {(r.variable, r.time_us): (r.flag, r.tests) for r in results}
