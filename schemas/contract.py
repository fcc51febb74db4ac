"""The MQTT message contract, version 1, and its validation.

Topic: ``tidewatch/v1/{network}/{station}/readings``, QoS 1. Payload (JSON, UTF-8)::

    {"station": "dalian",
     "time": "2026-11-24T01:00:00Z",                 # RFC 3339 with an offset; stored as UTC
     "values": {"water_level_m": 2.31, "water_temperature_degC": 8.2},
     "units": {"water_level_m": "m"},                 # optional; must equal the canonical unit
     "backlog": [{"time": "...", "values": {...}}]}   # optional samples buffered during an outage

A value may be ``null`` (the sensor reported nothing); it is kept as a missing reading. Validation
never raises on bad input: it returns what was accepted and every refusal with a reason code, so
ingest can forward the good part and dead-letter the rest.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import msgspec

from schemas.records import Sample, StationReadings
from schemas.registry import Registry

CONTRACT_VERSION = "v1"
TOPIC_PREFIX = f"tidewatch/{CONTRACT_VERSION}"
READINGS_SUFFIX = "readings"
MAX_PAYLOAD_BYTES = 256 * 1024
MAX_FUTURE_S = 300.0
EARLIEST_TIME_US = 631152000 * 1_000_000  # 1990-01-01T00:00:00Z: older is a clock fault

# Reason codes stored with every dead letter (stable: dashboards and operators filter on them).
MALFORMED_JSON = "malformed_json"
SCHEMA = "schema_violation"
OVERSIZE = "oversize"
TOPIC = "topic_mismatch"
UNKNOWN_STATION = "unknown_station"
UNKNOWN_VARIABLE = "unknown_variable"
WRONG_UNIT = "wrong_unit"
BAD_TIME = "bad_time"
FUTURE_TIME = "future_time"
TOO_OLD = "too_old"
OUT_OF_RANGE = "out_of_physical_range"
EMPTY_SAMPLE = "empty_sample"
VALIDATION_FAILED = "validation_failed"  # the validator itself raised (e.g. nesting too deep)
DUPLICATE_KEY = "duplicate_key"  # JSON decoders keep the last value silently: refused instead
# Not a refusal of the contract: a stream agent failed on one station's part of a batch (the letter
# keeps that part, the rest of the batch went on; streams/isolate.py).
PROCESSING_FAILED = "processing_failed"
REASONS = (
    MALFORMED_JSON,
    SCHEMA,
    OVERSIZE,
    TOPIC,
    UNKNOWN_STATION,
    UNKNOWN_VARIABLE,
    WRONG_UNIT,
    BAD_TIME,
    FUTURE_TIME,
    TOO_OLD,
    OUT_OF_RANGE,
    EMPTY_SAMPLE,
    VALIDATION_FAILED,
    DUPLICATE_KEY,
    PROCESSING_FAILED,
)
# RFC 3339 date-time: full date, 'T', hh:mm:ss, optional fraction, and 'Z' or a numeric offset.
# ``datetime.fromisoformat`` also takes ISO 8601 forms RFC 3339 does not (basic format, week and
# ordinal dates, hours without minutes), so the shape is checked first.
_RFC3339 = re.compile(
    r"\d{4}-\d{2}-\d{2}[Tt]\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:[Zz]|[+-]\d{2}:\d{2})", re.ASCII
)


def readings_topic(network: str, station: str) -> str:
    return f"{TOPIC_PREFIX}/{network}/{station}/{READINGS_SUFFIX}"


def readings_subscription(network: str, share_group: str | None = None) -> str:
    """Topic filter for one network's ingest; a shared subscription splits the load between replicas."""
    topic_filter = f"{TOPIC_PREFIX}/{network}/+/{READINGS_SUFFIX}"
    return f"$share/{share_group}/{topic_filter}" if share_group else topic_filter


class _PayloadSample(msgspec.Struct, forbid_unknown_fields=True):
    time: str
    values: dict[str, Any]


class _Payload(msgspec.Struct, forbid_unknown_fields=True):
    station: str
    time: str | None = None
    values: dict[str, Any] | None = None
    units: dict[str, str] = {}
    backlog: list[_PayloadSample] = []


_decoder = msgspec.json.Decoder(_Payload)
_KEY = re.compile(rb'"\s*:')  # every JSON key ends so (a string value may too: an over-count only)


def _key_count(value: Any) -> int:
    if isinstance(value, dict):
        return len(value) + sum(_key_count(v) for v in value.values())
    if isinstance(value, list):
        return sum(_key_count(v) for v in value)
    return 0


def _pairs_unique(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        duplicated = sorted({key for key in keys if keys.count(key) > 1})
        raise _DuplicateKey(f"duplicate JSON key(s) {duplicated!r}")
    return dict(pairs)


class _DuplicateKey(ValueError):
    pass


def duplicate_keys(payload: bytes) -> str | None:
    """The duplicated keys of a well-formed JSON payload, or None.

    Cheap on the common path: the decoded keys are counted and compared with the key-like tokens
    of the text; only when the text has more (a duplicate, or a string holding ``":``) is it parsed
    again keeping every pair.
    """
    if len(_KEY.findall(payload)) <= _key_count(msgspec.json.decode(payload)):
        return None
    try:
        json.loads(payload, object_pairs_hook=_pairs_unique)
    except _DuplicateKey as exc:
        return str(exc)
    return None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str
    detail: str


@dataclass(slots=True)
class Verdict:
    """What validation made of one message: the accepted readings and every refusal."""

    station: str | None = None
    accepted: StationReadings | None = None
    refusals: list[Refusal] = field(default_factory=list)

    def refuse(self, reason: str, detail: str) -> Verdict:
        self.refusals.append(Refusal(reason, detail))
        return self


def parse_time_us(text: str) -> int:
    """RFC 3339 → integer µs since the epoch, UTC. A time without an offset is ambiguous: refused."""
    if _RFC3339.fullmatch(text) is None:
        if _RFC3339.fullmatch(text + "Z") is not None:
            raise ValueError(f"time {text!r} has no UTC offset")
        raise ValueError(f"time {text!r} is not RFC 3339 (YYYY-MM-DDThh:mm:ss[.f](Z|±hh:mm))")
    moment = datetime.fromisoformat(text.upper())
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"time {text!r} has no UTC offset")
    delta = moment - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


