"""The v1 message contract: every refusal has a reason, and the valid part of a message survives."""

from __future__ import annotations

import json

import pytest

from schemas import contract
from schemas.contract import Validator, parse_time_us, readings_subscription, readings_topic
from schemas.registry import load_registry

NOW_US = 1_795_000_000 * 1_000_000
REGISTRY = load_registry()
TOPIC = readings_topic("liaoning", "liaodong-bay-buoy")


def _validate(payload: object, topic: str = TOPIC, received_us: int = NOW_US) -> contract.Verdict:
    raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return Validator(REGISTRY).validate(topic, raw, received_us)


def _reasons(verdict: contract.Verdict) -> list[str]:
    return [r.reason for r in verdict.refusals]


def test_clean_message_with_backlog_is_accepted_in_utc_microseconds() -> None:
    verdict = _validate(
        {
            "station": "liaodong-bay-buoy",
            "time": "2026-11-18T10:00:00+08:00",
            "values": {"water_temperature_degC": 9.5, "dissolved_oxygen_mg_l": None},
            "units": {"water_temperature_degC": "degC"},
            "backlog": [{"time": "2026-11-18T01:50:00Z", "values": {"wave_height_m": 1.2}}],
        }
    )
    assert verdict.refusals == []
    samples = verdict.accepted.samples
    assert [s.time_us for s in samples] == [
        parse_time_us("2026-11-18T01:50:00Z"),
        parse_time_us("2026-11-18T02:00:00Z"),
    ]
    assert samples[1].values == {"water_temperature_degC": 9.5, "dissolved_oxygen_mg_l": None}
    assert verdict.accepted.count() == 3


def test_parse_time_is_exact_to_the_microsecond() -> None:
    assert parse_time_us("1970-01-01T00:00:00.000001Z") == 1
    assert parse_time_us("2026-11-24T08:00:00.123456+08:00") == parse_time_us("2026-11-24T00:00:00.123456Z")
    with pytest.raises(ValueError, match="no UTC offset"):
        parse_time_us("2026-11-24T08:00:00")


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"{not json", contract.MALFORMED_JSON),
        (
            b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {}, "extra": 1}',
            contract.SCHEMA,
        ),
        (
            {"station": "atlantis", "time": "2026-11-18T01:50:00Z", "values": {"wave_height_m": 1}},
            contract.UNKNOWN_STATION,
        ),
        (
            {"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00", "values": {"wave_height_m": 1}},
            contract.BAD_TIME,
        ),
        (
            {"station": "liaodong-bay-buoy", "time": "2027-01-01T00:00:00Z", "values": {"wave_height_m": 1}},
            contract.FUTURE_TIME,
        ),
        (
            {"station": "liaodong-bay-buoy", "time": "1989-12-31T00:00:00Z", "values": {"wave_height_m": 1}},
            contract.TOO_OLD,
        ),
        (
            {
                "station": "liaodong-bay-buoy",
                "time": "2026-11-18T01:50:00Z",
                "values": {"wave_height_m": 1},
                "units": {"wave_height_m": "ft"},
            },
            contract.WRONG_UNIT,
        ),
        ({"station": "liaodong-bay-buoy"}, contract.SCHEMA),
    ],
)
def test_whole_message_refusals_name_their_reason(payload: object, reason: str) -> None:
    verdict = _validate(payload)
    assert verdict.accepted is None
    assert _reasons(verdict) == [reason]
    assert verdict.refusals[0].detail


def test_oversize_payload_is_refused_before_parsing() -> None:
    verdict = Validator(REGISTRY, max_payload_bytes=100).validate(TOPIC, b"x" * 101, NOW_US)
    assert _reasons(verdict) == [contract.OVERSIZE]


def test_topic_must_match_the_payload_station() -> None:
    payload = {"station": "dalian", "time": "2026-11-18T01:50:00Z", "values": {"water_level_m": 1.0}}
    assert _reasons(_validate(payload, topic=TOPIC)) == [contract.TOPIC]


def test_bad_values_are_refused_one_by_one_and_the_rest_kept() -> None:
    verdict = _validate(
        {
            "station": "liaodong-bay-buoy",
            "time": "2026-11-18T01:50:00Z",
            "values": {
                "water_temperature_degC": 99.0,  # outside the physical range
                "salinity_psu": "high",  # wrong type
                "water_level_m": 1.0,  # a real variable, but not measured by this buoy
                "sea_snakes": 3,  # not in the vocabulary
                "wave_height_m": 2.0,
            },
        }
    )
    assert sorted(_reasons(verdict)) == sorted(
        [
            contract.OUT_OF_RANGE,
            contract.SCHEMA,
            contract.UNKNOWN_VARIABLE,
            contract.UNKNOWN_VARIABLE,
        ]
    )
    assert verdict.accepted.samples[0].values == {"wave_height_m": 2.0}


