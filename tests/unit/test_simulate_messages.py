"""Simulator messages against the real contract: clean ones validate, deliberate faults are refused."""

from __future__ import annotations

import itertools
import json
from collections import Counter

import numpy as np
import pytest

from schemas.contract import Validator, parse_time_us
from schemas.registry import load_registry
from services.simulate import faults as fk
from services.simulate.faults import FaultRates
from services.simulate.model import Simulation, rfc3339
from services.simulate.scenario import default_scenario
from services.simulate.synthetic import synthetic_registry

US = 1_000_000
HOUR_US = 3600 * US
START_US = 1_795_000_000 * US - (1_795_000_000 * US) % (60 * US)
# Frequent faults so two simulated days exercise every kind.
NOISY = FaultRates().with_overrides(
    {
        "spike": 0.02,
        "null_value": 0.02,
        "gap": 0.02,
        "duplicate": 0.02,
        "late_batch": 0.5,
        **{kind: 0.01 for kind in fk.CONTRACT_FAULTS},
    }
)


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def noisy(registry):
    sim = Simulation(registry, default_scenario(), seed=11, start_us=START_US, faults=NOISY)
    return sim, list(sim.messages_between(START_US, START_US + 48 * HOUR_US))


def test_rfc3339_round_trips_through_the_contract_parser():
    for t in (START_US, START_US + 1, 1_700_000_000_123_456):
        text = rfc3339(t)
        assert text.endswith("Z")
        assert parse_time_us(text) == t


def test_clean_messages_validate_and_counts_match_ingest(noisy, registry):
    _sim, messages = noisy
    validator = Validator(registry)
    clean = [m for m in messages if m.fault not in fk.CONTRACT_FAULTS]
    assert len(clean) > 10_000
    for message in clean:
        verdict = validator.validate(message.topic, message.payload, message.time_us)
        assert verdict.refusals == [], (message.payload, verdict.refusals)
        assert verdict.accepted is not None
        assert len(verdict.accepted.samples) == message.samples
        assert verdict.accepted.count() == message.readings
        payload = json.loads(message.payload)
        measured = registry.get(message.station).variables
        for sample in [payload, *payload.get("backlog", [])]:
            if "values" in sample:
                assert set(sample["values"]) <= measured


def test_every_contract_fault_is_refused_with_its_reason(noisy, registry):
    _, messages = noisy
    validator = Validator(registry)
    seen = Counter()
    for message in messages:
        if message.fault in fk.CONTRACT_FAULTS:
            verdict = validator.validate(message.topic, message.payload, message.time_us)
            reasons = {r.reason for r in verdict.refusals}
            assert reasons == {fk.CONTRACT_FAULT_REASON[message.fault]}, (message.fault, verdict.refusals)
            accepted = verdict.accepted.count() if verdict.accepted else 0
            assert accepted == message.readings
            seen[message.fault] += 1
    assert set(seen) == set(fk.CONTRACT_FAULTS)


def test_contract_faults_are_rare_with_default_rates(registry):
    sim = Simulation(registry, default_scenario(), seed=5, start_us=START_US, faults=True)
    messages = list(sim.messages_between(START_US, START_US + 24 * HOUR_US))
    broken = sum(m.fault in fk.CONTRACT_FAULTS for m in messages)
    assert broken < 0.005 * len(messages)


def test_duplicates_repeat_the_previous_message(noisy):
    _, messages = noisy
    duplicates = [i for i, m in enumerate(messages) if m.fault == fk.DUPLICATE]
    assert duplicates
    for i in duplicates:
        original = max(j for j in range(i) if messages[j].station == messages[i].station)
        assert messages[original].payload == messages[i].payload


def test_late_batches_carry_the_outage_in_their_backlog(noisy, registry):
    _sim, messages = noisy
    validator = Validator(registry)
    late = [m for m in messages if m.fault == fk.LATE_BATCH]
    assert late
    for message in late:
        payload = json.loads(message.payload)
        backlog = [parse_time_us(s["time"]) for s in payload["backlog"]]
        assert backlog == sorted(backlog) and backlog[-1] < message.time_us
        # while the station was offline it published nothing live
        live = [m.time_us for m in messages if m.station == message.station and m.fault != fk.LATE_BATCH]
        assert not [t for t in live if backlog[0] <= t <= backlog[-1]]
        assert validator.validate(message.topic, message.payload, message.time_us).refusals == []


