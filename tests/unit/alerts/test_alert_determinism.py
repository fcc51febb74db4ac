"""Replay, restart and reordering: the same inputs give the same alert history.

Guarantee under test: per station, observations are judged in event-time order once the station's
event time (or `advance_time`) is `horizon_us` past them, so any arrival order and batching in which
no observation is later than the horizon yields the same events (same alert ids, seqs, contents);
a restart from the serialised state between any two calls changes nothing.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from alert_helpers import HOUR_US, MINUTE_US, T0_US, at, indicator, reading

from alerts import AlertEngine, Observation, Silence

DAY_MIN = 24 * 60


def scenario() -> list[Observation]:
    """A day at three stations: a surge, a hypoxic night, a silent spell, a sagging battery, QC flags."""
    rng = np.random.default_rng(7)
    out: list[Observation] = []
    for minute in range(DAY_MIN):
        if not 300 <= minute < 340:  # Dalian's gauge is silent for 40 min
            flag, tests = (3, ("flat_line",)) if 900 <= minute < 915 else (1, ())
            out.append(reading("dalian", "water_level_m", minute, 2.0 + rng.normal(0, 0.05), flag, tests))
    for i, level in enumerate([0, 1, 3, 2, 0]):
        out.append(indicator("dalian", "water_level_warning", 100 + 300 * i, level))
    hours = np.arange(0, DAY_MIN, 10) / 60.0
    oxygen = 5.0 - 3.6 * np.exp(-(((hours - 5.0) / 2.5) ** 2)) + rng.normal(0, 0.15, hours.size)
    battery = 12.3 - 0.8 * np.exp(-(((hours - 14.0) / 2.0) ** 2)) + rng.normal(0, 0.05, hours.size)
    for minute, do, volts in zip(range(0, DAY_MIN, 10), oxygen, battery, strict=True):
        out.append(reading("changhai-seagrass", "dissolved_oxygen_mg_l", minute, float(do)))
        out.append(reading("changhai-seagrass", "battery_voltage_v", minute, float(volts)))
        out.append(reading("north-yellow-sea-buoy", "wave_height_m", minute, 1.0))
    return sorted(out, key=lambda o: o.time_us)


def run_in_order(engine: AlertEngine, observations: list[Observation]) -> list:
    """One observation per call, the watermark advanced every simulated hour, then flushed."""
    events = []
    for observation in observations:
        events += engine.observe([observation])
        if (observation.time_us - T0_US) % HOUR_US == 0:
            events += engine.advance_time(observation.time_us)
    return events + engine.advance_time(at(DAY_MIN) + engine.horizon_us)


def key(events: list) -> list:
    return sorted(events, key=lambda e: (e.alert_id, e.seq))


@pytest.fixture(scope="module")
def observations() -> list[Observation]:
    return scenario()


@pytest.fixture(scope="module")
def reference(registry, rules, channels, observations) -> list:
    return run_in_order(AlertEngine(registry, rules, channels), observations)


def test_scenario_raises_each_kind_of_alert_once(reference):
    fired = sorted({(e.station, e.rule) for e in reference if e.kind == "firing"})
    assert fired == [
        ("changhai-seagrass", "battery_low"),
        ("changhai-seagrass", "hypoxia"),
        ("dalian", "sensor_flat_line"),
        ("dalian", "station_silent"),
        ("dalian", "storm_surge_warning"),
    ]
    for station, rule in fired:
        alert = [e for e in reference if (e.station, e.rule) == (station, rule) and e.kind != "pending"]
        assert len({e.alert_id for e in alert}) == 1, (station, rule)
        assert sum(e.kind == "resolved" for e in alert) == 1, (station, rule)


# The engine as tests build it (each reading judged at once), and as the alert agent runs it (a reading
# waits for the next one of its series, so that its QC flags are final).
WAITS = pytest.mark.parametrize("waits", [False, True], ids=["at once", "awaiting next reading"])


@WAITS
def test_replay_reproduces_the_history(registry, rules, channels, observations, reference, waits):
    events = run_in_order(AlertEngine(registry, rules, channels, await_next_reading=waits), observations)
    assert events == run_in_order(
        AlertEngine(registry, rules, channels, await_next_reading=waits), observations
    )
    assert key(events) == key(reference)  # awaiting the next reading delays events, never changes one


def calls(observations: list[Observation]) -> list[tuple[str, object]]:
    """The reference run as a list of engine calls, with operator actions in between."""
    out: list[tuple[str, object]] = []
    for observation in observations:
        out.append(("observe", [observation]))
        minute = (observation.time_us - T0_US) // MINUTE_US
        if (observation.time_us - T0_US) % HOUR_US == 0:
            out.append(("advance", observation.time_us))
        if minute == 200 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("ack", f"dalian/storm_surge_warning/{at(400)}"))
        if minute == 250 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("silence", Silence("quiet", at(250), at(400), "ops", rule="hypoxia")))
        if minute == 450 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("ack", f"dalian/storm_surge_warning/{at(400)}"))
    out.append(("advance", at(DAY_MIN)))
    return out


def apply(engine: AlertEngine, call: tuple[str, object]) -> list:
    what, arg = call
    if what == "observe":
        return engine.observe(arg)
    if what == "advance":
        return engine.advance_time(arg)
    if what == "ack":
        return engine.acknowledge(arg, actor="ops", time_us=at(450))
    return engine.silence(arg)


@WAITS
@pytest.mark.parametrize("how", ["whole engine", "per station (changelog table)"])
def test_restart_anywhere_changes_nothing(registry, rules, channels, observations, how, waits):
    sequence = calls(observations)
    uninterrupted = AlertEngine(registry, rules, channels, await_next_reading=waits)
    expected = [e for call in sequence for e in apply(uninterrupted, call)]
    assert {"acknowledged", "silenced", "unsilenced"} <= {e.kind for e in expected}
    for cut in (1, len(sequence) // 3, len(sequence) // 2, len(sequence) - 2):
        first = AlertEngine(registry, rules, channels, await_next_reading=waits)
        events = [e for call in sequence[:cut] for e in apply(first, call)]
        second = AlertEngine(registry, rules, channels, await_next_reading=waits)
        if how == "whole engine":
            second.load_dict(json.loads(json.dumps(first.to_dict())))
        else:
            for station in first.take_dirty():
                second.load_station_state(station, json.loads(json.dumps(first.station_state(station))))
            second.silences = first.silences
        events += [e for call in sequence[cut:] for e in apply(second, call)]
        assert events == expected, cut


@WAITS
@pytest.mark.parametrize("seed", [1, 2, 3])
def test_shuffled_and_rebatched_within_horizon(
    registry, rules, channels, observations, reference, seed, waits
):
    horizon_us = 30 * MINUTE_US
    rng = np.random.default_rng(seed)
    arrival = np.array([o.time_us for o in observations]) + rng.integers(0, horizon_us, len(observations))
    order = np.argsort(arrival, kind="stable")
    engine = AlertEngine(registry, rules, channels, horizon_us=horizon_us, await_next_reading=waits)
    events, start = [], 0
    while start < len(order):
        size = int(rng.integers(1, 60))
        batch = order[start : start + size]
        events += engine.observe([observations[i] for i in batch])
        events += engine.advance_time(int(arrival[batch[-1]]))  # the watermark: arrival clock so far
        start += size
    events += engine.advance_time(at(DAY_MIN) + horizon_us)
    assert sum(s.late_count for s in engine.stations.values()) == 0
    assert key(events) == key(reference)


def test_data_later_than_the_horizon_is_counted_not_judged(registry, rules, channels):
    engine = AlertEngine(registry, rules, channels, horizon_us=10 * MINUTE_US)
    engine.observe([reading("changhai-seagrass", "battery_voltage_v", 60, 12.5)])
    assert engine.observe([reading("changhai-seagrass", "battery_voltage_v", 45, 10.0)]) == []
    assert engine.stations["changhai-seagrass"].late_count == 1
    # Within the horizon is still judged, in event-time order.
    engine.observe([reading("changhai-seagrass", "battery_voltage_v", 55, 10.0)])
    assert engine.stations["changhai-seagrass"].late_count == 1
    assert sorted(o.time_us for o in engine.stations["changhai-seagrass"].buffer.values()) == [at(55), at(60)]
