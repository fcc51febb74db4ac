"""A stored history judged again: what the current rules raise over a station's past inputs, and how
that differs from what was raised live.

The engine takes the inputs in data-time order (``Observation.sort_key``), each arriving at its own
data time, with a clock tick every ``tick_us`` of data time so that timers (a station gone silent, a
reminder) fire in gaps as they would live. Operator actions are not replayed: an acknowledgement or a
silence belongs to an alert as it was raised then, and a reprocessed alert is history, never notified.
So the comparison looks at the events the rules make (``JUDGED_KINDS``), not at those operators or
reminders made. Pure: the caller reads the inputs and stores the outcome.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from alerts.engine import AlertEngine
from alerts.events import AlertEvent
from alerts.inputs import Observation
from alerts.severity import name, rank

# Events the rules make; acknowledgements, silences and reminders come from people and clocks of the time.
JUDGED_KINDS = frozenset(
    {"pending", "firing", "escalated", "deescalated", "resolved", "retracted", "reopened", "corrected"}
)
FIRING_KINDS = frozenset({"firing", "escalated", "reopened"})
TICK_US = 5 * 60 * 1_000_000
UNCHANGED, CHANGED, NEW, GONE = "unchanged", "changed", "new", "gone"

Step = tuple[str, str | None, int]  # (kind, severity, time µs) of one judged event


def judge_history(
    engine: AlertEngine,
    station: str,
    observations: Iterable[Observation],
    until_us: int | None = None,
    tick_us: int = TICK_US,
) -> list[AlertEvent]:
    """Every event the engine makes for ``observations`` of one station taken in data-time order, with
    a tick every ``tick_us`` of data time from the first observation to ``until_us`` (default: the
    last observation), so a station that falls silent inside the range is declared so."""
    events: list[AlertEvent] = []
    next_tick: int | None = None

    def ticks_until(t: int) -> None:
        nonlocal next_tick, events
        while next_tick is not None and next_tick <= t:
            events += engine.tick(next_tick + engine.tick_grace_us, [station])
            next_tick += tick_us

    for observation in sorted(observations, key=Observation.sort_key):
        ticks_until(observation.time_us)
        events += engine.observe([observation])
        if next_tick is None:
            next_tick = observation.time_us - observation.time_us % tick_us + tick_us
    if until_us is not None:
        ticks_until(until_us)
    return events


@dataclass(frozen=True, slots=True)
class AlertOutcome:
    """One alert of the range, as raised live (``old``: its judged events in the range, ``old_peak``)
    and as the current rules raise it (``new``, ``new_peak``).

    ``alert_id`` is the new alert's (the old one's when it is gone); ``old_alert_id`` the live alert it
    stands for, which has another id when the rules now see it start at another reading."""

    alert_id: str
    old_alert_id: str | None
    station: str
    rule: str
    outcome: str  # unchanged, changed, new (only now) or gone (only then)
    old: tuple[Step, ...]
    new: tuple[Step, ...]
    old_peak: str | None = None  # the highest severity it fired at, in or before the range
    new_peak: str | None = None


@dataclass(frozen=True, slots=True)
class _Alert:
    alert_id: str
    station: str
    rule: str
    first_us: int
    last_us: int
    peak: str | None
    steps: tuple[Step, ...]  # those in the range

    def overlaps(self, other: _Alert) -> bool:
        return self.first_us <= other.last_us and other.first_us <= self.last_us


def _alerts(events: Iterable[AlertEvent], from_us: int, to_us: int) -> dict[tuple[str, str], list[_Alert]]:
    """Each alert's judged events up to ``to_us``, grouped by (station, rule), in time order."""
    by_id: dict[str, list[AlertEvent]] = {}
    for e in sorted(events, key=lambda e: (e.alert_id, e.seq)):
        if e.kind in JUDGED_KINDS and e.time_us < to_us:
            by_id.setdefault(e.alert_id, []).append(e)
    out: dict[tuple[str, str], list[_Alert]] = {}
    for alert_id, found in by_id.items():
        fired = [rank(e.severity) for e in found if e.kind in FIRING_KINDS and e.severity]
        steps = tuple((e.kind, e.severity, e.time_us) for e in found if e.time_us >= from_us)
        alert = _Alert(
            alert_id, found[0].station, found[0].rule, found[0].time_us, found[-1].time_us,
            name(max(fired)) if fired else None, steps,
        )  # fmt: skip
        out.setdefault((alert.station, alert.rule), []).append(alert)
    for alerts in out.values():
        alerts.sort(key=lambda a: (a.first_us, a.alert_id))
    return out


def compare(
    old: Iterable[AlertEvent], new: Iterable[AlertEvent], from_us: int, to_us: int
) -> list[AlertOutcome]:
    """Per alert with a judged event in [from, to) then or now: its events in the range then and now,
    and the outcome. Give the events from before ``from_us`` too (as far as the judging went back), so
    an alert raised before the range and changed inside it is known for the same alert.

    An alert now stands for one then of the same station and rule with the same id, else for the
    earliest one whose events span overlapping times; the rest are new or gone."""
    before, after = _alerts(old, from_us, to_us), _alerts(new, from_us, to_us)
    outcomes: list[AlertOutcome] = []
    for key in sorted(before.keys() | after.keys()):
        was, now = list(before.get(key, [])), after.get(key, [])
        pairs: dict[str, _Alert] = {}  # new alert id -> the old alert it stands for
        for alert in now:  # the same id first, so no later overlap takes that alert away
            same = next((a for a in was if a.alert_id == alert.alert_id), None)
            if same is not None:
                was.remove(same)
                pairs[alert.alert_id] = same
        for alert in now:
            if alert.alert_id not in pairs:
                overlapping = next((a for a in was if a.overlaps(alert)), None)
                if overlapping is not None:
                    was.remove(overlapping)
                    pairs[alert.alert_id] = overlapping
        for alert in now:
            match = pairs.get(alert.alert_id)
            if not alert.steps and (match is None or not match.steps):
                continue  # nothing of it in the range, then or now
            if match is None:
                outcomes.append(
                    AlertOutcome(alert.alert_id, None, *key, NEW, (), alert.steps, None, alert.peak)
                )
                continue
            kind = UNCHANGED if (match.steps, match.peak) == (alert.steps, alert.peak) else CHANGED
            outcomes.append(
                AlertOutcome(
                    alert.alert_id,
                    match.alert_id,
                    *key,
                    kind,
                    match.steps,
                    alert.steps,
                    match.peak,
                    alert.peak,
                )
            )
        outcomes += [
            AlertOutcome(a.alert_id, a.alert_id, *key, GONE, a.steps, (), a.peak, None)
            for a in was
            if a.steps
        ]
    return sorted(outcomes, key=lambda o: (o.station, o.rule, (o.new or o.old)[0][2]))
