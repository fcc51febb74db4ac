"""The benchmark load publisher's pre-encoded packets: well-formed MQTT, and payloads ingest accepts.

A benchmark whose messages were refused, or carried other times than the plan says, would measure
dead letters or wrong latencies: so the packets are parsed back and run through the real contract.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from benchmarks.load import Encoder, LoadPlan, connect_packet
from benchmarks.pipeline import BUOY_VALUES, bench_registry
from benchmarks.sustained import summarise_folded
from schemas.contract import Validator
from schemas.registry import load_registry


def _remaining_length(packet: bytes) -> tuple[int, int]:
    """(remaining length, bytes it took) of an MQTT fixed header."""
    value, shift, i = 0, 0, 1
    while True:
        byte = packet[i]
        value |= (byte & 0x7F) << shift
        i += 1
        if not byte & 0x80:
            return value, i
        shift += 7


def _parse_publish(packet: bytes) -> tuple[int, str, int, bytes]:
    length, start = _remaining_length(packet)
    assert len(packet) == start + length
    (topic_len,) = struct.unpack_from(">H", packet, start)
    topic = packet[start + 2 : start + 2 + topic_len].decode()
    (packet_id,) = struct.unpack_from(">H", packet, start + 2 + topic_len)
    return packet[0], topic, packet_id, packet[start + 4 + topic_len :]


def test_every_packet_is_a_qos1_publish_that_the_contract_accepts_at_its_planned_time(tmp_path: Path) -> None:
    registry = load_registry(bench_registry(tmp_path / "registry.yaml", "loadtest", 25))
    plan = LoadPlan("mqtt://gateway:pw@127.0.0.1:1", "loadtest", 25, 1234.5, 10, 1_790_000_000_123_456)
    encoder = Encoder(plan)
    validator = Validator(registry)
    for k in [0, 1, 24, 25, 999, 12_344]:
        head, topic, packet_id, payload = _parse_publish(encoder.packet(k, packet_id=k % 65535 + 1))
        assert head == 0x32 and packet_id == k % 65535 + 1
        verdict = validator.validate(topic, payload, plan.time_us(k) + 1000)
        assert verdict.refusals == []
        accepted = verdict.accepted
        assert accepted is not None and accepted.station == plan.station(k % 25)
        assert [s.time_us for s in accepted.samples] == [plan.time_us(k)]
        assert set(accepted.samples[0].values) == set(BUOY_VALUES)
    assert _parse_publish(encoder.packet(3, 7, dup=True))[0] == 0x3A


def test_vectorised_times_equal_the_packet_times() -> None:
    plan = LoadPlan("mqtt://127.0.0.1:1", "n", 1000, 2500.0, 3600, 1_790_000_000_000_000)
    k = np.arange(0, 9_000_000, 7_919)
    assert plan.times_us(k).tolist() == [plan.time_us(int(i)) for i in k]


def test_connect_packet_carries_the_account() -> None:
    packet = connect_packet("load-1", "gateway", "secret")
    length, start = _remaining_length(packet)
    assert packet[0] == 0x10 and len(packet) == start + length
    assert packet[start : start + 6] == b"\x00\x04MQTT" and packet[start + 6] == 4
    assert packet[start + 7] == 0x80 | 0x40 | 0x02  # username, password, clean session
    assert packet.endswith(b"\x00\x07gateway\x00\x06secret")


def test_folded_profile_summary_ranks_own_and_inclusive_time() -> None:
    text = "main;a;b 30\nmain;a;c 10\nmain;d 60\n"
    summary = summarise_folded(text)
    lines = summary.splitlines()
    assert lines[0] == "100 samples"
    assert "60.0%  d" in lines[2] and "30.0%  b" in lines[3]
    assert any(line.endswith("100.0%  main") for line in lines)