def test_subscription_is_per_network_and_shareable() -> None:
    assert readings_subscription("liaoning") == "tidewatch/v1/liaoning/+/readings"
    assert readings_subscription("liaoning", "ingest") == "$share/ingest/tidewatch/v1/liaoning/+/readings"


@pytest.mark.parametrize("number", [b"NaN", b"Infinity", b"-Infinity", b"1e999"])
def test_non_finite_numbers_never_pass(number: bytes) -> None:
    # NaN and infinities are not JSON; an overflowing literal is refused by the decoder too.
    raw = (
        b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {"ph_total": '
        + number
        + b"}}"
    )
    verdict = _validate(raw)
    assert verdict.accepted is None
    assert _reasons(verdict)[0] in {contract.MALFORMED_JSON, contract.SCHEMA}


# -- hostile inputs (issue 19) ------------------------------------------------------------------


def test_a_value_nested_a_thousand_deep_is_refused_not_raised() -> None:
    deep = b"[" * 1000 + b"]" * 1000
    payload = (
        b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {"x": ' + deep + b"}}"
    )
    verdict = _validate(payload)
    assert verdict.accepted is None
    assert _reasons(verdict) == [contract.VALIDATION_FAILED]
    assert "RecursionError" in verdict.refusals[0].detail


@pytest.mark.parametrize(
    "text",
    ["20250101T000000Z", "2025-W01-3T00:00:00Z", "2025-01-01T00Z", "2025-001T00:00:00Z", "2025-01-01 00:00Z"],
)
def test_times_that_are_not_rfc_3339_are_refused(text: str) -> None:
    verdict = _validate({"station": "liaodong-bay-buoy", "time": text, "values": {"wave_height_m": 1.0}})
    assert verdict.accepted is None
    assert _reasons(verdict) == [contract.BAD_TIME]


@pytest.mark.parametrize(
    "payload",
    [
        {"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {}},
        {
            "station": "liaodong-bay-buoy",
            "time": "2026-11-18T01:50:00Z",
            "values": {"wave_height_m": 1.0},
            "backlog": [{"time": "2026-11-18T01:40:00Z", "values": {}}],
        },
    ],
)
def test_an_empty_sample_is_refused_with_a_reason(payload: dict) -> None:
    verdict = _validate(payload)
    assert contract.EMPTY_SAMPLE in _reasons(verdict)


def test_nul_bytes_never_reach_the_refusal_text() -> None:
    verdict = _validate(
        b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {"wave\\u0000_m": "x"}}'
    )
    assert _reasons(verdict) == [contract.UNKNOWN_VARIABLE]
    verdict = _validate(b'{"station": "bu\\u0000oy", "time": "2026-11-18T01:50:00Z", "values": {"a": 1}}')
    assert _reasons(verdict) == [contract.UNKNOWN_STATION]
    for refusal in verdict.refusals:
        assert "\x00" not in refusal.detail


@pytest.mark.parametrize(
    "payload",
    [
        b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", '
        b'"values": {"wave_height_m": 1.0, "wave_height_m": 9.0}}',
        b'{"station": "liaodong-bay-buoy", "station": "dalian", "time": "2026-11-18T01:50:00Z", '
        b'"values": {"wave_height_m": 1.0}}',
        b'{"station": "liaodong-bay-buoy", "backlog": [{"time": "2026-11-18T01:50:00Z", '
        b'"time" : "2026-11-18T01:51:00Z", "values": {"wave_height_m": 1.0}}]}',
    ],
)
def test_a_duplicate_json_key_refuses_the_message(payload: bytes) -> None:
    verdict = _validate(payload)
    assert verdict.accepted is None
    assert _reasons(verdict) == [contract.DUPLICATE_KEY]


def test_a_colon_inside_a_string_is_not_a_duplicate_key() -> None:
    verdict = _validate(
        b'{"station": "liaodong-bay-buoy", "time": "2026-11-18T01:50:00Z", "values": {"wave_height_m": 1.0}, '
        b'"units": {"wave_height_m": "m\\":"}}'
    )
    assert contract.DUPLICATE_KEY not in _reasons(verdict)
