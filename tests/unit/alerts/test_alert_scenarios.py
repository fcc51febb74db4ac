"""The issue's checks: a storm surge, a hypoxic night, a silent station, a low battery and flapping
data each give exactly the alert history worked out by hand below."""

from __future__ import annotations

import numpy as np
import yaml
from alert_helpers import HOUR_US, MINUTE_US, T0_US, at, feed, indicator, kinds, reading

from alerts import AlertEngine, load_rules

HIGH_WATER_MIN = 745  # a semidiurnal high water every 12 h 25 min


def test_storm_surge_escalates_and_resolves_once(engine):
    # water_level_warning at successive high waters at Dalian: none, blue, orange, yellow, none, none.
    levels = [0, 1, 3, 2, 0, 0]
    events = feed(
        engine,
        [indicator("dalian", "water_level_warning", i * HIGH_WATER_MIN, lv) for i, lv in enumerate(levels)],
    )
    lifecycle = [e for e in events if e.kind != "renotify"]
    assert kinds(lifecycle) == [
        ("firing", "blue", 745),
        ("escalated", "orange", 1490),
        ("deescalated", "yellow", 2235),
        ("resolved", "orange", 2980),  # a resolved notice carries the alert's peak severity
    ]
    assert len({e.alert_id for e in events}) == 1
    assert events[0].alert_id == f"dalian/storm_surge_warning/{at(745)}"
    assert [e.seq for e in events] == list(range(len(events)))
    # e-mail takes orange and red only; the resolved notice goes wherever the peak went, exactly once.
    channels = {e.kind: e.channels for e in lifecycle}
    assert channels == {
        "firing": ("webhook",),
        "escalated": ("webhook", "email"),
        "deescalated": ("webhook",),
        "resolved": ("webhook", "email"),
    }
    assert sum(e.kind == "resolved" for e in events) == 1
    # Re-notify every 3 h of data time while firing and unacknowledged, until the next high water.
    renotify = [round((e.time_us - T0_US) / MINUTE_US) for e in events if e.kind == "renotify"]
    assert renotify[:4] == [925, 1105, 1285, 1465]
    assert "大连老虎滩验潮站" in events[0].message_zh and "风暴潮警报蓝色" in events[0].message_zh
    assert lifecycle[1].message_en.startswith("escalated: Storm surge warning orange at Dalian")


def hypoxic_night() -> list[float]:
    # Dissolved oxygen every 10 min from T0 through an evening and night at the Changhai meadow.
    return [
        5.0,
        4.0,
        3.2,
        2.9,
        2.7,
        2.5,
        2.4,
        2.1,
        1.9,
        1.8,
        2.2,
        2.4,
        2.6,
        2.8,
        3.1,
        3.4,
        3.6,
        3.8,
        4.0,
        4.5,
    ]


def test_hypoxic_night_with_for_duration(engine):
    values = hypoxic_night()
    events = feed(
        engine,
        [reading("changhai-seagrass", "dissolved_oxygen_mg_l", 10 * i, v) for i, v in enumerate(values)],
    )
    # Hand-worked with yellow ≤ 3.0 (stays < 3.3), orange ≤ 2.0 (stays < 2.3), for 30 min, keep 30 min:
    #  30 min: 2.9 enters yellow → pending;  60 min: still ≥ 30 min below → firing yellow
    #  80 min: 1.9 → escalated orange; 100 min: 2.2 still < 2.3 is orange; 110 min: 2.4 is yellow
    # 140 min: the last orange (100 min) left the 30-min keep window → deescalated yellow
    # 150 min: 3.4 is clear, but yellow was seen at 140 min; 180 min: 140 min is out → resolved
    assert kinds(events) == [
        ("pending", "yellow", 30),
        ("firing", "yellow", 60),
        ("escalated", "orange", 80),
        ("deescalated", "yellow", 140),
        ("resolved", "orange", 180),
    ]
    assert [e.channels for e in events] == [
        (),
        ("webhook",),
        ("webhook", "email"),
        ("webhook",),
        ("webhook", "email"),
    ]
    assert events[2].value == 1.9


def test_short_dip_stays_pending_and_is_never_notified(engine):
    # Battery under 11.8 V for 20 min only: shorter than the 30-min "for" of battery_low.
    volts = [12.4, 12.2, 11.7, 11.75, 11.9, 12.1, 12.3, 12.4, 12.4, 12.4, 12.4, 12.4]
    events = feed(
        engine, [reading("changhai-seagrass", "battery_voltage_v", 10 * i, v) for i, v in enumerate(volts)]
    )
    # 20 min: pending; 40 min: 11.9 is below the 12.0 exit, still yellow; 50 min: 12.1 is clear, but
    # keep-firing (1 h) holds the pending alert until 100 min; 110 min: cancelled, never fired.
    assert kinds(events) == [("pending", "yellow", 20), ("resolved", "yellow", 110)]
    assert all(e.channels == () for e in events)


def test_battery_low_fires_after_for_and_resolves_after_keep_firing(engine):
    # A night of sagging battery at the Liaodong Bay buoy, one reading every 10 min.
    volts = np.concatenate(
        [np.linspace(12.6, 11.4, 13), np.full(6, 11.4), np.linspace(11.6, 12.8, 7), [12.8] * 8]
    )
    events = feed(
        engine,
        [reading("liaodong-bay-buoy", "battery_voltage_v", 10 * i, float(v)) for i, v in enumerate(volts)],
    )
    # linspace(12.6, 11.4, 13) steps 0.1 V: 11.8 at 80 min (pending), 11.5 at 110 min (orange, before
    # "for" ends), firing at 110 min with the most severe level seen: orange. 11.4 is above red (11.0).
    # Rising by 0.2 V: 11.6 at 190 min (still orange: below its 11.8 exit), 11.8 at 200 (yellow),
    # 12.0 at 210 (clear). keep 1 h: orange last at 190 → deescalated at 260; yellow last at 200 →
    # resolved at 270.
    assert kinds(events) == [
        ("pending", "yellow", 80),
        ("firing", "orange", 110),
        ("deescalated", "yellow", 260),
        ("resolved", "orange", 270),
    ]


