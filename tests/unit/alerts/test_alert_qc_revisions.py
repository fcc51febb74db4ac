"""QC corrections in the alert engine: readings are judged with their final QC flags, once.

The stream's QC engine flags a reading at once and corrects it when later data change its flags (the
spike test needs the next reading). Whatever the arrival order and batching within the horizon, the
alert history of the stream of first results and corrections must equal the one of the final flags
in event-time order, with no correction left over after its reading has been judged.
"""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import MINUTE_US, T0_US, at, feed, indicator, kinds, reading

from alerts import AlertEngine, Observation
from alerts.inputs import reading_observation
from streams.qc import QcEngine, QcResult, Readings, load_qc_config

HORIZON_US = 15 * MINUTE_US  # the alert agent's default horizon
DAYS = 2
SPIKE_M = 3.2  # the simulator's water-level spike (8 % of the physical range)


def series(station: str, interval_s: int, rng: np.random.Generator) -> list[tuple[str, str, int, float]]:
    """(station, variable, time_us, value): a tide with isolated spikes, and a water temperature."""
    count = DAYS * 86_400 // interval_s
    t_h = np.arange(count) * interval_s / 3600
    level = np.round(2.0 + 1.5 * np.sin(2 * np.pi * t_h / 12.42) + rng.normal(0, 0.01, count), 3)
    spikes = rng.choice(np.arange(2, count - 2), size=6, replace=False)
    level[spikes] += SPIKE_M
    temperature = np.round(8.0 + 0.5 * np.sin(2 * np.pi * t_h / 24) + rng.normal(0, 0.02, count), 3)
    times = [T0_US + round(h * 3600e6) for h in t_h]
    return [
        *((station, "water_level_m", t, float(v)) for t, v in zip(times, level, strict=True)),
        *((station, "water_temperature_degC", t, float(v)) for t, v in zip(times, temperature, strict=True)),
    ]


def network(rng: np.random.Generator) -> list[tuple[str, str, int, float]]:
    """A tide gauge (60 s) whose level sensor is stuck out of range for 20 min, and a salt marsh (30 min,
    longer than the horizon) whose level sensor turns erratic for 4 h; both with isolated spikes."""
    dalian = series("dalian", 60, rng)
    dalian = [
        (s, v, t, 20.0 if v == "water_level_m" and at(600) <= t < at(620) else x) for s, v, t, x in dalian
    ]
    marsh = [r for r in series("liaohe-saltmarsh", 1800, rng) if r[1] == "water_level_m"]
    erratic = {at(1800 + 30 * k): (-1) ** k * SPIKE_M for k in range(8)}
    marsh = [(s, v, t, x + erratic.get(t, 0.0)) for s, v, t, x in marsh]
    return sorted([*dalian, *marsh], key=lambda r: (r[2], r[0], r[1]))


def qc(engine: QcEngine, rows: list[tuple[str, str, int, float]]) -> list[QcResult]:
    stations, variables, times, values = zip(*rows, strict=True)
    readings = Readings(list(stations), list(variables), np.array(times, dtype=np.int64), np.array(values))
    return sorted(engine.process(readings), key=lambda r: r.time_us)  # the store's order per partition


@pytest.fixture(scope="module")
def rows() -> list[tuple[str, str, int, float]]:
    return network(np.random.default_rng(11))


@pytest.fixture(scope="module")
def final(registry, rows) -> list[Observation]:
    """Every reading once, with the flags QC gives it over the whole series."""
    return [reading_observation(r) for r in qc(QcEngine(load_qc_config(registry)), rows)]


def end_us() -> int:
    return T0_US + DAYS * 86_400_000_000 + 3600_000_000 + HORIZON_US


def stream_engine(registry, rules, channels, horizon_us: int = HORIZON_US) -> AlertEngine:
    """The engine as the alert agent runs it: readings wait for their final QC flags."""
    return AlertEngine(registry, rules, channels, horizon_us=horizon_us, await_next_reading=True)


@pytest.fixture
def engine(registry, rules, channels) -> AlertEngine:
    return stream_engine(registry, rules, channels, horizon_us=0)


@pytest.fixture(scope="module")
def reference(registry, rules, channels, final) -> list:
    engine = stream_engine(registry, rules, channels)
    return feed(engine, final) + engine.advance_time(end_us())


def key(events: list) -> list:
    return sorted(events, key=lambda e: (e.alert_id, e.seq))


