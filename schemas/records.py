"""Kafka record contracts between ingest and the stream processors.

Ingest validates MQTT messages and forwards *batches* of station messages, so one Kafka record
carries many readings: the stream framework costs ~150 µs per record, not per reading. All times
inside records are integer microseconds since the Unix epoch, UTC, so they survive JSON exactly.
"""

from __future__ import annotations

import zlib

import msgspec

READINGS_TOPIC = "tidewatch.readings.v1"
DEAD_LETTER_TOPIC = "tidewatch.deadletter.v1"
# Between the stream agents (formats in schemas/topics.py), open to other consumers:
OBSERVATIONS_TOPIC = "tidewatch.observations.v1"  # QC results: every new or corrected flag
# The alert engine's one ordered input per partition: QC results (first flags, then revisions),
# indicator values, operator actions (acknowledge, silence) and clock ticks. One log, so a replay
# of it gives the same alert events whatever the batching of the agents that wrote it.
ALERT_INPUTS_TOPIC = "tidewatch.alert-inputs.v1"
ALERT_EVENTS_TOPIC = "tidewatch.alert-events.v1"
TIDE_MODELS_TOPIC = "tidewatch.tide-models.v1"  # fitted tide models, applied by the indicators agent
ALL_TOPICS = (
    READINGS_TOPIC,
    DEAD_LETTER_TOPIC,
    OBSERVATIONS_TOPIC,
    ALERT_INPUTS_TOPIC,
    ALERT_EVENTS_TOPIC,
    TIDE_MODELS_TOPIC,
)

Values = dict[str, float | None]


class Sample(msgspec.Struct, array_like=True, frozen=True):
    """One sample time of one station with the values of the variables measured then."""

    time_us: int
    values: Values


class StationReadings(msgspec.Struct, frozen=True):
    """The accepted part of one MQTT message."""

    station: str
    received_us: int
    samples: list[Sample]

    def count(self) -> int:
        return sum(len(s.values) for s in self.samples)


class ReadingBatch(msgspec.Struct, frozen=True, tag="readings/v1"):
    """One Kafka record: station messages that all belong to the record's partition."""

    items: list[StationReadings]

    def count(self) -> int:
        return sum(item.count() for item in self.items)


def storable_text(text: str) -> str:
    """Text PostgreSQL can store: NUL and lone surrogates escaped visibly (``\\x00``, ``\\ud800``).

    Station ids and field names in dead letters come from hostile payloads; ``text`` refuses NUL
    and UTF-8 cannot encode a lone surrogate, and one such row used to take its whole batch down.
    """
    if text.isascii() and "\x00" not in text:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


class DeadLetter(msgspec.Struct, frozen=True, tag="deadletter/v1"):
    """A refused message (or the refused part of one), with the untouched payload and why.

    One letter per message: ``reason`` is its most frequent refusal, ``detail`` counts every reason
    and gives the first details. Text fields are ``storable_text``; the payload is the raw bytes.
    """

    received_us: int
    source: str
    reason: str
    detail: str
    payload: bytes
    station: str | None = None


_batch_encoder = msgspec.json.Encoder()
_batch_decoder = msgspec.json.Decoder(ReadingBatch)
_dead_letter_decoder = msgspec.json.Decoder(DeadLetter)


def encode(record: ReadingBatch | DeadLetter) -> bytes:
    return _batch_encoder.encode(record)


def decode_batch(data: bytes) -> ReadingBatch:
    return _batch_decoder.decode(data)


def decode_dead_letter(data: bytes) -> DeadLetter:
    return _dead_letter_decoder.decode(data)


def partition_for(station: str, partitions: int) -> int:
    """Stable station → partition mapping shared by ingest and every stateful stream agent.

    Per-station state (QC context, indicators, alerts) lives on the partition a station's readings
    arrive on, so the mapping must never depend on process, Python hash seed or record batching.
    """
    return zlib.crc32(station.encode("utf-8")) % partitions
