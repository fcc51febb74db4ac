"""A stored history judged again (``alerts.replay``): the same events as the live engine fed the same
inputs one by one, timers that fire in gaps and at the end of the range, and the comparison per alert."""

from __future__ import annotations

import msgspec
from alert_helpers import at, feed, indicator, kinds, reading

from alerts import AlertEngine
from alerts.events import AlertEvent
from alerts.replay import CHANGED, GONE, NEW, UNCHANGED, compare, judge_history

GAUGE = "dalian"


def _levels(peak_m: float) -> list:
    """Six hours of 1-minute water levels at Dalian rising to ``peak_m`` and falling back (warning
    levels blue 3.60 … red 4.20 m), with a graded high water ~3.6 h after the peak."""
    out = []
    for minute in range(360):
        level = 2.0 + (peak_m - 2.0) * max(0.0, 1 - abs(minute - 120) / 90)
        out.append(reading(GAUGE, "water_level_m", minute, round(level, 3)))
    grade = 4.0 if peak_m >= 4.2 else 3.0 if peak_m >= 4.0 else 0.0
    out.append(indicator(GAUGE, "water_level_warning", 336, grade))
    return out


def test_the_replay_equals_the_live_engine(engine: AlertEngine, registry, rules, channels) -> None:
    observations = _levels(4.3)
    replayed = judge_history(engine, GAUGE, list(reversed(observations)))  # any stored order
    live = feed(AlertEngine(registry, rules, channels), observations)
    assert replayed == live
    assert kinds(replayed)[:4] == [
        ("firing", "blue", 93), ("escalated", "yellow", 101),
        ("escalated", "orange", 109), ("escalated", "red", 117),
    ]  # fmt: skip
    assert ("firing", "red", 336) in kinds(replayed)  # the graded high water: the storm-surge warning


def test_a_silent_station_is_declared_inside_and_at_the_end_of_the_range(registry, rules, channels) -> None:
    # Dalian reports every minute: silent after more than 3 intervals without a reading.
    observations = [reading(GAUGE, "water_level_m", m, 2.0) for m in (*range(60), *range(120, 130))]
    events = judge_history(AlertEngine(registry, rules, channels), GAUGE, observations, until_us=at(200))
    assert {e.rule for e in events} == {"station_silent"}
    # Declared in the gap by a tick, resolved by the next reading, declared again after the last one
    # though no reading follows it: the ticks run to the end of the range.
    assert kinds(events) == [("firing", "yellow", 62), ("resolved", "yellow", 120), ("firing", "yellow", 132)]
    without_end = judge_history(AlertEngine(registry, rules, channels), GAUGE, observations)
    assert kinds(without_end) == kinds(events)[:2]


def test_outcomes_per_alert(registry, rules, channels) -> None:
    def run(observations: list) -> list:
        # To the end of the readings: no station-silent alert after them.
        return judge_history(AlertEngine(registry, rules, channels), GAUGE, observations, until_us=at(360))

    red, orange, calm = run(_levels(4.3)), run(_levels(4.05)), run(_levels(3.0))
    to_us = at(360)
    same = compare(red, red, at(0), to_us)
    assert same and {o.outcome for o in same} == {UNCHANGED}
    lowered = {o.rule: o for o in compare(red, orange, at(0), to_us)}
    assert lowered["water_level_warning"].outcome == CHANGED
    assert (lowered["water_level_warning"].old_peak, lowered["water_level_warning"].new_peak) == (
        "red",
        "orange",
    )
    assert (lowered["storm_surge_warning"].old_peak, lowered["storm_surge_warning"].new_peak) == (
        "red",
        "orange",
    )
    gone = compare(red, calm, at(0), to_us)
    assert {o.outcome for o in gone} == {GONE} and all(o.new == () for o in gone)
    assert {o.outcome for o in compare(calm, red, at(0), to_us)} == {NEW}
    # Operators' and reminders' events are not the rules' outcome: an acknowledgement changes nothing.
    acked = [*red, msgspec.structs.replace(red[0], seq=99, kind="acknowledged", actor="wang")]
    assert {o.outcome for o in compare(acked, red, at(0), to_us)} == {UNCHANGED}
    # Only events inside the range are compared.
    late = compare(red, orange, at(300), to_us)
    assert {o.rule for o in late} == {"storm_surge_warning"}


def test_an_alert_keeps_its_own_id_before_an_overlap_is_sought() -> None:
    def event(alert_id: str, seq: int, kind: str, minute: int) -> AlertEvent:
        return AlertEvent(
            alert_id=alert_id, seq=seq, station=GAUGE, rule="battery_low", kind=kind, severity="yellow",
            time_us=at(minute), value=None, message_en="", message_zh="", channels=(),
        )  # fmt: skip

    old = [event("a", 0, "firing", 0), event("a", 1, "resolved", 10)]
    old += [event("b", 0, "firing", 20), event("b", 1, "resolved", 30)]
    # Now "x" starts just before "b" and overlaps it (another rule setting), and "b" is raised as it was.
    new = [event("x", 0, "firing", 18), event("x", 1, "resolved", 40)]
    new += [event("b", 0, "firing", 20), event("b", 1, "resolved", 30)]
    outcomes = {(o.alert_id, o.old_alert_id): o.outcome for o in compare(old, new, at(0), at(60))}
    assert outcomes == {("a", "a"): GONE, ("b", "b"): UNCHANGED, ("x", None): NEW}
