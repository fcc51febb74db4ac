"""The faust application every stream agent registers on.

Configured from the same ``TIDEWATCH_*`` environment as the other services. Topics are declared
with the partition count ingest uses for its station → partition mapping, so per-station state in
tables stays co-partitioned with the readings that update it.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TypeVar

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.records import (
    ALERT_EVENTS_TOPIC,
    ALERT_INPUTS_TOPIC,
    DEAD_LETTER_TOPIC,
    OBSERVATIONS_TOPIC,
    READINGS_TOPIC,
    TIDE_MODELS_TOPIC,
    partition_for,
)
from schemas.registry import load_registry
from schemas.topics import chunks
from services.backoff import Backoff
from services.config import Settings, load_settings
from streams.recovery import seek_uncommitted_to_start, table_manager

Item = TypeVar("Item")
log = logging.getLogger(__name__)


def create_app(settings: Settings) -> faust.App:
    seek_uncommitted_to_start()
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
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_heartbeat_interval=min(1.0, settings.kafka_session_timeout_s / 3),
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
        # Changelogs read to their real end at every rebalance (Tansu reports less: streams/recovery.py).
        TableManager=table_manager(settings.kafka_bootstrap),
    )
    return app


settings = load_settings()
app = create_app(settings)
# The station registry, read once for every agent of the worker (a change needs a worker restart).
registry = load_registry(settings.registry_path)


def _topic(name: str) -> faust.TopicT:
    return app.topic(name, value_type=bytes, value_serializer="raw", partitions=settings.topic_partitions)


readings_topic = _topic(READINGS_TOPIC)
dead_letter_topic = _topic(DEAD_LETTER_TOPIC)
observations_topic = _topic(OBSERVATIONS_TOPIC)
alert_events_topic = _topic(ALERT_EVENTS_TOPIC)
alert_inputs_topic = _topic(ALERT_INPUTS_TOPIC)
tide_models_topic = _topic(TIDE_MODELS_TOPIC)


class ResultsProducer:
    """A Kafka producer of its own for the results an agent hands on before it marks them done.

    Waiting for their delivery on faust's producer meant waiting behind every agent's state writes in
    the same queue: QC stored 3,900 readings/s instead of ~7,300 (one worker, 1,000 buoys). Started on
    first use; a send that fails is sent again (the receivers absorb repeats).
    """

    def __init__(self) -> None:
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:  # the agents share one producer: start it once
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=settings.kafka_bootstrap,
                    acks="all",
                    linger_ms=2,
                    max_request_size=8 * 1024 * 1024,
                )
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
            return self._producer

    async def deliver(self, records: list[tuple[str, int, bytes, bytes | None]]) -> None:
        """Send (topic, partition, value, key) records in order and return once the broker has them;
        an unreachable broker or a failed send is tried again with backoff."""
        backoff = Backoff(0.2, 10.0)
        while True:
            try:
                producer = await self._started()
                sent = [
                    await producer.send(topic, value, key=key, partition=partition)
                    for topic, partition, value, key in records
                ]
                await asyncio.gather(*sent)
                return
            except (KafkaError, OSError) as exc:
                log.warning("results not delivered (%s); trying again in %.1f s", exc, backoff.next_s)
                await backoff.sleep()


results_producer = ResultsProducer()


def by_partition_records(
    topic: faust.TopicT,
    items: Iterable[Item],
    station_of: Callable[[Item], str],
    record_of: Callable[[list[Item]], bytes],
) -> list[tuple[str, int, bytes, bytes | None]]:
    """Items as (topic, partition, value, no key) records: per station partition, in their given order, each
    record below the size limit."""
    by_partition: dict[int, list[Item]] = defaultdict(list)
    for item in items:
        by_partition[partition_for(station_of(item), settings.topic_partitions)].append(item)
    name = topic.get_topic_name()
    return [
        (name, partition, record_of(chunk), None)
        for partition, part in sorted(by_partition.items())
        for chunk in chunks(part)
    ]
