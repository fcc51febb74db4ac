"""Storage agents: readings and dead letters → PostgreSQL/TimescaleDB, a batch per round trip.

Faust acknowledges a batch's offsets only after the loop body returns, i.e. after the database
committed it; a crash in between redelivers the batch and the idempotent writers store it once.
While the database is away the agent retries the same batch and consumes nothing more.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from schemas.records import decode_batch, decode_dead_letter
from services.db.connect import ensure_database
from services.db.writers import insert_dead_letters, insert_observations, prepare_connection, reading_rows
from streams.app import app, dead_letter_topic, readings_topic, settings

log = logging.getLogger(__name__)
T = TypeVar("T")
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
    write: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[int]], rows: Sequence[T]
) -> int:
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


@app.agent(readings_topic)
async def store_readings(stream):  # type: ignore[no-untyped-def]
    async for values in stream.take(200, within=settings.store_batch_within_s):
        items = [item for value in values for item in decode_batch(value).items]
        rows = reading_rows(items)
        stored = await write_until_stored(insert_observations, rows)
        log.debug("stored %d of %d readings", stored, len(rows))


@app.agent(dead_letter_topic)
async def store_dead_letters(stream):  # type: ignore[no-untyped-def]
    async for values in stream.take(500, within=settings.store_batch_within_s):
        letters = [decode_dead_letter(value) for value in values]
        await write_until_stored(insert_dead_letters, letters)
