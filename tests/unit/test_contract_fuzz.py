"""Property test of the v1 contract (hypothesis): the validator never raises, nothing vanishes.

Every input, bytes or JSON shaped like a message, is either accepted or refused with a reason from
``REASONS``; a value that is not accepted leaves a refusal; what is accepted is exactly what was sent
and survives the Kafka record format. Bounded (examples and no deadline) so CI spends seconds here.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.contract import REASONS, Validator, parse_time_us, readings_topic
from schemas.records import ReadingBatch, decode_batch, encode
from schemas.registry import load_registry

REGISTRY = load_registry()
VALIDATOR = Validator(REGISTRY)
STATION = "liaodong-bay-buoy"
TOPIC = readings_topic("liaoning", STATION)
NOW_US = 1_795_000_000 * 1_000_000
FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

variables = st.sampled_from([*sorted(REGISTRY.variables), "", "x\x00y", "water_level_m ", "ünknown"])
numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(min_value=-5, max_value=40),
)
json_leaf = st.one_of(st.none(), st.booleans(), numbers, st.text(max_size=8))
json_value = st.recursive(
    json_leaf,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=10,
)
good_times = st.datetimes(
    min_value=datetime(1985, 1, 1), max_value=datetime(2027, 12, 31), timezones=st.just(UTC)
).map(lambda d: d.isoformat().replace("+00:00", "Z"))
times = st.one_of(
    good_times,
    st.sampled_from(["20250101T000000Z", "2025-W01-3T00:00:00Z", "2025-01-01T00Z", "2026-11-18T01:50:00"]),
    st.text(max_size=30),
)
samples = st.fixed_dictionaries(
    {
        "time": times,
        "values": st.dictionaries(variables, st.one_of(numbers, st.none(), json_value), max_size=4),
    }
)
messages = st.fixed_dictionaries(
    {"station": st.sampled_from([STATION, "dalian", "nowhere", "x\x00"])},
    optional={
        "time": times,
        "values": st.dictionaries(variables, st.one_of(numbers, st.none(), json_value), max_size=4),
        "units": st.dictionaries(variables, st.text(max_size=6), max_size=2),
        "backlog": st.lists(samples, max_size=4),
        "extra": json_value,
    },
)


def _check(payload: bytes) -> None:
    verdict = VALIDATOR.validate(TOPIC, payload, NOW_US)  # must not raise
    assert verdict.accepted is not None or verdict.refusals
    for refusal in verdict.refusals:
        assert refusal.reason in REASONS and isinstance(refusal.detail, str)
    if verdict.accepted is not None:
        assert decode_batch(encode(ReadingBatch([verdict.accepted]))).items == [verdict.accepted]


@FUZZ
@given(st.binary(max_size=300))
def test_any_bytes_are_accepted_or_refused_with_a_reason(payload: bytes) -> None:
    _check(payload)


@FUZZ
@given(messages)
def test_message_shaped_json_accepted_exactly_or_refused_with_a_reason(message: dict) -> None:
    payload = json.dumps(message).encode()
    _check(payload)
    verdict = VALIDATOR.validate(TOPIC, payload, NOW_US)
    sent: list[tuple[str, dict]] = [(s["time"], s["values"]) for s in message.get("backlog", [])]
    if "time" in message and "values" in message:
        sent.append((message["time"], message["values"]))
    sent_values = {
        (parse_time_us(t), var, value)
        for t, values in sent
        if _rfc3339(t)
        for var, value in values.items()
        if value is None or (isinstance(value, int | float) and not isinstance(value, bool))
    }
    accepted = [
        (s.time_us, var, value)
        for s in (verdict.accepted.samples if verdict.accepted else [])
        for var, value in s.values.items()
    ]
    for time_us, var, value in accepted:  # accepted values are the values sent, unchanged
        assert value is None or math.isfinite(value)
        assert any(
            t == time_us and v == var and (x == value or (x is None and value is None))
            for t, v, x in sent_values
        )
    n_sent = sum(len(values) for _, values in sent)
    if len(accepted) < n_sent or not sent:
        assert verdict.refusals  # whatever was not accepted left a reason


def _rfc3339(text: str) -> bool:
    try:
        parse_time_us(text)
    except ValueError:
        return False
    return True


@FUZZ
@given(st.integers(min_value=1, max_value=3000), st.sampled_from(["[", '{"a":']))
def test_deep_nesting_is_refused_not_raised(depth: int, opener: str) -> None:
    closer = "]" if opener == "[" else "}"
    nested = f"{opener * depth}1{closer * depth}"
    payload = f'{{"station": "{STATION}", "time": "2026-11-18T01:50:00Z", "values": {{"x": {nested}}}}}'
    _check(payload.encode())


def test_fuzz_inputs_reach_the_accepting_path() -> None:
    """Not vacuous: a clean message of the same shapes is accepted."""
    t = (datetime(2026, 11, 18, tzinfo=UTC) - timedelta(hours=1)).isoformat()
    payload = json.dumps({"station": STATION, "time": t, "values": {"wave_height_m": 1.0}}).encode()
    assert VALIDATOR.validate(TOPIC, payload, NOW_US).accepted is not None