def test_reference_has_the_sensor_faults_and_not_the_spikes(reference):
    fired = [
        (e.station, e.rule, round((e.time_us - T0_US) / MINUTE_US)) for e in reference if e.kind == "firing"
    ]
    qc_alerts = [f for f in fired if f[1] == "sensor_repeated_fail"]
    # Dalian: the third reading stuck at 20 m (602 min). The marsh: the seventh spike fail in a row
    # (from the reading before the erratic ones) needs three bad values, at 1800 + 5 × 30 min.
    assert qc_alerts == [
        ("dalian", "sensor_repeated_fail", 602),
        ("liaohe-saltmarsh", "sensor_repeated_fail", 1950),
    ]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_corrections_in_any_order_give_the_final_flags_history(
    registry, rules, channels, rows, reference, seed
):
    rng = np.random.default_rng(seed)
    samples = sorted({(s, t) for s, _, t, _ in rows})
    lateness = dict(zip(samples, rng.integers(0, HORIZON_US, len(samples)).tolist(), strict=True))
    arrival = sorted(rows, key=lambda r: (r[2] + lateness[r[0], r[2]], r[0], r[1]))
    quality = QcEngine(load_qc_config(registry))
    engine = stream_engine(registry, rules, channels)
    events, start, corrections, watermark = [], 0, 0, T0_US
    while start < len(arrival):
        batch = arrival[start : start + int(rng.integers(1, 80))]
        start += len(batch)
        observations = [reading_observation(r) for r in qc(quality, batch)]
        corrections += sum(o.revised for o in observations)
        events += engine.observe(observations)
        watermark = max(watermark, *(o.time_us for o in observations))
        events += engine.advance_time(watermark)  # the partition's newest event time
    events += engine.advance_time(end_us())
    assert corrections > 0
    assert sum(s.late_count + s.late_revisions for s in engine.stations.values()) == 0
    assert key(events) == key(reference)


def test_a_correction_replaces_the_waiting_reading(engine):
    # Dalian's water level: a first result "good", corrected to a spike fail before it is judged.
    first = [reading("dalian", "water_level_m", m, 2.0, flag=4, tests=("gross_range",)) for m in range(2)]
    events = feed(engine, first)
    events += feed(engine, [reading("dalian", "water_level_m", 2, 2.0, flag=1)])
    events += feed(engine, [reading("dalian", "water_level_m", 2, 2.0, 4, ("gross_range",), revised=True)])
    events += feed(engine, [reading("dalian", "water_level_m", 3, 2.0)])
    assert kinds(e for e in events if e.rule == "sensor_repeated_fail") == [("firing", "orange", 2)]


def test_a_correction_after_judgement_is_counted_not_applied(engine):
    failed = [reading("dalian", "water_level_m", m, 2.0, flag=4, tests=("gross_range",)) for m in range(4)]
    events = feed(engine, failed)
    assert kinds(e for e in events if e.rule == "sensor_repeated_fail") == [("firing", "orange", 2)]
    # Minute 0 has been judged: turning it good, or failing it once more, changes nothing.
    for flag in (1, 4):
        again = reading("dalian", "water_level_m", 0, 2.0, flag, ("gross_range",), revised=True)
        assert engine.observe([again]) == []
    assert engine.stations["dalian"].late_revisions == 2
    # A replayed first result of a reading still waiting is a duplicate: it does not count twice.
    assert engine.observe([failed[-1]]) == []
    assert len(engine.stations["dalian"].buffer) == 1


def test_a_reading_waits_for_the_next_one_at_most_an_interval(engine, registry, rules, channels):
    # The salt marsh samples every 30 min: its newest reading waits for the next one, or 30 min.
    judged_at_once = AlertEngine(registry, rules, channels)
    judged_at_once.observe([reading("liaohe-saltmarsh", "water_level_m", 0, 2.0)])
    assert judged_at_once.stations["liaohe-saltmarsh"].buffer == {}
    engine.observe([reading("liaohe-saltmarsh", "water_level_m", 0, 2.0)])
    assert engine.stations["liaohe-saltmarsh"].clock_us < at(0)
    engine.advance_time(at(29))
    assert len(engine.stations["liaohe-saltmarsh"].buffer) == 1
    engine.advance_time(at(30))
    assert engine.stations["liaohe-saltmarsh"].buffer == {}


def test_indicators_at_the_same_time_are_each_judged(engine):
    # Only readings are one per time: two high-water warnings stamped alike are judged in arrival order.
    events = engine.observe(
        [indicator("dalian", "water_level_warning", 5, 1), indicator("dalian", "water_level_warning", 5, 3)]
    )
    assert kinds(events) == [("firing", "blue", 5), ("escalated", "orange", 5)]
