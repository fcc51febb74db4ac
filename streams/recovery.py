"""Table recovery that reads each changelog partition to its real end, not to the end the broker reports.

Faust rebuilds a memory table at every rebalance by reading its changelog partitions up to the end
offsets the broker reports (ListOffsets). Tansu 0.6, the broker of the development stack and the
tests, reports the start of a partition's last record batch + 1 instead of its end: after a state
write that went out as one batch of many records, recovery stopped at the first of them
(tests/integration/test_changelog_recovery.py). The new owner of a partition then restored a prefix
of the old owner's last write (a sea-level state without its newest slots and head, "rebuilt from
scratch"), and a worker keeping its partitions had the newest value of such keys replaced by an
older one from the changelog, while the inputs of that write were committed: those readings were
lost downstream (issue 12, two pipelines sharing one broker, 5 of 8 runs).

So the highwater of every partition is checked by reading its last batch: the end is one past the
newest offset found from the reported end - 1 on, never less than the reported end (on Apache Kafka,
which reports the real end, the check finds the same number).

The end of the recovery is guarded too (``on_recovery_completed``): a stream partition without a
committed offset yet is read from the start again, and the agents get no records before faust has
sought the stream partitions and cleared its queues.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Mapping
from typing import Any, cast

from aiokafka import AIOKafkaConsumer, TopicPartition
from faust.tables import TableManager
from faust.tables.recovery import Recovery
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as driver
from faust.types import TP

log = logging.getLogger(__name__)

# How long the check may take for all the partitions of one rebalance.
CHECK_TIMEOUT_S = 5.0


async def log_ends(
    bootstrap: str, reported: Mapping[Any, int], timeout_s: float = CHECK_TIMEOUT_S
) -> dict[Any, int]:
    """The real end offset (one past the newest record) of each partition, given the ends the broker
    reported: the records from ``reported - 1`` on are read once. Keys are (topic, partition) tuples."""
    ends = {tp: end for tp, end in reported.items()}
    wanted = {TopicPartition(tp[0], tp[1]): tp for tp, end in reported.items() if end and end > 0}
    if not wanted:
        return ends
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        fetch_max_wait_ms=100,
        max_partition_fetch_bytes=8 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(list(wanted))
        for tp, key in wanted.items():
            consumer.seek(tp, reported[key] - 1)
        pending = set(wanted)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while pending and loop.time() < deadline:
            batch = await consumer.getmany(*pending, timeout_ms=200)
            for tp, records in batch.items():
                if records:
                    key = wanted[tp]
                    ends[key] = max(ends[key], records[-1].offset + 1)
                    pending.discard(tp)
            for tp in list(pending):
                # Nothing at reported - 1 any more (a control record, compaction): the reported end holds.
                if await consumer.position(tp) >= reported[wanted[tp]]:
                    pending.discard(tp)
        if pending:
            log.warning("changelog ends of %s not checked within %.0f s", sorted(pending), timeout_s)
    finally:
        await consumer.stop()
    return ends


class EndCheckedRecovery(Recovery):
    """Faust's recovery with the highwaters checked against the changelog itself (see the module), and
    no records handed to the agents while it resumes the stream partitions."""

    bootstrap: str = ""

    async def on_recovery_completed(self, generation_id: int = 0) -> None:
        # Faust turns the consumer's flow on when it starts reading the changelogs and, once done,
        # resumes the stream partitions, seeks them to their committed offsets and only then clears
        # the agents' queues: records handed over in between were dropped from the queues and never
        # fetched again. No flow until faust turns it on again at the end of this step (a fetch still
        # under way is sought back, see ``seek_uncommitted_to_start``).
        cast(Consumer, self.app.consumer).stop_flow()
        await super().on_recovery_completed(generation_id)

    async def _build_highwaters(
        self, consumer: Any, tps: set[TP], destination: Counter[TP], title: str
    ) -> None:
        await super()._build_highwaters(consumer, tps, destination, title)
        # Faust keeps end - 1 (the offset of the last record it must read).
        reported = {tp: destination[tp] + 1 for tp in tps}
        for tp, end in (await log_ends(self.bootstrap, reported)).items():
            if end - 1 > destination[tp]:
                log.info(
                    "%s changelog %s[%d]: broker reported end %d, last record %d",
                    title,
                    tp.topic,
                    tp.partition,
                    reported[tp],
                    end - 1,
                )
                destination[tp] = end - 1


def seek_uncommitted_to_start() -> None:
    """Make faust's seek to the committed offsets move partitions that have none as well.

    Faust seeks the stream partitions to their committed offsets after every rebalance, and whenever
    records arrive while its flow is stopped, so that what it dropped from its queues is fetched
    again. aiokafka seeks only to offsets > 0: a partition nothing was committed for yet (a group's
    first seconds, or one whose records all sat in the queues) went on from where the fetcher stood,
    and the records it had fetched and dropped were never processed (two pipelines on one broker: a
    kept partition's alert inputs 1-11, a moved one's observations 0-7). With ``earliest`` such a
    partition is read from its start again: a replay, which the agents recognise.
    """
    if getattr(driver.Consumer.seek_to_committed, "_tidewatch", False):
        return
    original = driver.Consumer.seek_to_committed

    async def seek_to_committed(self: driver.Consumer) -> Mapping[TP, int]:
        committed = await original(self)
        if self.app.conf.consumer_auto_offset_reset == "earliest":
            changelogs = self.app.tables.changelog_topics
            never = [tp for tp, offset in committed.items() if not offset and tp.topic not in changelogs]
            if never:
                log.info(
                    "no committed offset for %s: read from the start",
                    ", ".join(f"{tp.topic}[{tp.partition}]" for tp in sorted(never)),
                )
                for tp, offset in (await self.earliest_offsets(*never)).items():
                    await self.seek(tp, offset)
        return committed

    seek_to_committed._tidewatch = True  # type: ignore[attr-defined]
    driver.Consumer.seek_to_committed = seek_to_committed  # type: ignore[method-assign,assignment]


def table_manager(bootstrap: str) -> type[TableManager]:
    """A faust ``TableManager`` whose recovery reads changelogs to their real end on this broker."""

    class _Recovery(EndCheckedRecovery):
        pass

    _Recovery.bootstrap = bootstrap

    class EndCheckedTableManager(TableManager):
        @property
        def recovery(self) -> Recovery:
            if self._recovery is None:
                self._recovery = _Recovery(self.app, self, beacon=self.beacon, loop=self.loop)
            return self._recovery

    return EndCheckedTableManager
