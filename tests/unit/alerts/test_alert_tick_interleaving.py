"""Clock ticks and records in one log: where a tick lands among records written about the same time
changes nothing.

The worker's timer writes a tick while the QC or indicator agent is sending a record it stamped a
moment earlier, so the tick can land in the log before that record, or a record stamped just after a
tick before it. Timers are judged on each station's own arrival clock: a tick fires what was due a
grace (``tick_grace_us``) before its own time, and a record fires what was due by its own arrival
before it is judged, so shifting ticks by less than the grace gives the identical alert history.
"""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import HOUR_US, MINUTE_US, T0_US, at, kinds, reading

from alerts import AlertEngine, Observation
from alerts.engine import DEFAULT_TICK_GRACE_US

SECOND_US = 1_000_000
TICK_US = 5 * SECOND_US
DALIAN_STEP_US = MINUTE_US  # its sampling interval: silent after 3 minutes
BUOY = "liaodong-bay-buoy"  # 10 min readings an hour late
Record = tuple[int, Observation]  # (wall time it was stamped, what it carries)


def dalian_records(rng: np.random.Generator) -> list[Record]:
    """Nine hours of Dalian's gauge, 2 s late with jitter, and the cases where ticks race records:
    the uplink holds readings back and releases them together 182 s after the last one arrived
    (past the 180 s silence by 2 s) and 302 s after, a 20-minute outage whose backlog comes after
    the first live reading, and graded high waters 3.6 h after their time, the second arriving just
    as the first one's 3 h re-notice falls due."""
    records: list[Record] = []
    wall_us = {
        i: T0_US + i * DALIAN_STEP_US + 2 * SECOND_US + int(rng.integers(0, 1_500_000)) for i in range(540)
    }
    wall_us |= {i: T0_US + i * DALIAN_STEP_US + 2 * SECOND_US for i in [99, 149, *range(270, 290)]}
    for first, last, after_s in ((100, 102, 182), (150, 154, 302)):
        release = wall_us[first - 1] + after_s * SECOND_US
        wall_us |= {i: release + (i - first) * 100_000 for i in range(first, last + 1)}
    outage = range(300, 320)
    for i in range(540):
        if i not in outage:
            records.append((wall_us[i], reading("dalian", "water_level_m", i, 2.0 + rng.normal(0, 0.02))))
    back = wall_us[320] + 300_000  # the backlog, oldest first
    records += [
        (back + k * 1000, reading("dalian", "water_level_m", i, 2.0 + rng.normal(0, 0.02)))
        for k, i in enumerate(outage)
    ]
    # High water at 1 h graded yellow, known 3.6 h later (station time then: wall - 2 s); its
    # re-notice is due 3 h after that; the second high water (orange) arrives 4.5 s later.
    first_us = T0_US + round(4.6 * HOUR_US)
    records.append((first_us, Observation("dalian", "indicator", "water_level_warning", at(60), 2.0)))
    second_us = first_us + 3 * HOUR_US + 4_500_000
    records.append((second_us, Observation("dalian", "indicator", "water_level_warning", at(300), 3.0)))
    return records


def buoy_records(rng: np.random.Generator) -> list[Record]:
    """A buoy whose uplink is an hour late, give or take 40 s, through a hypoxic night."""
    records = []
    for i in range(54):
        minute = 10 * i
        oxygen = 1.8 if 120 <= minute < 300 else 5.0
        wall = at(minute) + HOUR_US + int(rng.integers(-40, 40)) * SECOND_US
        records.append((wall, reading(BUOY, "dissolved_oxygen_mg_l", minute, oxygen)))
    return records


def log(records: list[Record], shift_us: np.ndarray | None) -> list[tuple[str, int, Observation | None]]:
    """Records in the order they were stamped, with a tick every 5 s of wall time; each tick moved
    among the records by `shift_us` (where it lands, not what time it carries)."""
    start, end = min(w for w, _ in records), max(w for w, _ in records) + HOUR_US
    ticks = np.arange(start - start % TICK_US, end, TICK_US)
    moved = ticks if shift_us is None else ticks + shift_us[: ticks.size]
    entries = [(w, 1, "record", w, o) for w, o in records]
    entries += [(int(m), 0, "tick", int(t), None) for m, t in zip(moved, ticks, strict=True)]
    return [(kind, wall, obs) for _, _, kind, wall, obs in sorted(entries, key=lambda e: e[:2])]