class Validator:
    """Validates v1 messages against the registry and the variable vocabulary."""

    def __init__(
        self,
        registry: Registry,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
        max_future_s: float = MAX_FUTURE_S,
    ) -> None:
        self.registry = registry
        self.max_payload_bytes = max_payload_bytes
        self.max_future_us = int(max_future_s * 1_000_000)
        # Per station: measured variable → physical range, looked up once per value on the hot path.
        self._ranges = {
            station.id: {
                v: (registry.variables[v].physical_min, registry.variables[v].physical_max)
                for v in station.variables
            }
            for station in registry.stations.values()
        }
        self._topics = {
            station.id: readings_topic(station.network, station.id) for station in registry.stations.values()
        }

    def validate(self, topic: str, payload: bytes, received_us: int) -> Verdict:
        """Never raises: anything that goes wrong while judging one message refuses that message."""
        try:
            return self._validate(topic, payload, received_us)
        except Exception as exc:
            verdict = Verdict()
            verdict.refuse(VALIDATION_FAILED, f"{type(exc).__name__}: {exc}"[:500])
            return verdict

    def _validate(self, topic: str, payload: bytes, received_us: int) -> Verdict:
        verdict = Verdict()
        if len(payload) > self.max_payload_bytes:
            return verdict.refuse(OVERSIZE, f"{len(payload)} bytes > limit {self.max_payload_bytes}")
        try:
            message = _decoder.decode(payload)
        except msgspec.ValidationError as exc:
            return verdict.refuse(SCHEMA, str(exc))
        except msgspec.DecodeError as exc:
            return verdict.refuse(MALFORMED_JSON, str(exc))
        duplicated = duplicate_keys(payload)
        if duplicated is not None:
            verdict.station = message.station
            return verdict.refuse(DUPLICATE_KEY, duplicated)
        verdict.station = message.station
        station = self.registry.get(message.station)
        if station is None:
            return verdict.refuse(UNKNOWN_STATION, f"station {message.station!r} is not in the registry")
        expected_topic = self._topics[station.id]
        if topic != expected_topic:
            return verdict.refuse(TOPIC, f"published on {topic!r}, expected {expected_topic!r}")
        for var_id, unit in message.units.items():
            variable = self.registry.variables.get(var_id)
            if variable is not None and unit != variable.unit:
                return verdict.refuse(
                    WRONG_UNIT, f"{var_id} in {unit!r}; the contract unit is {variable.unit!r}"
                )

        raw_samples = list(message.backlog)
        if message.time is not None or message.values is not None:
            if message.time is None or message.values is None:
                return verdict.refuse(SCHEMA, "'time' and 'values' must come together")
            raw_samples.append(_PayloadSample(message.time, message.values))
        if not raw_samples:
            return verdict.refuse(SCHEMA, "the message carries no sample")

        samples: list[Sample] = []
        for raw in raw_samples:
            sample = self._sample(raw, self._ranges[station.id], received_us, verdict)
            if sample is not None:
                samples.append(sample)
        if samples:
            verdict.accepted = StationReadings(station.id, received_us, samples)
        return verdict

    def _sample(
        self, raw: _PayloadSample, ranges: dict[str, tuple[float, float]], received_us: int, verdict: Verdict
    ) -> Sample | None:
        try:
            time_us = parse_time_us(raw.time)
        except ValueError as exc:
            verdict.refuse(BAD_TIME, str(exc))
            return None
        if time_us > received_us + self.max_future_us:
            ahead = (time_us - received_us) / 1e6
            verdict.refuse(FUTURE_TIME, f"sample time {raw.time} is {ahead:.0f} s ahead of the receive time")
            return None
        if time_us < EARLIEST_TIME_US:
            verdict.refuse(TOO_OLD, f"sample time {raw.time} is before 1990-01-01")
            return None
        if not raw.values:
            verdict.refuse(EMPTY_SAMPLE, f"sample at {raw.time} has no values")
            return None
        values: dict[str, float | None] = {}
        for var_id, value in raw.values.items():
            bounds = ranges.get(var_id)
            if bounds is not None and type(value) is float and bounds[0] <= value <= bounds[1]:
                values[var_id] = value  # the common case, checked first
            elif bounds is None:
                where = (
                    "in the vocabulary"
                    if var_id not in self.registry.variables
                    else "measured at this station"
                )
                verdict.refuse(UNKNOWN_VARIABLE, f"{var_id!r} is not {where} ({raw.time})")
            elif value is None:
                values[var_id] = None
            elif isinstance(value, bool) or not isinstance(value, int | float):
                verdict.refuse(SCHEMA, f"{var_id!r} at {raw.time}: expected a number or null, got {value!r}")
            elif bounds[0] <= value <= bounds[1]:
                values[var_id] = float(value)
            else:
                verdict.refuse(
                    OUT_OF_RANGE,
                    f"{var_id}={value} at {raw.time} outside physical range [{bounds[0]}, {bounds[1]}]",
                )
        return Sample(time_us, values) if values else None
