"""Scenarios and options as data: parsing, validation errors, selectors, fault rates, CLI values."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime

import pytest

from schemas.registry import load_registry
from services.simulate.cli import add_arguments, parse_duration_s, parse_start_us
from services.simulate.faults import FaultRates, parse_fault_option
from services.simulate.model import Simulation
from services.simulate.publisher import SimClock, chunk_us, default_start_us
from services.simulate.scenario import (
    EVENT_KINDS,
    ScenarioError,
    default_scenario,
    load_scenario,
    parse_scenario,
)

US = 1_000_000
START_US = 1_795_000_000 * US - (1_795_000_000 * US) % (60 * US)

SCENARIO_YAML = """
name: test-story
duration_h: 48
faults: {spike: 0.05, duplicate: 0}
events:
  - {kind: storm_surge, stations: ["kind:tide_gauge"], start_h: 10, duration_h: 12, peak_m: 0.8,
     align_high_water: false}
  - {kind: hypoxia, stations: ["area:liaodong-bay"], start_h: 5, align_night: false}
  - {kind: silent, stations: ["liaohe-*"], start_h: 1, duration_h: 2}
"""


def test_default_scenario_covers_every_event_kind():
    scenario = default_scenario()
    assert {e.kind for e in scenario.events} == set(EVENT_KINDS)
    assert scenario.duration_h == 240
    assert all(0 <= e.start_h < scenario.duration_h for e in scenario.events)


def test_load_scenario_from_yaml_with_selectors(tmp_path):
    path = tmp_path / "story.yaml"
    path.write_text(SCENARIO_YAML, encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.name == "test-story" and scenario.duration_h == 48
    assert scenario.faults.spike == 0.05 and scenario.faults.duplicate == 0.0
    assert scenario.faults.gap == FaultRates().gap
    sim = Simulation(load_registry(), scenario, seed=1, start_us=START_US)
    placed = {(station, kind) for station, kind, *_ in sim.timeline()}
    surged = {s for s, k in placed if k == "storm_surge"}
    assert surged == {"dalian", "lushun", "zhuanghe", "dandong", "bayuquan", "yingkou", "huludao"}
    assert {s for s, k in placed if k == "hypoxia"} == {"liaodong-bay-buoy", "jinzhou-bay-buoy"}
    assert {s for s, k in placed if k == "silent"} == {"liaohe-saltmarsh", "liaohe-reedbed"}
    surge = next(r for r in sim.timeline() if r[1] == "storm_surge")
    assert surge[2] == START_US + 10 * 3600 * US  # not moved: align_high_water is false
    assert surge[3] - surge[2] == 12 * 3600 * US and surge[4]["add_m"] == 0.8


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"events": [{"kind": "tsunami", "start_h": 1}]}, "must be one of"),
        ({"events": [{"kind": "bloom"}]}, "start_h"),
        ({"events": [{"kind": "bloom", "start_h": 1, "peak": 30}]}, "unknown fields \\['peak'\\]"),
        ({"events": [{"kind": "bloom", "start_h": -1}]}, "start_h must be >= 0"),
        ({"events": [{"kind": "silent", "start_h": 1, "stations": 5}]}, "stations"),
        ({"faults": {"meteor": 0.1}}, "unknown fault kinds"),
        ([], "expected a mapping"),
    ],
)
def test_invalid_scenarios_name_the_problem(document, message):
    with pytest.raises(ScenarioError, match=message):
        parse_scenario(document)


def test_fault_option():
    assert parse_fault_option("on") == FaultRates()
    assert parse_fault_option("off") == FaultRates.off()
    rates = parse_fault_option("spike=0.5, gap=0")
    assert rates.spike == 0.5 and rates.gap == 0.0 and rates.duplicate == FaultRates().duplicate
    with pytest.raises(ValueError, match="unknown fault kinds"):
        parse_fault_option("comet=0.1")
    with pytest.raises(ValueError, match="not a probability"):
        parse_fault_option("spike=2")
    with pytest.raises(ValueError, match="kind=rate"):
        parse_fault_option("spiky")


def test_durations_and_start_times():
    assert parse_duration_s("90") == 90 and parse_duration_s("15m") == 900
    assert parse_duration_s("6h") == 21_600 and parse_duration_s("30d") == 2_592_000
    with pytest.raises(argparse.ArgumentTypeError):
        parse_duration_s("a while")
    now_us = START_US
    assert parse_start_us("-10d", now_us) == now_us - 10 * 86_400 * US
    assert parse_start_us("now-36h", now_us) == now_us - 36 * 3600 * US
    expected = int(datetime(2026, 11, 1, tzinfo=UTC).timestamp()) * US
    assert parse_start_us("2026-11-01T00:00:00Z", now_us) == expected
    assert parse_start_us("2026-11-01T08:00:00+08:00", now_us) == expected
    assert parse_start_us("2026-11-01T00:00:00", now_us) == expected  # UTC when no offset


def test_cli_defaults():
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--stations", "dalian,lushun", "--stations", "yingkou", "--duration", "2d"])
    assert args.speedup == 3600 and args.rate == 1000 and args.seed == 1 and args.faults == "on"
    assert args.stations == ["dalian,lushun", "yingkou"] and args.duration == 172_800


def test_default_start_replays_the_scenario_up_to_now():
    now_us = START_US + 37 * US
    start = default_start_us(now_us, default_scenario())
    assert start % (60 * US) == 0
    assert now_us - start == pytest.approx(240 * 3600 * US, abs=60 * US)


def test_clock_never_runs_ahead_of_the_wall():
    wall_us = int(datetime.now(UTC).timestamp() * US)
    replaying = SimClock(wall_us - 3600 * US, speedup=10.0)
    assert replaying.now_us() < wall_us
    assert replaying.seconds_until(wall_us - 3590 * US) == pytest.approx(1.0, abs=0.05)
    caught_up = SimClock(wall_us - 10 * US, speedup=1e9)
    assert abs(caught_up.now_us() - wall_us) < 1 * US
    assert caught_up.seconds_until(wall_us + 2 * US) == pytest.approx(2.0, abs=0.2)  # live: 1x
    assert chunk_us(0.125, 14) == 40_320 * US  # the sample network: 7/60 + 4/600 + 3/1800 messages a second
    assert chunk_us(100.0, 10_000) == 500 * US  # many stations: memory-bound
    assert chunk_us(1000.0, 14) == 60 * US and chunk_us(0.0, 1) == 86_400 * US
