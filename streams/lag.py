"""Kafka consumer lag of this worker's group, as Prometheus gauges (every 10 s).

Read from the broker (committed group offsets vs end offsets), not from faust internals, so it is
the same number an operator gets from kafka-consumer-groups.
"""

from __future__ import annotations

import logging

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from schemas.records import DEAD_LETTER_TOPIC, READINGS_TOPIC
from streams.app import app, settings
from streams.metrics import CONSUMER_LAG

log = logging.getLogger(__name__)
WATCHED_TOPICS = (READINGS_TOPIC, DEAD_LETTER_TOPIC)


async def measure_lag() -> dict[tuple[str, int], int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(settings.worker_id)
        partitions = [
            TopicPartition(topic, p)
            for topic in WATCHED_TOPICS
            for p in (consumer.partitions_for_topic(topic) or ())
        ]
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
        await admin.close()
    return {
        (tp.topic, tp.partition): max(0, end - (committed[tp].offset if tp in committed else 0))
        for tp, end in ends.items()
    }


@app.timer(interval=10.0)
async def report_lag() -> None:
    try:
        lag = await measure_lag()
    except (KafkaError, OSError) as exc:
        log.debug("consumer lag not measured: %s", exc)
        return
    for (topic, partition), records in lag.items():
        CONSUMER_LAG.labels(topic, str(partition)).set(records)
