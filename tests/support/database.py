"""A fresh migrated database on the configured PostgreSQL for one test module, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

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
