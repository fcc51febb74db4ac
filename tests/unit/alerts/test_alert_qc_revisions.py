"""QC corrections in the alert engine: judged on first flags, corrected or retracted by revisions.

The stream's QC engine flags a reading at once and corrects it when later data change its flags (the
spike test needs the next reading). The alert engine judges the first flags, so a warning never waits
for the next reading, and judges a revision again from the alert as it was before the reading: a
spike that opened a warning is retracted, one that escalated it is corrected, a sensor fault the
spike test confirms fires on the revision. ``streams.qc.first_flags.alert_view`` makes the sequence
the engine sees the same whatever the QC batching, so the alert history is too.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
from alert_helpers import HOUR_US, MINUTE_US, T0_US, at, feed, indicator, kinds, reading, settled

from alerts import AlertEngine, Silence
from alerts.inputs import reading_observation
from streams.qc import QcEngine, QcResult, Readings, load_qc_config
from streams.qc.first_flags import alert_view

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


def stream_events(
    registry, rules, channels, rows, batch_size: int, *, ticks: bool = False, silences: Sequence[Silence] = ()
) -> tuple[list, AlertEngine]:
    """Readings in time order through QC in batches of `batch_size`, then the alert engine, as the
    worker runs them (``alert_view`` of each QC batch); with `ticks`, a clock tick before each batch
    at the time of its first reading (the worker's last tick before it is sent)."""
    quality = QcEngine(load_qc_config(registry))
    engine = AlertEngine(registry, rules, channels)
    events = [e for s in silences for e in engine.silence(s)]
    for start in range(0, len(rows), batch_size):
        if ticks:
            events += engine.tick(rows[start][2])
        results = qc(quality, rows[start : start + batch_size])
        events += engine.observe([reading_observation(r) for r in alert_view(results)])
    return events, engine


@pytest.fixture(scope="module")
def reference(registry, rules, channels, rows) -> list:
    return stream_events(registry, rules, channels, rows, 1)[0]


def test_sensor_faults_fire_and_spike_warnings_are_retracted(reference):
    fired = [
        (e.station, e.rule, round((e.time_us - T0_US) / MINUTE_US)) for e in reference if e.kind == "firing"
    ]
    qc_alerts = [f for f in fired if f[1] == "sensor_repeated_fail"]
    # Dalian: the third reading stuck at 20 m (602 min). The marsh: the seventh spike fail in a row
    # (from the reading before the erratic ones) needs three bad values, at 1800 + 5 × 30 min; it is
    # known when the revision of that reading comes with the next one.
    assert qc_alerts == [
        ("dalian", "sensor_repeated_fail", 602),
        ("liaohe-saltmarsh", "sensor_repeated_fail", 1950),
    ]
    # A spike above Dalian's warning levels raises a provisional warning on its first flags; the spike
    # test fails it with the next reading and the warning is retracted. None survives.
    warnings: dict[str, list[str]] = {}
    for e in reference:
        if e.station == "dalian" and e.rule == "water_level_warning":
            warnings.setdefault(e.alert_id, []).append(e.kind)
    assert warnings, "the spikes reach Dalian's warning levels"
    assert all(history == ["firing", "retracted"] for history in warnings.values()), warnings


@pytest.mark.parametrize("batch_size", [2, 7, 80, 100_000])
def test_qc_batching_does_not_change_the_alert_history(
    registry, rules, channels, rows, reference, batch_size
):
    events, engine = stream_events(registry, rules, channels, rows, batch_size)
    assert events == reference
    assert sum(s.late_revisions for s in engine.stations.values()) == 0


def test_a_retraction_withdraws_the_provisional_warning(engine):
    events = feed(engine, [reading("dalian", "water_level_m", m, 2.0) for m in range(3)])
    events += feed(engine, [reading("dalian", "water_level_m", 3, 5.2, flag=3, tests=("rate_of_change",))])
    assert kinds(e for e in events if e.rule == "water_level_warning") == [("firing", "red", 3)]
    withdrawn = reading("dalian", "water_level_m", 3, 5.2, 4, ("spike", "rate_of_change"), revised=True)
    retraction = engine.observe([withdrawn])
    assert kinds(retraction) == [("retracted", "red", 3)]
    assert retraction[0].alert_id == events[-1].alert_id and retraction[0].seq == 1
    assert retraction[0].channels == events[-1].channels  # whoever was warned is told
    assert engine.open_alerts() == []
    assert feed(engine, [reading("dalian", "water_level_m", 4, 2.0)]) == []


def test_a_spike_that_escalated_a_warning_is_corrected(engine):
    events = feed(engine, [reading("dalian", "water_level_m", m, 3.7) for m in range(3)])
    events += feed(engine, [reading("dalian", "water_level_m", 3, 5.0, flag=3, tests=("rate_of_change",))])
    assert kinds(e for e in events if e.rule == "water_level_warning") == [
        ("firing", "blue", 0),
        ("escalated", "red", 3),
    ]
    withdrawn = reading("dalian", "water_level_m", 3, 5.0, 4, ("spike",), revised=True)
    assert kinds(engine.observe([withdrawn])) == [("corrected", "blue", 3)]
    # Keep-firing no longer holds red on the withdrawn reading: the next blue reading changes nothing.
    assert feed(engine, [reading("dalian", "water_level_m", 4, 3.7)]) == []


def test_a_revision_that_changes_nothing_is_silent(engine):
    feed(engine, [reading("dalian", "water_level_m", m, 3.7) for m in range(2)])
    again = reading("dalian", "water_level_m", 1, 3.7, flag=1, tests=(), revised=True)
    assert engine.observe([again]) == []
    assert engine.stations["dalian"].late_revisions == 0


def test_a_correction_of_an_older_reading_is_counted_not_applied(engine):
    failed = [reading("dalian", "water_level_m", m, 2.0, flag=4, tests=("gross_range",)) for m in range(4)]
    events = feed(engine, failed)
    assert kinds(e for e in events if e.rule == "sensor_repeated_fail") == [("firing", "orange", 2)]
    # Minute 0 is no longer the last reading judged: turning it good changes nothing, and is counted
    # (by each rule that reads the water level and could have used it).
    again = reading("dalian", "water_level_m", 0, 2.0, 1, (), revised=True)
    assert engine.observe([again]) == []
    assert engine.stations["dalian"].late_revisions >= 1


def test_indicators_at_the_same_time_are_each_judged(engine):
    # Two high-water warnings stamped alike are judged in arrival order.
    events = engine.observe(
        [indicator("dalian", "water_level_warning", 5, 1), indicator("dalian", "water_level_warning", 5, 3)]
    )
    assert kinds(events) == [("firing", "blue", 5), ("escalated", "orange", 5)]


def test_a_withdrawn_resolution_reopens_the_alert(engine):
    buoy, do = "liaodong-bay-buoy", "dissolved_oxygen_mg_l"
    # Hypoxic from 0 (orange, `for` 30 min), then the sensor gives no values for 40 min, and the first
    # reading after that looks good: it resolves the alert (keep-firing 30 min is over).
    events = feed(engine, [reading(buoy, do, m, 1.8) for m in range(0, 70, 10)])
    events += feed(engine, [reading(buoy, do, m, None, flag=9) for m in (70, 80, 90, 100)])
    events += feed(engine, [reading(buoy, do, 110, 6.0)])
    hypoxia = [e for e in events if e.rule == "hypoxia"]
    assert kinds(hypoxia) == [("pending", "orange", 0), ("firing", "orange", 30), ("resolved", "orange", 110)]
    # The spike test fails it with the next reading: the alert is open again, as if it had never been
    # good, under its own id and sequence, and whoever was told of the resolution is told.
    reopened = engine.observe([reading(buoy, do, 110, 6.0, 4, ("spike",), revised=True)])
    assert kinds(reopened) == [("reopened", "orange", 110)]
    assert (reopened[0].alert_id, reopened[0].seq) == (hypoxia[0].alert_id, 3)
    assert reopened[0].channels == hypoxia[-1].channels
    assert [(a["alert_id"], a["phase"]) for a in engine.open_alerts()] == [(hypoxia[0].alert_id, "firing")]
    # The data go on as before the withdrawn reading: still hypoxic, nothing new; then it clears.
    assert feed(engine, [reading(buoy, do, 120, 1.9)]) == []
    later = feed(engine, [reading(buoy, do, m, 6.0) for m in range(130, 170, 10)])
    assert [(e.kind, e.seq) for e in later if e.rule == "hypoxia"] == [("resolved", 4)]


def test_a_pending_alert_whose_resolution_is_withdrawn_is_pending_again(engine):
    buoy, do = "liaodong-bay-buoy", "dissolved_oxygen_mg_l"
    events = feed(engine, [reading(buoy, do, 0, 1.8)])
    events += feed(engine, [reading(buoy, do, m, None, flag=9) for m in (10, 20, 30)])
    events += feed(engine, [reading(buoy, do, 40, 6.0)])
    events += engine.observe([reading(buoy, do, 40, 6.0, 4, ("spike",), revised=True)])
    events += feed(engine, [reading(buoy, do, 50, 1.8)])
    # Pending again under its own id (not notified: it never fired), and firing once `for` (30 min
    # from 0) has passed, as if the withdrawn reading had never been.
    hypoxia = [(e.kind, e.seq, e.alert_id) for e in events if e.rule == "hypoxia"]
    opened = f"{buoy}/hypoxia/{at(0)}"
    assert hypoxia == [
        ("pending", 0, opened),
        ("resolved", 1, opened),
        ("pending", 2, opened),
        ("firing", 3, opened),
    ]


def test_a_revision_that_still_resolves_changes_nothing(engine):
    buoy, do = "liaodong-bay-buoy", "dissolved_oxygen_mg_l"
    feed(engine, [reading(buoy, do, m, 1.8) for m in range(0, 70, 10)])
    feed(engine, [reading(buoy, do, m, None, flag=9) for m in (70, 80, 90, 100)])
    resolved = [e for e in feed(engine, [reading(buoy, do, 110, 6.0)]) if e.rule == "hypoxia"]
    assert kinds(resolved) == [("resolved", "orange", 110)]
    # Suspect by the spike test: hypoxia skips only failed readings, so it still resolves the alert.
    assert engine.observe([reading(buoy, do, 110, 6.0, 3, ("spike",), revised=True)]) == []
    assert engine.open_alerts() == []
    fresh = feed(engine, [reading(buoy, do, 120, 1.8)])
    assert [(e.kind, e.seq) for e in fresh if e.rule == "hypoxia"] == [("pending", 0)]


def oxygen_rows(rng: np.random.Generator) -> list[tuple[str, str, int, float]]:
    """A buoy's hypoxic spells (10 min readings): in each, the sensor drops out for 40 min and comes
    back with a spike up that QC fails only with the next reading, then the oxygen stays low; the
    last spell lasts to the end, firing from 1230 min, with a spike up 5 min before its 6 h re-notice
    is due (1590) and the next reading 10 min after it, so the re-notice falls between the spike and
    its revision."""
    rows = []
    for spell in range(3):
        start = spell * 600
        values = {m: 1.8 + rng.normal(0, 0.03) for m in range(start, start + 120, 10)}
        values[start + 160] = 6.0  # after 40 min without a reading
        values |= {m: 1.8 + rng.normal(0, 0.03) for m in range(start + 170, start + 300, 10)}
        if spell < 2:
            values |= {m: 6.0 + rng.normal(0, 0.03) for m in range(start + 300, start + 600, 10)}
        else:
            values |= {m: 1.8 + rng.normal(0, 0.03) for m in range(start + 300, 2880, 10) if m != 1590}
            values[1585] = 6.0
        rows += [("liaodong-bay-buoy", "dissolved_oxygen_mg_l", at(m), float(v)) for m, v in values.items()]
    return sorted(rows)


@pytest.mark.parametrize("batch_size", [1, 2, 7, 100_000])
def test_stream_equals_batch_final_alerts(registry, rules, channels, rows, reference, batch_size):
    """Judged on first flags and revised as QC's flags settle, the alerts end as judging each reading
    once with its final flags leaves them (retractions, corrections and reopenings included), also
    when a timer fires between a reading and its revision: ticks before every QC batch, a silence of
    Dalian that ends 30 s after a spike opened a warning (before the next reading brings the
    revision), and a hypoxia re-notice due between a spike and its revision."""
    everything = sorted([*rows, *oxygen_rows(np.random.default_rng(5))], key=lambda r: (r[2], r[0], r[1]))
    spike_us = min(e.time_us for e in reference if e.kind == "retracted" and e.station == "dalian")
    silence = Silence("drill", created_us=T0_US, ends_us=spike_us + 30_000_000, actor="ops", station="dalian")
    end_us = everything[-1][2] + HOUR_US
    events, stream = stream_events(
        registry, rules, channels, everything, batch_size, ticks=True, silences=[silence]
    )
    events += stream.tick(end_us)
    assert {"retracted", "reopened"} <= {e.kind for e in events}
    assert sum(s.late_revisions for s in stream.stations.values()) == 0
    batch = AlertEngine(registry, rules, channels)
    batch.silence(silence)
    final = qc(QcEngine(load_qc_config(registry)), everything)
    assert not any(r.revised for r in final)
    told = batch.observe([reading_observation(r) for r in final]) + batch.tick(end_us)
    assert settled(stream) == settled(batch)
    assert stream.open_alerts() == batch.open_alerts()
    # Along the way: every alert the final flags raise, the stream raised under the same id; the
    # others it raised were taken back.
    raised = {e.alert_id for e in events if e.kind == "firing"}
    retracted = {e.alert_id for e in events if e.kind == "retracted"}
    assert raised - retracted == {e.alert_id for e in told if e.kind == "firing"}
    if batch_size == 1:  # each reading alone: the timers fired between the readings and their revisions
        spiked = [e.kind for e in events if e.station == "dalian" and e.time_us >= spike_us][:3]
        assert spiked == ["firing", "unsilenced", "retracted"]
        renotice = next(i for i, e in enumerate(events) if e.rule == "hypoxia" and e.time_us == at(1590))
        assert events[renotice].kind == "renotify"
        assert not any(e.rule == "hypoxia" and e.time_us >= at(1600) for e in events[:renotice])
