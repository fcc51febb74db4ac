"""Streaming equals batch: shuffled, duplicated and late readings, a model added mid-stream, restarts."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_sealevel_tide import LATITUDE, T0_US, US_PER_DAY, synthetic_series

from schemas.indicators import Indicator
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import TideModel, fit_tide
from streams.indicators.sealevel.warnings import parse_thresholds
from tests.unit.indicators.changelog import apply_pieces

US_PER_HOUR = 3_600_000_000
EVENT_IDS = {"high_water_m", "low_water_m", "water_level_warning", "surge_max_cycle_m"}
CFG = SeaLevelConfig(
    "synthetic",
    60.0,
    water_level_thresholds=parse_thresholds(
        "synthetic", "warning_water_level_m", {"blue": 2.6, "yellow": 2.8, "orange": 3.0, "red": 3.2}
    ),
    wave_thresholds=parse_thresholds(
        "synthetic", "wave_height_m", {"blue": 2.5, "yellow": 3.5, "orange": 4.5, "red": 6.0}
    ),
)


@pytest.fixture(scope="module")
def case() -> dict[str, object]:
    """Four days of 1-minute readings with a surge, and two tide models (the second effective mid-way):
    the first on 16 days (N2 not resolved: provisional surge), the second on 30 days (trusted)."""
    history_t, history_h, _ = synthetic_series(18, step_s=360, noise_m=0.02, seed=7, start_day=-12)
    recent = history_t >= T0_US
    early = recent & (history_t < T0_US + 16 * US_PER_DAY)
    first = fit_tide(history_t[early], history_h[early], LATITUDE)
    second = fit_tide(history_t, history_h, LATITUDE)
    times, levels, _ = synthetic_series(19.5, noise_m=0.03, seed=8, surge_peak_day=18)
    keep = times >= T0_US + 15.5 * US_PER_DAY
    return {"times": times[keep], "levels": levels[keep], "models": [first, second]}


def _arrival_order(times: np.ndarray, rng: np.random.Generator, max_delay_us: int) -> np.ndarray:
    """Indices in arrival order: each reading delayed at random, 3 % sent twice."""
    again = rng.choice(times.size, times.size * 3 // 100, replace=False)
    index = np.concatenate([np.arange(times.size), again])
    arrival = times[index] + rng.integers(0, max_delay_us, index.size)
    return index[np.argsort(arrival, kind="stable")]


def _last_values(records: list[Indicator]) -> dict[tuple[str, int], float | None]:
    last: dict[tuple[str, int], float | None] = {}
    for r in records:
        last[(r.indicator, r.time_us)] = r.value
    return last


def assert_last_equals_batch(
    emitted: list[Indicator], batch: list[Indicator], watermark_us: int
) -> dict[tuple[str, int], float | None]:
    """The last value emitted per key is the batch's (a retracted key is absent from the batch); high/low
    waters and cycles within reach of the newest reading are not decided yet. Returns the live keys."""
    expected = {(r.indicator, r.time_us): r.value for r in batch}
    stream = {k: v for k, v in _last_values(emitted).items() if v is not None}
    decided = watermark_us - CFG.extrema.reach_us - CFG.extrema.fit_s * 1_000_000
    for key, value in expected.items():
        if key[0] in EVENT_IDS and key[1] > decided:
            continue
        assert stream.get(key) == value, key
    assert stream.keys() <= expected.keys()
    return stream


@pytest.mark.parametrize("seed", [1, 2])
def test_stream_equals_batch_whatever_the_order_with_restarts(case: dict, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times, levels = case["times"], case["levels"].copy()
    first, second = case["models"]
    order = _arrival_order(times, rng, 6 * US_PER_HOUR)
    # Some re-sent readings carry a corrected value: the last one to arrive wins, in stream and batch.
    corrected = rng.choice(order.size, 20, replace=False)
    values = levels[order]
    values[corrected] += 0.05

    state = SeaLevelState(CFG, [first])
    changelog: dict[str, object] = {}
    emitted: list[Indicator] = []
    position, batches, added = 0, 0, False
    while position < order.size:
        size = int(rng.integers(1, 400))
        chunk = slice(position, position + size)
        position += size
        batches += 1
        emitted += state.update("water_level_m", times[order[chunk]], values[chunk])
        if not added and state.watermark_us >= second.effective_from_us + 2 * US_PER_HOUR:
            emitted += state.add_model(TideModel.from_json(second.to_json()))
            added = True
        apply_pieces(changelog, state.export())
        if batches % 17 == 0:  # restart from what the changelog holds
            state = SeaLevelState.from_pieces(CFG, changelog)
    assert added and state.late_dropped == 0

    batch = compute_indicators(CFG, times[order], values, [first, second])
    stream = assert_last_equals_batch(emitted, batch, state.watermark_us)
    kinds = {k[0] for k in stream}
    assert EVENT_IDS | {"surge_m", "surge_provisional_m", "tide_predicted_m", "msl_monthly_m"} <= kinds
    # A reading has one surge: provisional before the second model took effect, trusted after it.
    provisional = {t for name, t in stream if name == "surge_provisional_m"}
    trusted = {t for name, t in stream if name == "surge_m"}
    assert not provisional & trusted
    assert max(provisional) < second.effective_from_us <= min(trusted)


def test_state_stays_bounded_and_restarts_exactly(case: dict) -> None:
    times, levels = case["times"], case["levels"]
    state = SeaLevelState(CFG, case["models"][:1])
    for chunk in np.array_split(np.arange(times.size), 20):
        state.update("water_level_m", times[chunk], levels[chunk])
    assert (
        len(state.raw) <= CFG.horizon_s // 60 + 1 + state.width_us // 60_000_000
    )  # evicted a slot at a time
    # Only the intervals that can still receive a reading: 48 h behind the newest one.
    assert len(state.sums["hour"]) <= 49 and len(state.sums["day"]) <= 3 and len(state.sums["month"]) <= 2
    pieces = json.loads(json.dumps(state.export(full=True)))
    assert len(json.dumps(pieces)) < 120_000
    again = SeaLevelState.from_pieces(CFG, pieces)
    assert json.loads(json.dumps(again.export(full=True))) == pieces
    more_t = times[-1] + np.arange(1, 600, dtype=np.int64) * 60_000_000
    more_h = levels[-600:-1]
    assert state.update("water_level_m", more_t, more_h) == again.update("water_level_m", more_t, more_h)


def test_too_late_readings_are_counted_not_applied(case: dict) -> None:
    times, levels = case["times"], case["levels"]
    state = SeaLevelState(CFG)
    state.update("water_level_m", times[-10:], levels[-10:])
    assert state.update("water_level_m", times[:3], levels[:3]) == []
    assert state.late_dropped == 3


def test_flags_and_waves(case: dict) -> None:
    state = SeaLevelState(CFG)
    out = state.update("wave_height_m", np.array([10, 20, 30]), np.array([3.6, 6.5, 7.0]), flags=[1, 1, 4])
    # The failed reading is not usable: its key is retracted (a no-op for a consumer that never had it).
    assert [(r.indicator, r.time_us, r.value) for r in out] == [
        ("wave_warning", 10, 2.0),
        ("wave_warning", 20, 4.0),
        ("wave_warning", 30, None),
    ]
    out = state.update("water_level_m", case["times"][:3], case["levels"][:3], flags=np.array([3, 1, 9]))
    hourly = [r for r in out if r.indicator == "msl_hourly_m"]
    assert len(hourly) == 1 and hourly[0].value == pytest.approx(round(case["levels"][1], 6))
