"""Kafka consumer lag of this worker's group, as Prometheus gauges (every 10 s).

Read from the broker (committed group offsets vs end offsets), not from faust internals, so it is
the same number an operator gets from kafka-consumer-groups.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError

from schemas.records import DEAD_LETTER_TOPIC, READINGS_TOPIC
from streams.app import app, settings
from streams.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)
WATCHED_TOPICS = (READINGS_TOPIC, DEAD_LETTER_TOPIC)


async def measure_lag() -> dict[tuple[str, int], int]:
    # A consumer that names the group but never subscribes reads the group's committed offsets
    # without joining it (the admin API's group-offsets call is not understood by every broker).
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.worker_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        partitions = [
            TopicPartition(topic, p)
            for topic in WATCHED_TOPICS
            for p in (consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions)
        lag = {}
        for tp, end in ends.items():
            committed = await consumer.committed(tp)
            lag[(tp.topic, tp.partition)] = max(0, end - (committed or 0))
    finally:
        await consumer.stop()
    return lag


@app.timer(interval=10.0)
async def report_lag() -> None:
    try:
        lag = await measure_lag()
    except (KafkaError, OSError, ValueError) as exc:
        log.debug("consumer lag not measured: %s", exc)
        return
    for (topic, partition), records in lag.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(records)
