"""Recurring silences (quiet hours, maintenance windows) of one station: when each occurrence runs.

A schedule is not applied by the engine itself: each occurrence becomes an ordinary silence, put on
the alert-inputs log as an operator action when it begins (services/console/schedules.py), with an id
made of the schedule and the occurrence's start. So the engine sees plain silences in log order, a
replay gives the same events, and submitting one occurrence twice (two API processes) changes nothing.
Times of day are in the schedule's time zone (IANA name; stations' quiet hours are local), so a
zone with daylight saving keeps its local hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from alerts.silences import Silence

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
MAX_DURATION_MIN = 7 * 24 * 60


@dataclass(frozen=True, slots=True)
class SilenceSchedule:
    id: str
    station: str
    start_minute: int  # minutes after local midnight
    duration_min: int
    weekdays: frozenset[int]  # 0 = Monday … 6 = Sunday (the day the occurrence starts)
    timezone: str
    actor: str
    rule: str | None = None
    comment: str = ""

    def __post_init__(self) -> None:
        if not 0 <= self.start_minute < 24 * 60:
            raise ValueError("start: a time of day, 00:00 … 23:59")
        if not 1 <= self.duration_min <= MAX_DURATION_MIN:
            raise ValueError(f"duration: 1 … {MAX_DURATION_MIN} minutes")
        if not self.weekdays or not self.weekdays <= set(range(7)):
            raise ValueError(f"weekdays: one or more of {', '.join(WEEKDAYS)}")
        zone(self.timezone)

    def occurrences(self, from_us: int, until_us: int) -> list[tuple[int, int]]:
        """(start, end) in µs of every occurrence overlapping [from_us, until_us), in order."""
        tz = zone(self.timezone)
        # From the earliest day an occurrence still running at from_us could have started.
        day = _local_date(from_us, tz) - timedelta(days=self.duration_min // 1440 + 1)
        found: list[tuple[int, int]] = []
        while True:
            start_us = _us(datetime.combine(day, time(*divmod(self.start_minute, 60)), tz))
            if start_us >= until_us:
                return found
            end_us = start_us + self.duration_min * 60_000_000
            if day.weekday() in self.weekdays and end_us > from_us:
                found.append((start_us, end_us))
            day += timedelta(days=1)

    def current(self, now_us: int) -> tuple[int, int] | None:
        """The occurrence running at `now_us`, if any (the latest started, when two overlap)."""
        running = self.occurrences(now_us, now_us + 1)
        return running[-1] if running else None

    def silence(self, start_us: int, end_us: int) -> Silence:
        """The occurrence as a silence: ``{schedule id}@{start µs}``."""
        return Silence(
            id=f"{self.id}@{start_us}",
            created_us=start_us,
            ends_us=end_us,
            actor=self.actor,
            station=self.station,
            rule=self.rule,
            comment=self.comment or f"recurring silence {self.id}",
        )


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(
            f"timezone: unknown zone {name!r} (an IANA name such as Asia/Shanghai or UTC)"
        ) from exc


def parse_time_of_day(text: str) -> int:
    """'22:30' → 1350 minutes after midnight."""
    try:
        hours, minutes = (int(part) for part in text.split(":"))
    except ValueError as exc:
        raise ValueError(f"start: expected HH:MM, got {text!r}") from exc
    if not (0 <= hours < 24 and 0 <= minutes < 60):
        raise ValueError(f"start: expected HH:MM, got {text!r}")
    return hours * 60 + minutes


def _local_date(time_us: int, tz: ZoneInfo) -> date:
    return datetime.fromtimestamp(time_us / 1e6, tz=UTC).astimezone(tz).date()


def _us(moment: datetime) -> int:
    delta = moment.astimezone(UTC) - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
