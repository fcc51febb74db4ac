"""Time and observation helpers for the alert tests."""

from __future__ import annotations

from collections.abc import Iterable

from alerts import AlertEngine, AlertEvent, Observation

T0_US = 1_700_000_000_000_000  # 2023-11-14 22:13:20 UTC
MINUTE_US = 60_000_000
HOUR_US = 60 * MINUTE_US


def at(minutes: float) -> int:
    """Event time `minutes` after T0, in µs."""
    return T0_US + round(minutes * MINUTE_US)


def reading(
    station: str,
    name: str,
    minutes: float,
    value: float | None,
    flag: int | None = 1,
    tests: tuple[str, ...] = (),
) -> Observation:
    return Observation(station, "reading", name, at(minutes), value, flag, tests)


def indicator(station: str, name: str, minutes: float, value: float) -> Observation:
    return Observation(station, "indicator", name, at(minutes), value)


def kinds(events: Iterable[AlertEvent]) -> list[tuple[str, str | None, int]]:
    """(kind, severity, minutes after T0) of each event, the form hand-computed expectations take."""
    return [(e.kind, e.severity, round((e.time_us - T0_US) / MINUTE_US)) for e in events]


def feed(engine: AlertEngine, observations: Iterable[Observation]) -> list[AlertEvent]:
    """One observation per call, as a live stream delivers them."""
    events: list[AlertEvent] = []
    for observation in observations:
        events += engine.observe([observation])
    return events
