"""The faust application every stream agent registers on.

Configured from the same ``TIDEWATCH_*`` environment as the other services. Topics are declared
with the partition count ingest uses for its station → partition mapping, so per-station state in
tables stays co-partitioned with the readings that update it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from pathlib import Path
from typing import TypeVar

import faust

from schemas.records import (
    ALERT_EVENTS_TOPIC,
    ALERT_INPUTS_TOPIC,
    DEAD_LETTER_TOPIC,
    OBSERVATIONS_TOPIC,
    READINGS_TOPIC,
    TIDE_MODELS_TOPIC,
    partition_for,
)
from services.config import Settings, load_settings
from streams.topics import chunks

Item = TypeVar("Item")
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> faust.App:
    datadir = Path(settings.data_dir) / "faust" / settings.worker_id
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(
        settings.worker_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        # State tables live in memory and are rebuilt from their changelog topics at start (see
        # "Stream state" in the README for why not faust's RocksDB store).
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        value_serializer="raw",
        key_serializer="raw",
        # A crashed member is noticed in ~10 s instead of faust's 60 s default (first join ~6 s).
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        # A new consumer group starts at the beginning, so nothing produced before the first worker
        # joined is skipped; tests and benchmarks that share a broker start new groups at the end.
        consumer_auto_offset_reset=settings.kafka_offset_reset,
        web_enabled=False,
        # faust keeps a per-app folder; keep it out of the working tree.
        datadir=str(datadir),
        # The check compares a RocksDB file's offsets with the changelog (a topic deleted under it);
        # with memory tables it only compares what this process read before a rebalance with the
        # broker's end offset now. On Tansu a survivor taking over a killed worker's partitions found
        # that end lower than what it had read (240 > 224) and the whole worker stopped
        # (tests/integration/test_two_workers.py): one crash must not stop the other workers.
        recovery_consistency_check=False,
    )
    app.tidewatch_settings = settings  # type: ignore[attr-defined]
    return app


settings = load_settings()
app = create_app(settings)


def _topic(name: str) -> faust.TopicT:
    return app.topic(name, value_type=bytes, value_serializer="raw", partitions=settings.topic_partitions)


readings_topic = _topic(READINGS_TOPIC)
dead_letter_topic = _topic(DEAD_LETTER_TOPIC)
observations_topic = _topic(OBSERVATIONS_TOPIC)
alert_events_topic = _topic(ALERT_EVENTS_TOPIC)
alert_inputs_topic = _topic(ALERT_INPUTS_TOPIC)
tide_models_topic = _topic(TIDE_MODELS_TOPIC)


async def send_by_partition(
    topic: faust.TopicT,
    items: Iterable[Item],
    station_of: Callable[[Item], str],
    record_of: Callable[[list[Item]], bytes],
) -> list[Awaitable[object]]:
    """Send items to their station's partition, in their given order, in records below the size limit.

    Returns the records' delivery futures (``delivered``): an agent that must know its results are
    downstream before it marks them done waits for these, not for the producer's whole queue (which
    holds every agent's state writes too: waiting for that halved QC's throughput)."""
    by_partition: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_partition[partition_for(station_of(item), settings.topic_partitions)].append(item)
    sent = []
    for partition, part in sorted(by_partition.items()):
        for chunk in chunks(part):
            # force: sent now, not attached to the current event (published only at the next commit).
            sent.append(await topic.send(value=record_of(chunk), partition=partition, force=True))
    return sent


async def delivered(sent: Iterable[Awaitable[object]]) -> None:
    """Return once the broker has acknowledged every one of these records."""
    await asyncio.gather(*sent)
