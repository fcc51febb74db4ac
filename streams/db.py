"""The stream workers' database access: one pool per worker, and writes retried until stored.

Every agent's write goes through ``write_until_stored``: it returns only once the database has the
batch, so faust moves the batch's offsets on only after that (at-least-once; writers are idempotent).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from services.db.connect import ensure_database
from services.db.writers import prepare_connection
from streams.app import settings

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_pool: asyncpg.Pool | None = None
_pool_lock = asyncio.Lock()


async def pool() -> asyncpg.Pool:
    global _pool
    async with _pool_lock:
        if _pool is None:
            await ensure_database(settings.database_url)
            _pool = await asyncpg.create_pool(
                settings.database_url, min_size=1, max_size=4, init=prepare_connection
            )
    return _pool


async def write_until_stored(
    write: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[R]], rows: Sequence[T]
) -> R:
    """Retry one batch until the database has it: offsets only move on after this returns."""
    delay = 0.2
    while True:
        try:
            async with (await pool()).acquire() as conn:
                return await write(conn, rows)
        except (
            OSError,
            asyncpg.PostgresConnectionError,
            asyncpg.CannotConnectNowError,
            asyncpg.InterfaceError,
        ) as exc:
            log.warning("database write failed (%s); retrying %d rows in %.1f s", exc, len(rows), delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
