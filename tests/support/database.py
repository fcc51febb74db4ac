"""A fresh migrated database on the configured PostgreSQL for one test module, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import numpy as np

from schemas.registry import load_registry
from services.config import Settings, load_settings
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.history.importer import run_import
from services.history.store import open_connection
from streams.indicators.catalogue import INDICATORS
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
