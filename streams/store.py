"""Storage agents: readings and dead letters → PostgreSQL/TimescaleDB, a batch per round trip.

Faust acknowledges a batch's offsets only after the loop body returns, i.e. after the database
committed it; a crash in between redelivers the batch and the idempotent writers store it once.
While the database is away the agent retries the same batch and consumes nothing more.
"""

from __future__ import annotations

import logging
import time

from schemas.records import StationReadings, decode_batch, decode_dead_letter
from schemas.registry import load_registry
from services.db.writers import insert_dead_letters, insert_observations, reading_rows
from streams import metrics
from streams.app import app, dead_letter_topic, readings_topic, settings
from streams.db import write_until_stored

log = logging.getLogger(__name__)
_registry = load_registry(settings.registry_path)
_kinds = {s.id: s.kind for s in _registry.stations.values()}
metrics.initialise(_registry)


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
