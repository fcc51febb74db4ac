"""A fresh migrated database on the configured PostgreSQL for one test module, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import asyncpg
import numpy as np

from schemas.records import Sample
from schemas.registry import Registry, default_registry_path, load_registry
from services.config import Settings, load_settings
from services.db.connect import drop_database, ensure_database
from services.db.indicators import write_indicators
from services.db.prepare import prepare_database
from services.history.importer import run_import
from services.history.store import fetch_stored, open_connection
from streams.indicators.catalogue import INDICATORS
from streams.indicators.ecology import EcologyState, params_for_station
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.indicators.sealevel import SeaLevelConfig, SeaLevelState
from streams.qc import load_qc_config


@contextlib.asynccontextmanager
async def fresh_database(prefix: str) -> AsyncIterator[Settings]:
    """Settings pointing at a new database ``{prefix}_<random>`` with the schema and registry in it."""
    base = load_settings()
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}")
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    try:
        yield settings
    finally:
        await drop_database(settings.database_url)


async def import_files(settings: Settings, paths: Sequence[Path]) -> None:
    """``tidewatch import`` of files into the settings' database (packaged QC configuration)."""
    registry = load_registry(settings.registry_path)
    conn = await open_connection(settings.database_url)
    try:
        await run_import(conn, load_qc_config(registry), registry, list(paths), progress=lambda _: None)
    finally:
        await conn.close()


def qc_config_with(path: Path, old: str, new: str) -> Path:
    """The packaged QC configuration with one passage replaced (it must be there), written to ``path``."""
    from streams.qc.config import default_qc_config_path

    text = default_qc_config_path().read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))
    return path


def dalian_tide(days: int) -> np.ndarray:
    """A 1-minute semidiurnal water level (m) for Dalian, from hour 0 on."""
    n = days * 1440
    hours = np.arange(n) / 60
    return 2.0 + 2.5 * np.sin(2 * np.pi * hours / 12.42) + 0.05 * np.sin(np.arange(n) * 1.3)


def write_dalian_csv(path: Path, start_s: int, level_m: np.ndarray) -> None:
    """Dalian's 1-minute water levels (and a gently varying temperature) from ``start_s``, in the API's
    CSV export format (what ``tidewatch import`` reads)."""
    lines = ["time,station_id,variable,value"]
    for i, level in enumerate(level_m.tolist()):
        stamp = np.datetime_as_string(np.datetime64(start_s + 60 * i, "s")) + "Z"
        lines.append(f"{stamp},dalian,water_level_m,{level:.4f}")
        lines.append(f"{stamp},dalian,water_temperature_degC,{8 + 0.3 * np.sin(i / 300):.4f}")
    path.write_text("\n".join(lines) + "\n")


async def stream_indicators(conn: asyncpg.Connection, registry: Registry, lo_us: int, hi_us: int) -> None:
    """What the worker's indicator states store for Dalian's stored readings of [lo, hi], 100 readings a
    batch in time order, their records written in order as the indicators agent writes them."""
    station = registry.stations["dalian"]
    stored = await fetch_stored(conn, "dalian", lo_us, hi_us)
    order = np.lexsort((stored.variable.astype(str), stored.time_us))
    sealevel = SeaLevelState(SeaLevelConfig.from_station(station))
    climatology = climatologies_in(PACKAGED_DIR, ["dalian"]).get("dalian")
    ecology = EcologyState("dalian", params_for_station(station), climatology)
    assert stored.flag is not None
    for chunk in np.array_split(order, len(order) // 100):
        out = []
        level = chunk[stored.variable[chunk] == "water_level_m"]
        if level.size:
            flags = stored.flag[level]
            out += sealevel.update("water_level_m", stored.time_us[level], stored.value[level], flags)
        samples = [
            Sample(
                int(stored.time_us[i]),
                {str(stored.variable[i]): float(stored.value[i]) if stored.flag[i] == 1 else None},
            )
            for i in chunk
            if stored.variable[i] in ("water_level_m", "water_temperature_degC")
        ]
        out += ecology.update(samples)
        await write_indicators(conn, out)


# Dalian's warning levels as the packaged registry gives them, and that registry with other levels.
DALIAN_LEVELS = "warning_water_level_m: {blue: 3.60, yellow: 3.80, orange: 4.00, red: 4.20}"


def registry_with_levels(folder: Path, levels: str) -> Path:
    """The packaged registry with Dalian's warning levels replaced by ``levels`` (its YAML line)."""
    content = Path(default_registry_path()).read_text()
    assert DALIAN_LEVELS in content
    path = folder / "stations.yaml"
    path.write_text(content.replace(DALIAN_LEVELS, levels))
    return path
