"""Time and observation helpers for the alert tests."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from alerts import AlertEngine, AlertEvent, Observation
from alerts.inputs import reading_observation
from schemas.registry import Registry
from streams.qc import QcEngine, Readings, load_qc_config

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
    *,
    revised: bool = False,
) -> Observation:
    """A reading observation; each of `tests` flagged it with the reading's own `flag`."""
    pairs = tuple((test, flag or 0) for test in tests)
    return Observation(station, "reading", name, at(minutes), value, flag, pairs, revised)


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


def qc_checked(registry: Registry, station: str, variable: str, values: Sequence[float]) -> list[Observation]:
    """Readings a minute apart from T0, flagged by the stream's QC engine with their whole series (the
    final flags), as reading observations."""
    engine = QcEngine(load_qc_config(registry))
    times = np.array([at(minute) for minute in range(len(values))], dtype=np.int64)
    results = engine.process(
        Readings([station] * len(values), [variable] * len(values), times, np.array(values))
    )
    return [reading_observation(r) for r in sorted(results, key=lambda r: r.time_us)]


def settled(engine: AlertEngine) -> dict:
    """What the alerts hold at the end, without their event counts and QC undo points."""
    out = {}
    for station, state in sorted(engine.stations.items()):
        for rule_id, alert in sorted(state.alerts.items()):
            fields = alert.fields()
            if fields is not None:
                out[station, rule_id] = {k: v for k, v in fields.items() if k != "seq"}
    return out
