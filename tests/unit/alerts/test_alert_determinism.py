"""Replay, restart and batching: the same log of inputs gives the same alert history.

Guarantee under test: the engine judges inputs in the order given (the order of a log partition), so
replaying the same sequence of observations, ticks and actions gives the identical events (ids, seqs,
contents, order) however the sequence is cut into calls; a restart from the serialised state between
any two calls changes nothing; late data are judged, never dropped.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from alert_helpers import HOUR_US, MINUTE_US, T0_US, at, indicator, kinds, reading

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
    """One observation per call (arriving at its data time), a clock tick every simulated hour."""
    events = []
    for observation in observations:
        events += engine.observe([observation])
        if (observation.time_us - T0_US) % HOUR_US == 0:
            events += engine.tick(observation.time_us)
    return events + engine.tick(at(DAY_MIN))


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


def test_replay_reproduces_the_history(registry, rules, channels, observations, reference):
    assert run_in_order(AlertEngine(registry, rules, channels), observations) == reference


def calls(observations: list[Observation]) -> list[tuple[str, object]]:
    """The reference run as a list of engine calls, with operator actions in between."""
    out: list[tuple[str, object]] = []
    for observation in observations:
        out.append(("observe", [observation]))
        minute = (observation.time_us - T0_US) // MINUTE_US
        if (observation.time_us - T0_US) % HOUR_US == 0:
            out.append(("tick", observation.time_us))
        if minute == 200 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("ack", f"dalian/storm_surge_warning/{at(400)}"))
        if minute == 250 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("silence", Silence("quiet", at(250), at(400), "ops", rule="hypoxia")))
        if minute == 450 and observation.station == "dalian" and observation.kind == "reading":
            out.append(("ack", f"dalian/storm_surge_warning/{at(400)}"))
    out.append(("tick", at(DAY_MIN)))
    return out


def apply(engine: AlertEngine, call: tuple[str, object]) -> list:
    what, arg = call
    if what == "observe":
        return engine.observe(arg)
    if what == "tick":
        return engine.tick(arg)
    if what == "ack":
        return engine.acknowledge(arg, actor="ops", time_us=at(450))
    return engine.silence(arg)


@pytest.mark.parametrize("how", ["whole engine", "per station (changelog table)"])
def test_restart_anywhere_changes_nothing(registry, rules, channels, observations, how):
    sequence = calls(observations)
    uninterrupted = AlertEngine(registry, rules, channels)
    expected = [e for call in sequence for e in apply(uninterrupted, call)]
    assert {"acknowledged", "silenced", "unsilenced"} <= {e.kind for e in expected}
    for cut in (1, len(sequence) // 3, len(sequence) // 2, len(sequence) - 2):
        first = AlertEngine(registry, rules, channels)
        events = [e for call in sequence[:cut] for e in apply(first, call)]
        second = AlertEngine(registry, rules, channels)
        if how == "whole engine":
            second.load_dict(json.loads(json.dumps(first.to_dict())))
        else:
            for station in first.take_dirty():
                second.load_station_state(station, json.loads(json.dumps(first.station_state(station))))
            second.silences = first.silences
        events += [e for call in sequence[cut:] for e in apply(second, call)]
        assert events == expected, cut


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_cut_of_the_log_into_batches_gives_the_same_history(
    registry, rules, channels, observations, reference, seed
):
    sequence = calls(observations)
    one_by_one = AlertEngine(registry, rules, channels)
    expected = [e for call in sequence for e in apply(one_by_one, call)]
    rng = np.random.default_rng(seed)
    engine, events, start = AlertEngine(registry, rules, channels), [], 0
    while start < len(sequence):
        batch = sequence[start : start + int(rng.integers(1, 60))]
        start += len(batch)
        pending: list[Observation] = []
        for what, arg in batch:  # consecutive observations go in one call, as one record carries many
            if what == "observe":
                pending += arg
                continue
            events += engine.observe(pending)
            pending = []
            events += apply(engine, (what, arg))
        events += engine.observe(pending)
    assert events == expected


def test_late_data_are_judged_and_marked_late(registry, rules, channels):
    engine = AlertEngine(registry, rules, channels, late_after_us=10 * MINUTE_US)
    station = "changhai-seagrass"
    # An uplink an hour late: every reading arrives 60 min after its data time.
    events = []
    for minute in range(0, 120, 10):
        do = 5.0 if minute < 40 else 1.8
        events += engine.observe([reading(station, "dissolved_oxygen_mg_l", minute, do)], at(minute + 60))
        events += engine.tick(at(minute + 65))
    hypoxia = [e for e in events if e.rule == "hypoxia"]
    # Pending on the first low reading (40 min), firing once the 30 min `for` has passed (70 min).
    assert kinds(hypoxia) == [("pending", "orange", 40), ("firing", "orange", 70)]
    assert all(e.late and e.received_us == e.time_us + HOUR_US for e in hypoxia)
    assert not [e for e in events if e.rule == "station_silent"]  # late, regular: not silent
    # A reading older than the station's clock is judged as well, and counted.
    assert kinds(engine.observe([reading(station, "dissolved_oxygen_mg_l", 105, 0.5)], at(180))) == [
        ("escalated", "red", 105)
    ]
    assert engine.stations[station].late_count == 1


def test_a_station_alone_goes_silent_on_the_tick(registry, rules, channels):
    engine = AlertEngine(registry, rules, channels)
    engine.observe([reading("dalian", "water_level_m", 0, 2.0)])
    # 3 intervals of 60 s: due at 3 min; ticks at wall time carry the station's clock on.
    assert engine.tick(at(2.9)) == []
    assert kinds(engine.tick(at(3.1))) == [("firing", "yellow", 3)]
    assert kinds(engine.observe([reading("dalian", "water_level_m", 10, 2.0)])) == [
        ("resolved", "yellow", 10)
    ]
