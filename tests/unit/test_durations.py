"""The one duration grammar of rule files and API parameters (schemas/durations.py): what only the rule
files read (a bare ``m``, numbers of seconds) and how a refusal says why."""

from __future__ import annotations

import pytest

from schemas.durations import NEGATIVE, NO_FIXED_LENGTH, UNREADABLE, DurationError, parse_duration_us

S = 1_000_000


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30m", 1800), (" 1.5 m ", 90), ("10min", 600), ("6h", 21_600), ("PT30M", 1800), (90, 90), (0.5, 0.5)],
)
def test_rule_files_read_a_bare_m_as_minutes_and_numbers_as_seconds(value: object, seconds: float) -> None:
    assert parse_duration_us(value, m_is_minutes=True) == seconds * S


@pytest.mark.parametrize("text", ["30m", "1 m"])
def test_without_m_is_minutes_a_bare_m_is_unreadable(text: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration_us(text)
    assert refused.value.reason == UNREADABLE


@pytest.mark.parametrize("text", ["30M", "30ms", "m", "30 mm"])
def test_a_bare_m_is_minutes_only_as_written(text: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration_us(text, m_is_minutes=True)
    assert refused.value.reason == UNREADABLE


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (-1, NEGATIVE),
        (-0.5, NEGATIVE),
        (True, UNREADABLE),
        (None, UNREADABLE),
        ([30], UNREADABLE),
        ("-1h", UNREADABLE),
        ("1mo", NO_FIXED_LENGTH),
        ("P1Y", NO_FIXED_LENGTH),
        ("2 years", NO_FIXED_LENGTH),
    ],
)
def test_refusals_say_why(value: object, reason: str) -> None:
    with pytest.raises(DurationError) as refused:
        parse_duration_us(value, m_is_minutes=True)
    assert refused.value.reason == reason
