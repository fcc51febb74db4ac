"""Table recovery reads a changelog partition to its last record on the real broker (issue 12).

Tansu, the broker of the development stack and the tests, reports the end of a partition as the
start of its last record batch + 1. Faust's recovery read the changelog only that far, so the tail of
a state write sent as one batch (every state save is) never reached the table of the worker that
took the partition over, nor stayed in the table of the worker that kept it: readings were lost
downstream at rebalances. ``streams.recovery`` checks the end on the partition itself.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from services.stack.kafka import start_tansu
from streams.recovery import log_ends

pytestmark = pytest.mark.integration
TOPIC = "w-test-state-changelog"


async def _write_batches(bootstrap: str, sizes: list[int]) -> dict[int, int]:
    """Records in batches of these sizes to partitions 0 and 1 in turn (one produce each, lingering so
    each goes out as one batch); returns how many records each partition got."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(TOPIC, 3, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50)
    await producer.start()
    written = {0: 0, 1: 0, 2: 0}
    try:
        for i, size in enumerate(sizes):
            partition = i % 2
            sent = [
                await producer.send(TOPIC, b"v", key=f"station/raw/{n}".encode(), partition=partition)
                for n in range(size)
            ]
            offsets = [meta.offset for meta in await asyncio.gather(*sent)]
            assert offsets == list(range(written[partition], written[partition] + size))
            written[partition] += size
    finally:
        await producer.stop()
    return written


async def _reported_ends(bootstrap: str, tps: list[TopicPartition]) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        return await consumer.end_offsets(tps)
    finally:
        await consumer.stop()


async def test_changelog_ends_are_the_last_records_not_the_reported_ends(tmp_path: Path) -> None:
    child, url = await start_tansu(tmp_path)
    bootstrap = url.removeprefix("kafka://")
    try:
        # Partition 0 ends with a batch of 12 records, partition 1 with a single record; 2 is empty.
        written = await _write_batches(bootstrap, [5, 3, 12, 1])
        tps = [TopicPartition(TOPIC, p) for p in (0, 1, 2)]
        reported = await _reported_ends(bootstrap, tps)
        ends = await log_ends(bootstrap, {(tp.topic, tp.partition): reported[tp] for tp in tps})
    finally:
        child.stop(5)
    assert written == {0: 17, 1: 4, 2: 0}
    # Faust's own recovery stopped at the reported ends (Tansu 0.6: 6, 4, 0 here).
    assert {partition: end for (_, partition), end in ends.items()} == written, {
        tp.partition: reported[tp] for tp in tps
    }
