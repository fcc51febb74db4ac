"""Storage agents: readings and dead letters → PostgreSQL/TimescaleDB, a batch per round trip.

Faust acknowledges a batch's offsets only after the loop body returns, i.e. after the database
committed it; a crash in between redelivers the batch and the idempotent writers store it once.
While the database is away the agent retries the same batch and consumes nothing more.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from schemas.records import StationReadings, decode_batch, decode_dead_letter
from schemas.registry import load_registry
from services.db.connect import ensure_database
from services.db.writers import insert_dead_letters, insert_observations, prepare_connection, reading_rows
from streams import metrics
from streams.app import app, dead_letter_topic, readings_topic, settings

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_pool: asyncpg.Pool | None = None
_pool_lock = asyncio.Lock()
_registry = load_registry(settings.registry_path)
_kinds = {s.id: s.kind for s in _registry.stations.values()}
metrics.initialise(_registry)


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


def observe_stored(items: list[StationReadings], new_rows: dict[str, int], seconds: float) -> None:
    """Per-batch metrics: one pass over the batch's messages, never per reading."""
    metrics.STORE_SECONDS.observe(seconds)
    now = time.time()
    offered: dict[str, int] = {}
    for item in items:
        kind = _kinds.get(item.station, "unknown")
        offered[item.station] = offered.get(item.station, 0) + item.count()
        metrics.INGEST_TO_STORE_SECONDS.observe(now - item.received_us / 1e6)
        newest = max(item.samples, key=lambda s: s.time_us)
        metrics.STATION_LAST_SEEN.labels(item.station, kind).set(newest.time_us / 1e6)
        for variable, value in newest.values.items():
            if variable in metrics.KEY_VARIABLES and value is not None:
                metrics.LATEST_VALUE.labels(item.station, kind, variable).set(value)
    metrics.BATCH_READINGS.observe(sum(offered.values()))
    for station, count in offered.items():
        kind = _kinds.get(station, "unknown")
        new = new_rows.get(station, 0)
        metrics.STORED.labels(kind).inc(new)
        if count > new:
            metrics.DUPLICATES.labels(kind).inc(count - new)


@app.agent(readings_topic)
async def store_readings(stream):  # type: ignore[no-untyped-def]
    async for values in stream.take(200, within=settings.store_batch_within_s):
        items = [item for value in values for item in decode_batch(value).items]
        rows = reading_rows(items)
        started = time.perf_counter()
        new_rows = await write_until_stored(insert_observations, rows)
        observe_stored(items, new_rows, time.perf_counter() - started)


@app.agent(dead_letter_topic)
async def store_dead_letters(stream):  # type: ignore[no-untyped-def]
    async for values in stream.take(500, within=settings.store_batch_within_s):
        letters = [decode_dead_letter(value) for value in values]
        if await write_until_stored(insert_dead_letters, letters):
            for letter in letters:
                metrics.DEAD_LETTERS_STORED.labels(letter.reason).inc()
