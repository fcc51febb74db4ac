"""Which published messages reached tidewatch's ingest: the readings topic read back from Kafka.

Ingest acknowledges an MQTT message only after Kafka holds every record made from it, so what the
readings topic holds includes everything ingest acknowledged. A message the broker acknowledged to
the station that is not in Kafka never got past the broker (a broker kill between its PUBACK to the
station and its hand-over to ingest); one in Kafka but not stored is tidewatch's own loss.
"""

from __future__ import annotations

import time

import numpy as np
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.load import LoadPlan
from schemas.records import READINGS_TOPIC, decode_batch


async def ingested_messages(bootstrap: str, budget_s: float = 120.0) -> set[tuple[str, int]]:
    """(station, first sample time µs) of every message in the readings topic, read from the start."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    seen: set[tuple[str, int]] = set()
    try:
        await consumer.topics()  # loads the metadata
        partitions = consumer.partitions_for_topic(READINGS_TOPIC) or ()
        parts = [TopicPartition(READINGS_TOPIC, p) for p in partitions]
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + budget_s
        while time.monotonic() < deadline:
            positions = {tp: await consumer.position(tp) for tp in parts}
            if all(positions[tp] >= ends[tp] for tp in parts):
                break
            for records in (await consumer.getmany(timeout_ms=1000, max_records=5_000)).values():
                for record in records:
                    for item in decode_batch(record.value).items:
                        if item.samples:
                            seen.add((item.station, item.samples[0].time_us))
    finally:
        await consumer.stop()
    return seen


def not_ingested(plan: LoadPlan, acked_k: np.ndarray, ingested: set[tuple[str, int]]) -> np.ndarray:
    """The acknowledged message numbers whose message never reached Kafka."""
    times = plan.times_us(acked_k)
    missing = [
        k
        for k, t in zip(acked_k.tolist(), times.tolist(), strict=True)
        if (plan.station(k % plan.stations), t) not in ingested
    ]
    return np.asarray(missing, dtype=np.int64)
