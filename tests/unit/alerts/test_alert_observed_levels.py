"""Water-level and wave warnings judged on the observed reading: the warning comes with the first
reading at a station's warning level (registry thresholds), escalates in place, and holds with
hysteresis on the way down; no tide model or high water is needed."""

from __future__ import annotations

import pytest
from alert_helpers import feed, kinds, reading


def test_water_level_warning_fires_on_the_first_reading_at_the_level(engine, registry):
    levels = registry.stations["dalian"].thresholds["warning_water_level_m"]
    assert (levels["blue"], levels["yellow"]) == (3.60, 3.80)  # the registry's, read by the rule
    # A rising surge at Dalian, one reading a minute; no indicator of any kind is fed.
    heights = [3.40, 3.55, 3.61, 3.70, 3.82, 3.75, 3.72, 3.65, 3.55, 3.40] + [3.30] * 40
    events = feed(engine, [reading("dalian", "water_level_m", i, h) for i, h in enumerate(heights)])
    surge = [e for e in events if e.rule == "water_level_warning" and e.kind != "renotify"]
    assert kinds(surge) == [
        ("firing", "blue", 2),  # the first reading at blue: zero readings of delay
        ("escalated", "yellow", 4),  # in place, same alert
        # 3.75 and 3.72 stay above yellow's exit (3.70); 3.65 at minute 7 is below it but still
        # blue, and the rule holds a severity for its keep_firing (30 min) before stepping down.
        ("deescalated", "blue", 37),
        ("resolved", "yellow", 39),  # 3.40 at minute 9 leaves blue; kept firing 30 min
    ]
    assert len({e.alert_id for e in surge}) == 1
    assert surge[0].alert_id.startswith("dalian/water_level_warning/")


def test_wave_warning_fires_on_the_first_high_wave_reading(engine):
    heights = [2.0, 2.4, 2.6, 3.6, 3.4, 3.2, 2.2] + [1.5] * 90
    events = feed(
        engine, [reading("liaodong-bay-buoy", "wave_height_m", 10 * i, h) for i, h in enumerate(heights)]
    )
    waves = [e for e in events if e.rule == "wave_warning" and e.kind != "renotify"]
    assert kinds(waves)[:3] == [
        ("firing", "blue", 20),
        ("escalated", "yellow", 30),
        # 3.4 holds yellow (exit 3.3); 3.2 at minute 50 does not, and keep_firing holds it 1 h.
        ("deescalated", "blue", 110),
    ]
    assert waves[-1].kind == "resolved"


@pytest.mark.parametrize("station", ["dalian", "yingkou"])
def test_level_warning_needs_no_tide_model(engine, registry, station):
    red = registry.stations[station].thresholds["warning_water_level_m"]["red"]
    (event,) = [
        e
        for e in engine.observe([reading(station, "water_level_m", 0, red)])
        if e.rule == "water_level_warning"
    ]
    assert (event.kind, event.severity) == ("firing", "red")