def replay(registry, rules, channels, entries) -> list:
    engine = AlertEngine(registry, rules, channels)
    events = []
    for kind, wall, observation in entries:
        if kind == "tick":
            events += engine.tick(wall)
        else:
            events += engine.observe([observation], wall)
    return events


@pytest.fixture(scope="module")
def records() -> list[Record]:
    rng = np.random.default_rng(3)
    return [*dalian_records(rng), *buoy_records(rng)]


@pytest.fixture(scope="module")
def reference(registry, rules, channels, records) -> list:
    return replay(registry, rules, channels, log(records, None))


def test_the_story_has_silences_renotices_and_late_alerts(reference):
    dalian_silent = [e for e in reference if e.station == "dalian" and e.rule == "station_silent"]
    # Silent 3 min after the last reading heard: the readings held back 182 s (2 s of silence) and
    # 302 s, the outage (minutes 300-319), and the end of the data; every one but the last resolved
    # by the first reading heard again.
    fired = [round((e.time_us - T0_US) / SECOND_US) for e in dalian_silent if e.kind == "firing"]
    assert fired == [99 * 60 + 180, 149 * 60 + 180, 299 * 60 + 180, 539 * 60 + 181]
    resolved = [round((e.time_us - T0_US) / SECOND_US) for e in dalian_silent if e.kind == "resolved"]
    assert resolved == [99 * 60 + 182, 149 * 60 + 302, 320 * 60]
    surge = [e for e in reference if e.rule == "storm_surge_warning"]
    # Re-noticed 3 h after the yellow warning went out, just before the orange high water came in;
    # then 3 h after that.
    assert [e.kind for e in surge] == ["firing", "renotify", "escalated", "renotify"]
    assert all(e.late for e in surge if e.kind != "renotify")
    buoy = [e for e in reference if e.station == BUOY]
    assert [e.kind for e in buoy if e.rule == "hypoxia"][:2] == ["pending", "firing"]
    # An hour late, give or take, and never silent until its data end (at 530 min, silent 30 min on).
    assert [e.kind for e in buoy if e.rule == "station_silent"] == ["firing"]
    assert [e.time_us >= at(560) for e in buoy if e.rule == "station_silent"] == [True]


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_ticks_shifted_among_the_records_give_the_same_history(
    registry, rules, channels, records, reference, seed
):
    grace_s = DEFAULT_TICK_GRACE_US / SECOND_US
    rng = np.random.default_rng(seed)
    shift_us = (rng.uniform(-0.9, 0.9, 20_000) * grace_s * SECOND_US).astype(np.int64)
    assert replay(registry, rules, channels, log(records, shift_us)) == reference


def test_a_tick_before_a_record_stamped_earlier_declares_no_silence(engine):
    for minute in range(10):
        engine.observe([reading("dalian", "water_level_m", minute, 2.0)], at(minute) + 2 * SECOND_US)
    # The next reading is stamped 179.5 s after the last one arrived (just inside 3 intervals), but
    # the tick the worker wrote 1.5 s later lands before it.
    stamped = at(9) + 2 * SECOND_US + 179_500_000
    assert engine.tick(stamped + 1_500_000) == []
    assert engine.observe([reading("dalian", "water_level_m", 10, 2.0)], stamped) == []
    # Heard on time from then on: no silence.
    assert engine.tick(at(11) + 2 * SECOND_US) == []


def test_a_record_heard_past_the_silence_fires_it_before_it_is_judged(engine):
    engine.observe([reading("dalian", "water_level_m", 0, 2.0)], at(0))
    # No tick came; the next reading arrives 4 min after the last one: the silence began at 3 min
    # by the station's clock, and the reading that ends it was heard at 4 min.
    late = engine.observe([reading("dalian", "water_level_m", 1, 2.0)], at(4))
    assert kinds(late) == [("firing", "yellow", 3), ("resolved", "yellow", 4)]
    assert late[1].late is False and late[1].received_us == at(4)
