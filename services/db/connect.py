"""Database connections: create the database on first use, and retry while PostgreSQL is away."""

from __future__ import annotations

import logging
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from services.backoff import Backoff

log = logging.getLogger(__name__)


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def ensure_database(url: str) -> None:
    """Create the database named in ``url`` if it does not exist (a fresh machine has none)."""
    name = urlsplit(url).path.lstrip("/") or "postgres"
    try:
        conn = await asyncpg.connect(url)
    except asyncpg.InvalidCatalogNameError:
        admin = await asyncpg.connect(_with_database(url, "postgres"))
        try:
            await admin.execute(f'CREATE DATABASE "{name}"')
        except asyncpg.DuplicateDatabaseError:
            pass
        finally:
            await admin.close()
    else:
        await conn.close()


async def drop_database(url: str) -> None:
    """Drop the database named in ``url``, closing its sessions (tests, benchmarks and the demo's reset)."""
    name = urlsplit(url).path.lstrip("/")
    admin = await asyncpg.connect(_with_database(url, "postgres"))
    try:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await admin.close()


async def connect_with_retry(url: str, *, attempts: int = 0, max_delay_s: float = 10.0) -> asyncpg.Connection:
    """Connect, backing off while the server is unreachable (attempts=0: forever)."""
    backoff, tried = Backoff(0.2, max_delay_s), 0
    while True:
        try:
            return await asyncpg.connect(url)
        except (OSError, asyncpg.CannotConnectNowError, asyncpg.TooManyConnectionsError) as exc:
            tried += 1
            if attempts and tried >= attempts:
                raise
            log.warning("database unreachable (%s); retrying in %.1f s", exc, backoff.next_s)
            await backoff.sleep()