def test_scenario_silence_and_late_batch(registry):
    sim = Simulation(registry, default_scenario(), seed=2, start_us=START_US, faults=False)
    _, _, silent_start, silent_end, _ = next(r for r in sim.timeline() if r[1] == "silent")
    _, _, out_start, out_end, _ = next(r for r in sim.timeline() if r[1] == "late_batch")
    lushun = [
        m for m in sim.messages_between(silent_start - HOUR_US, silent_end + HOUR_US) if m.station == "lushun"
    ]
    times = np.array([m.time_us for m in lushun])
    assert not ((times >= silent_start) & (times < silent_end)).any()
    assert (times < silent_start).any() and (times >= silent_end).any()  # silent, then back
    zhuanghe = [m for m in sim.messages_between(out_start, out_end + HOUR_US) if m.station == "zhuanghe"]
    batch = next(m for m in zhuanghe if m.fault == fk.LATE_BATCH)
    assert batch.time_us >= out_end
    assert batch.samples == (out_end - out_start) // (60 * US) + 1  # every buffered minute + the live one


def test_sensor_faults_spike_flat_line_null(noisy, registry):
    _sim, messages = noisy
    kinds = Counter(kind for m in messages if m.fault != fk.DUPLICATE for kind in m.value_faults)
    assert kinds[fk.SPIKE] and kinds[fk.NULL_VALUE]
    nulls = [m for m in messages if fk.NULL_VALUE in m.value_faults and m.fault is None]
    assert any(None in json.loads(m.payload)["values"].values() for m in nulls)


def test_flat_line_freezes_one_variable(registry):
    rates = FaultRates.off().with_overrides({"flat_line": 1.0})
    sim = Simulation(
        registry, default_scenario(), seed=4, start_us=START_US, faults=rates, stations=["dalian"]
    )
    block_us = 3 * HOUR_US  # a stuck sensor stays stuck for a 3-hour block of UTC time
    t0 = -(-START_US // block_us) * block_us
    samples = list(sim.samples_between(t0, t0 + block_us))
    stuck = [v for v in samples[0][2] if len({s[2][v] for s in samples}) == 1]
    assert len(stuck) == 1 and len(samples) == 180


def test_no_faults_when_off(registry):
    sim = Simulation(registry, default_scenario(), seed=4, start_us=START_US, faults=False)
    messages = list(sim.messages_between(START_US, START_US + 12 * HOUR_US))
    assert all(m.fault is None and not m.value_faults for m in messages)
    assert not sim.dropped[fk.GAP]


def test_same_seed_same_messages_in_any_windows(registry):
    a = Simulation(registry, default_scenario(), seed=9, start_us=START_US, faults=NOISY)
    b = Simulation(registry, default_scenario(), seed=9, start_us=START_US, faults=NOISY)
    whole = [m.payload for m in a.messages_between(START_US, START_US + 6 * HOUR_US)]
    cuts = START_US + np.cumsum([0, 7, 900, 3600, 61, 9000, 8032]) * US
    pieces = [m.payload for t0, t1 in itertools.pairwise(cuts) for m in b.messages_between(t0, t1)]
    assert cuts[-1] == START_US + 6 * HOUR_US
    assert sorted(whole) == sorted(pieces)
    other = Simulation(registry, default_scenario(), seed=10, start_us=START_US, faults=NOISY)
    assert [m.payload for m in other.messages_between(START_US, START_US + HOUR_US)] != whole[
        : len(whole) // 6
    ]


def test_messages_are_time_ordered_and_never_ahead_of_the_window(noisy):
    _, messages = noisy
    times = [m.time_us for m in messages]
    assert times == sorted(times)
    assert times[0] >= START_US and times[-1] < START_US + 48 * HOUR_US


def test_synthetic_registry_clones_validate(registry):
    synthetic = synthetic_registry(40, seed=1, network="bench")
    assert len(synthetic) == 40 and len(set(synthetic.stations)) == 40
    kinds = Counter(s.kind for s in synthetic.stations.values())
    assert kinds["tide_gauge"] > kinds["seagrass"] > 0
    dandong = synthetic.get("dandong-0003")
    assert abs(dandong.latitude - registry.get("dandong").latitude) <= 0.15
    sim = Simulation(synthetic, default_scenario(), seed=1, start_us=START_US, faults=False)
    assert sim.model("dandong-0003").tide.amplitude_m.sum() > sim.model("dalian-0000").tide.amplitude_m.sum()
    validator = Validator(synthetic)
    messages = list(sim.messages_between(START_US, START_US + HOUR_US))
    assert len(messages) > 600
    assert all(m.topic.startswith("tidewatch/v1/bench/") for m in messages)
    assert all(not validator.validate(m.topic, m.payload, m.time_us).refusals for m in messages)


def test_station_filter(registry):
    sim = Simulation(registry, None, seed=1, start_us=START_US, stations=["dalian", "changhai-seagrass"])
    assert {m.station for m in sim.messages_between(START_US, START_US + HOUR_US)} == {
        "dalian",
        "changhai-seagrass",
    }
    with pytest.raises(ValueError, match="atlantis"):
        Simulation(registry, None, seed=1, start_us=START_US, stations=["atlantis"])
