"""Ingest batching: readings grouped per partition, refusals as dead letters, MQTT ids kept in order."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from schemas.contract import Validator, readings_topic
from schemas.records import (
    DEAD_LETTER_TOPIC,
    READINGS_TOPIC,
    decode_batch,
    decode_dead_letter,
    partition_for,
    storable_text,
)
from schemas.registry import load_registry
from services.ingest.batcher import Batcher

REGISTRY = load_registry()
VALIDATOR = Validator(REGISTRY)
NOW_US = 1_795_000_000 * 1_000_000


def _add(batcher: Batcher, mid: int, station: str, payload: bytes) -> None:
    topic = readings_topic("liaoning", station)
    batcher.add(mid, topic, payload, NOW_US, VALIDATOR.validate(topic, payload, NOW_US))


def _reading(station: str, minute: int, value: float) -> bytes:
    return json.dumps(
        {"station": station, "time": f"2026-11-18T01:{minute:02d}:00Z", "values": {"water_level_m": value}}
    ).encode()


def test_batch_groups_stations_by_partition_and_keeps_ack_order() -> None:
    batcher = Batcher(partitions=4, max_messages=10)
    stations = ["dalian", "yingkou", "dandong", "huludao", "lushun", "bayuquan"]
    for mid, station in enumerate(stations, start=1):
        _add(batcher, mid, station, _reading(station, mid, 1.0 + mid))
    _add(batcher, 99, "dalian", b"garbage")
    flush = batcher.take()

    assert flush.mids == [1, 2, 3, 4, 5, 6, 99]
    assert flush.readings == dict.fromkeys(stations, 1)
    assert flush.refusals == {("malformed_json", None): 1}
    readings = [r for r in flush.records if r.topic == READINGS_TOPIC]
    assert len(readings) == len({partition_for(s, 4) for s in stations})
    for record in readings:
        for item in decode_batch(record.value).items:
            assert partition_for(item.station, 4) == record.partition
    (letter_record,) = [r for r in flush.records if r.topic == DEAD_LETTER_TOPIC]
    letter = decode_dead_letter(letter_record.value)
    assert letter.payload == b"garbage" and letter.reason == "malformed_json"
    assert len(batcher) == 0 and batcher.take().records == []


def test_batcher_reports_full_at_its_limit() -> None:
    batcher = Batcher(partitions=2, max_messages=3)
    for mid in range(3):
        assert not batcher.full()
        _add(batcher, mid, "dalian", _reading("dalian", mid, 1.0))
    assert batcher.full()


def test_partition_mapping_is_the_same_in_every_process() -> None:
    # Not Python's salted hash(): a process with another hash seed must map stations identically.
    stations = sorted(REGISTRY.stations)
    code = f"from schemas.records import partition_for; print([partition_for(s, 8) for s in {stations!r}])"
    other = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONHASHSEED": "12345"},
    )
    assert other.stdout.strip() == str([partition_for(s, 8) for s in stations])
    assert len({partition_for(s, 8) for s in stations}) > 1


def test_a_message_with_many_refused_samples_is_one_dead_letter_listing_every_reason() -> None:
    samples = [
        {"time": f"2026-11-18T01:{m % 60:02d}:{m // 60:02d}Z", "values": {"water_level_m": 99.0}}
        for m in range(2000)
    ]
    samples.append({"time": "2026-11-18T02:00:00Z", "values": {"no_such_variable": 1.0}})
    payload = json.dumps({"station": "dalian", "backlog": samples}).encode()
    batcher = Batcher(partitions=4)
    _add(batcher, 1, "dalian", payload)
    flush = batcher.take()
    letters = [decode_dead_letter(r.value) for r in flush.records if r.topic == DEAD_LETTER_TOPIC]
    assert len(letters) == 1
    (letter,) = letters
    assert letter.payload == payload
    assert letter.reason == "out_of_physical_range"  # the most frequent reason leads
    assert "out_of_physical_range x2000" in letter.detail and "unknown_variable x1" in letter.detail
    assert len(letter.detail) <= 4096
    # Counted per refusal, as before (the metric counts refused values, not letters).
    assert flush.refusals == {("out_of_physical_range", "dalian"): 2000, ("unknown_variable", "dalian"): 1}


def test_dead_letter_text_fields_carry_no_nul_or_lone_surrogate() -> None:
    payload = b'{"station": "bu\\u0000oy", "time": "2026-11-18T01:50:00Z", "values": {"a": 1}}'
    batcher = Batcher(partitions=4)
    batcher.add(
        1,
        "tidewatch/v1/liaoning/bu\x00oy/readings",
        payload,
        NOW_US,
        VALIDATOR.validate("t", payload, NOW_US),
    )
    (record,) = batcher.take().records
    letter = decode_dead_letter(record.value)
    assert letter.payload == payload  # the bytes are untouched
    for text in (letter.station, letter.source, letter.detail, letter.reason):
        assert "\x00" not in text
        text.encode("utf-8")  # storable as PostgreSQL text
    assert letter.station == "bu\\x00oy"  # escaped visibly
    assert storable_text("a\ud800b") == "a\\ud800b"
