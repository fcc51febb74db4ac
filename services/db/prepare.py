"""A database ready for every process: created if missing, migrated, catalogues mirrored.

The indicator catalogue comes from the caller (the CLI, the demo, tests, benchmarks hand in
``streams.indicators.catalogue.INDICATORS``): the database layer knows how to store indicators, not
which ones the stream computes.
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.indicators import IndicatorSpec
from schemas.registry import load_registry
from services.config import Settings
from services.db.catalogue import sync_catalogue
from services.db.connect import connect_with_retry, ensure_database
from services.db.indicators import sync_indicator_catalogue
from services.db.migrate import migrate


async def prepare_database(settings: Settings, indicators: Iterable[IndicatorSpec]) -> str:
    """Create the database if needed, migrate it, mirror the registry and ``indicators``; returns the
    migration's one-line report."""
    await ensure_database(settings.database_url)
    conn = await connect_with_retry(settings.database_url, attempts=30)
    try:
        report = await migrate(conn)
        await sync_catalogue(conn, load_registry(settings.registry_path))
        await sync_indicator_catalogue(conn, indicators)
    finally:
        await conn.close()
    return report.describe()