def test_silent_station_fires_and_resolves_when_data_returns(engine):
    # Dalian samples every 60 s; silent after 3 intervals. Data minutes 0..10, nothing until minute 30.
    minutes = [*range(0, 11), *range(30, 36)]
    events = []
    for minute in range(0, 36):
        if minute in minutes:
            events += engine.observe([reading("dalian", "water_level_m", minute, 2.0)])
        events += engine.tick(at(minute) + 30_000_000)  # a clock tick half a minute later
    # Last reading at 10 min; deadline 13 min; fires on the first tick past it, resolves at 30 min.
    assert kinds(events) == [("firing", "yellow", 13), ("resolved", "yellow", 30)]
    assert events[0].alert_id == f"dalian/station_silent/{at(13)}"
    assert [e.channels for e in events] == [("webhook",), ("webhook",)]
    # The same data without ticks: the gap in the data itself shows the same silence.
    quiet = AlertEngine(engine.registry, engine.rules, engine.channels)
    assert feed(quiet, [reading("dalian", "water_level_m", m, 2.0) for m in minutes]) == events


def test_missing_values_do_not_count_as_data(engine):
    observations = [reading("dalian", "water_level_m", m, None, flag=9) for m in range(1, 6)]
    events = engine.observe([reading("dalian", "water_level_m", 0, 2.0), *observations])
    assert kinds(events) == [("firing", "yellow", 3)]


def flapping_battery(count: int) -> list[float]:
    # 11.70 / 11.95 / 12.05 … hovering around the 11.8 V threshold, one reading a minute.
    return [[11.70, 11.95, 12.05, 11.85, 11.90][i % 5] for i in range(count)]


def test_flapping_data_gives_one_alert(engine):
    volts = flapping_battery(180) + [12.4] * 90
    events = feed(engine, [reading("dalian", "battery_voltage_v", i, v) for i, v in enumerate(volts)])
    events = [e for e in events if e.rule == "battery_low"]
    # Minute i%5: 0 → 11.70 enters yellow, 1 → 11.95 stays (below the 12.0 exit), 2 → 12.05 leaves,
    # 3, 4 → 11.85, 11.90 do not re-enter (above 11.8). Keep-firing (1 h) bridges the clear minutes,
    # so "for" (30 min) runs on: firing at 30 min (an 11.70). Last support at 176 min → resolved at
    # the first reading after 236 min.
    assert kinds(events) == [("pending", "yellow", 0), ("firing", "yellow", 30), ("resolved", "yellow", 237)]


def test_without_hysteresis_and_keep_firing_the_same_data_flaps(tmp_path, registry, channels):
    # Control: the same readings under a rule with neither guard open and close many alerts.
    rule = {
        "id": "naive_battery",
        "title": {"en": "Battery", "zh": "电池"},
        "stations": {"ids": ["dalian"]},
        "input": {"kind": "reading", "name": "battery_voltage_v"},
        "condition": {"below": {"yellow": 11.8}},
        "message": {"en": "{event}", "zh": "{event_zh}"},
    }
    path = tmp_path / "naive.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}), encoding="utf-8")
    naive = AlertEngine(registry, load_rules(registry, [path]), channels)
    events = feed(
        naive, [reading("dalian", "battery_voltage_v", i, v) for i, v in enumerate(flapping_battery(180))]
    )
    assert sum(e.kind == "firing" for e in events) == 36  # one per 11.70 reading


def test_qc_faults_one_alert_per_station_across_variables(engine):
    flat = ("flat_line",)
    observations = [
        reading("dalian", "water_temperature_degC", 0, 8.0, flag=3, tests=flat),
        reading("dalian", "water_level_m", 0, 2.0, flag=3, tests=flat),
        reading("dalian", "water_temperature_degC", 1, 8.0, flag=3, tests=flat),
        reading("dalian", "water_level_m", 1, 2.1, flag=1),  # water level recovers
        reading("dalian", "water_temperature_degC", 2, 8.3, flag=1),  # and the temperature sensor too
        *[reading("dalian", "water_level_m", m, 2.1) for m in range(3, 70)],
    ]
    events = [e for e in feed(engine, observations) if e.rule == "sensor_flat_line"]
    # One alert for the station while any variable is flat; keep-firing 1 h after the last flag (1 min).
    assert kinds(events) == [("firing", "yellow", 0), ("resolved", "yellow", 62)]


def test_repeated_qc_fails_need_three_in_a_row(engine):
    flags = [4, 4, 1, 4, 4, 4, 4]
    events = feed(
        engine,
        [
            reading("dalian", "water_level_m", m, 20.0, flag=f, tests=("gross_range",))
            for m, f in enumerate(flags)
        ],
    )
    events = [e for e in events if e.rule == "sensor_repeated_fail"]
    # The good reading at 2 min restarts the count: the third fail in a row is at 5 min.
    assert kinds(events) == [("firing", "orange", 5)]


def test_failed_readings_are_not_judged_by_value_rules(engine):
    events = feed(
        engine,
        [
            reading("dalian", "battery_voltage_v", m, 5.0, flag=4, tests=("gross_range",))
            for m in range(0, 120, 10)
        ],
    )
    assert [e for e in events if e.rule == "battery_low"] == []
    assert HOUR_US == 60 * MINUTE_US
