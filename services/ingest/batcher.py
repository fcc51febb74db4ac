"""Turn validated MQTT messages into Kafka records (pure: no I/O).

Readings of many messages share one record per partition, so the stream workers pay their
per-record cost once per batch rather than once per reading. A message with refusals becomes one
dead letter (however many of its samples were refused) with the untouched payload and every reason.
The MQTT ids travel with the batch: they are acknowledged, in arrival order, only once Kafka has
every record of the batch.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from schemas.contract import Refusal, Verdict
from schemas.records import (
    DEAD_LETTER_TOPIC,
    READINGS_TOPIC,
    DeadLetter,
    ReadingBatch,
    StationReadings,
    encode,
    partition_for,
    storable_text,
)

MAX_DETAIL_CHARS = 4096


def letter_detail(refusals: list[Refusal]) -> tuple[str, str]:
    """(leading reason, detail) of one message's refusals: every reason counted, first details kept.

    A 147 KiB message with 2,000 refused samples once became 2,000 letters carrying the payload each
    (286 MiB); one letter with a bounded detail keeps what an operator needs.
    """
    counts = Counter(refusal.reason for refusal in refusals)
    if len(refusals) == 1:
        return refusals[0].reason, storable_text(refusals[0].detail)[:MAX_DETAIL_CHARS]
    head = f"{len(refusals)} refusals: " + ", ".join(f"{r} x{n}" for r, n in counts.most_common())
    parts, size = [head], len(head)
    for shown, refusal in enumerate(refusals):
        line = f"{refusal.reason}: {storable_text(refusal.detail)}"
        if size + len(line) + 64 > MAX_DETAIL_CHARS:
            parts.append(f"... {len(refusals) - shown} more")
            break
        parts.append(line)
        size += len(line) + 2
    return counts.most_common(1)[0][0], "; ".join(parts)[:MAX_DETAIL_CHARS]


@dataclass(slots=True)
class OutgoingRecord:
    topic: str
    partition: int
    value: bytes


@dataclass(slots=True)
class Flush:
    """One batch: its Kafka records, and the MQTT messages to acknowledge once they are stored."""

    records: list[OutgoingRecord]
    mids: list[int]
    readings: Counter[str]  # accepted readings per station
    refusals: Counter[tuple[str, str | None]]  # refusals per (reason, station or None)


@dataclass(slots=True)
class Batcher:
    partitions: int
    max_messages: int = 2000
    _items: dict[int, list[StationReadings]] = field(default_factory=dict)
    _letters: list[DeadLetter] = field(default_factory=list)
    _mids: list[int] = field(default_factory=list)
    _readings: Counter[str] = field(default_factory=Counter)
    _refusals: Counter[tuple[str, str | None]] = field(default_factory=Counter)

    def __len__(self) -> int:
        return len(self._mids)

    def full(self) -> bool:
        return len(self._mids) >= self.max_messages

    def add(self, mid: int, topic: str, payload: bytes, received_us: int, verdict: Verdict) -> None:
        self._mids.append(mid)
        if verdict.accepted is not None:
            station = verdict.accepted.station
            self._items.setdefault(partition_for(station, self.partitions), []).append(verdict.accepted)
            self._readings[station] += verdict.accepted.count()
        if not verdict.refusals:
            return
        for refusal in verdict.refusals:
            self._refusals[refusal.reason, verdict.station] += 1
        reason, detail = letter_detail(verdict.refusals)
        letter_station = None if verdict.station is None else storable_text(verdict.station)
        self._letters.append(
            DeadLetter(received_us, storable_text(topic), reason, detail, payload, letter_station)
        )

    def take(self) -> Flush:
        records = [
            OutgoingRecord(READINGS_TOPIC, partition, encode(ReadingBatch(items)))
            for partition, items in sorted(self._items.items())
        ]
        records += [
            OutgoingRecord(
                DEAD_LETTER_TOPIC,
                partition_for(letter.station or letter.source, self.partitions),
                encode(letter),
            )
            for letter in self._letters
        ]
        flush = Flush(records, self._mids, self._readings, self._refusals)
        self._items, self._letters, self._mids = {}, [], []
        self._readings, self._refusals = Counter(), Counter()
        return flush
