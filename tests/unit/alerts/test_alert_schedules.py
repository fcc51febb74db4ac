"""Recurring silences (alerts/schedules.py): occurrences in the schedule's own time zone, each one an
ordinary silence with an id of its own, so the engine applies it like any other."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerts.schedules import SilenceSchedule, parse_time_of_day


def us(text: str) -> int:
    return int(datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp() * 1_000_000)


def quiet(**changes) -> SilenceSchedule:
    fields = dict(
        id="sched-1",
        station="dalian",
        start_minute=parse_time_of_day("22:00"),
        duration_min=8 * 60,
        weekdays=frozenset(range(7)),
        timezone="Asia/Shanghai",
        actor="wang",
    )
    return SilenceSchedule(**(fields | changes))


def test_nightly_quiet_hours_in_china_time():
    # 22:00–06:00 in Beijing time is 14:00–22:00 UTC.
    assert quiet().occurrences(us("2026-12-01 00:00"), us("2026-12-03 00:00")) == [
        (us("2026-12-01 14:00"), us("2026-12-01 22:00")),
        (us("2026-12-02 14:00"), us("2026-12-02 22:00")),
    ]
    # The night that began on 30 November (Beijing) is still running at 21:00 UTC on 30 November.
    assert quiet().current(us("2026-11-30 21:00")) == (us("2026-11-30 14:00"), us("2026-11-30 22:00"))


def test_only_the_days_given_and_the_one_running_now():
    maintenance = quiet(
        start_minute=parse_time_of_day("02:00"), duration_min=120, weekdays=frozenset({1}), timezone="UTC"
    )  # Tuesdays 02:00–04:00 UTC
    week = maintenance.occurrences(us("2026-11-30 00:00"), us("2026-12-14 00:00"))
    assert week == [
        (us("2026-12-01 02:00"), us("2026-12-01 04:00")),
        (us("2026-12-08 02:00"), us("2026-12-08 04:00")),
    ]
    assert maintenance.current(us("2026-12-01 03:59")) == week[0]
    assert maintenance.current(us("2026-12-01 04:00")) is None
    silence = maintenance.silence(*week[0])
    assert (silence.id, silence.station, silence.created_us, silence.ends_us) == (
        f"sched-1@{week[0][0]}",
        "dalian",
        week[0][0],
        week[0][1],
    )


def test_a_zone_with_daylight_saving_keeps_its_local_hours():
    berlin = quiet(start_minute=parse_time_of_day("01:00"), duration_min=60, timezone="Europe/Berlin")
    (summer,) = berlin.occurrences(us("2026-06-30 12:00"), us("2026-07-01 12:00"))
    (winter,) = berlin.occurrences(us("2026-11-30 12:00"), us("2026-12-01 12:00"))
    assert summer[0] == us("2026-06-30 23:00") and winter[0] == us("2026-12-01 00:00")


@pytest.mark.parametrize(
    ("changes", "complaint"),
    [
        ({"timezone": "Mars/Olympus"}, "unknown zone"),
        ({"duration_min": 0}, "duration"),
        ({"weekdays": frozenset()}, "weekdays"),
        ({"weekdays": frozenset({7})}, "weekdays"),
    ],
)
def test_a_bad_schedule_is_refused_naming_the_field(changes, complaint):
    with pytest.raises(ValueError, match=complaint):
        quiet(**changes)


@pytest.mark.parametrize("text", ["24:00", "7", "ab:cd", "12:60"])
def test_a_bad_time_of_day_is_refused(text):
    with pytest.raises(ValueError, match="HH:MM"):
        parse_time_of_day(text)
