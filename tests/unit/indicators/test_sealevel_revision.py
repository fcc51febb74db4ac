"""QC flag revisions: a reading QC later downgrades is withdrawn from every sea-level indicator it fed.

The invariant: feed provisional flags then corrections (downgrades, upgrades, late ones, re-sends) with
restarts in between, and the last value emitted per key equals the batch over the final usable readings.
"""

from __future__ import annotations

import numpy as np
import pytest
from test_sealevel_stream import CFG, US_PER_HOUR, assert_last_equals_batch
from test_sealevel_tide import LATITUDE, T0_US, US_PER_DAY, synthetic_series

from schemas.indicators import Indicator
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import TideModel, fit_tide
from tests.unit.indicators.changelog import apply_pieces
from tests.unit.indicators.qc_feed import FAIL, GOOD, SUSPECT, qc_feed

US_PER_MIN = 60_000_000
HOUR0_US = T0_US + 16 * US_PER_DAY  # 2024-03-17 00:00 UTC: the start of an hour and a day
MEAN_KEYS = {"msl_hourly_m": HOUR0_US, "msl_daily_m": HOUR0_US, "msl_monthly_m": T0_US}


@pytest.fixture(scope="module")
def model() -> TideModel:
    # 30 days (N2 resolved): the surge passes the quality bar and goes out as surge_m.
    history_t, history_h, _ = synthetic_series(16, step_s=360, noise_m=0.02, seed=7, start_day=-14)
    return fit_tide(history_t, history_h, LATITUDE)


def _history(records: list[Indicator]) -> dict[tuple[str, int], list[float | None]]:
    out: dict[tuple[str, int], list[float | None]] = {}
    for r in records:
        out.setdefault((r.indicator, r.time_us), []).append(r.value)
    return out


def _last(records: list[Indicator], indicator: str) -> dict[int, float | None]:
    return {r.time_us: r.value for r in records if r.indicator == indicator}


@pytest.mark.parametrize("seed", [3, 4])
def test_last_emitted_equals_batch_over_final_usable_readings(model: TideModel, seed: int) -> None:
    rng = np.random.default_rng(seed)
    times, levels, _ = synthetic_series(20, noise_m=0.03, seed=seed, surge_peak_day=18.5)
    keep = times >= T0_US + 16.5 * US_PER_DAY
    times, levels = times[keep], levels[keep]
    spikes = rng.random(times.size) < 0.01
    levels[spikes] += rng.choice([-1.0, 1.0], int(spikes.sum())) * rng.uniform(0.4, 1.5, int(spikes.sum()))
    levels[rng.random(times.size) < 0.005] = np.nan
    wave_t = times[::10]
    waves = 2.0 + 2.5 * np.sin(np.arange(wave_t.size) / 40.0) ** 2
    wave_spikes = rng.random(wave_t.size) < 0.05
    waves[wave_spikes] += 4.0
    delays = {"max_delay_us": 5 * US_PER_HOUR, "max_revision_us": 8 * US_PER_HOUR}
    level_feed = qc_feed(times, levels, spikes, rng, **delays)
    wave_feed = qc_feed(wave_t, waves, wave_spikes, rng, **delays)
    assert level_feed.revisions_of((GOOD, FAIL)) > 10 and level_feed.revisions_of((SUSPECT, GOOD)) > 10
    assert level_feed.revisions_of((GOOD, SUSPECT)) > 10

    # Both variables' results in one arrival order, fed in random chunks, restarting now and then.
    variable = np.repeat(["water_level_m", "wave_height_m"], [level_feed.index.size, wave_feed.index.size])
    arrival = np.concatenate([level_feed.arrival_us, wave_feed.arrival_us])
    order = np.argsort(arrival, kind="stable")
    columns = [
        np.concatenate([level_feed.index, wave_feed.index])[order],
        np.concatenate([level_feed.value, wave_feed.value])[order],
        np.concatenate([level_feed.flag, wave_feed.flag])[order],
    ]
    series_t = {"water_level_m": times, "wave_height_m": wave_t}
    variable = variable[order]
    state = SeaLevelState(CFG, [model])
    changelog: dict[str, object] = {}
    emitted: list[Indicator] = []
    position, batches = 0, 0
    while position < order.size:
        chunk = slice(position, position + int(rng.integers(1, 250)))
        position = chunk.stop
        batches += 1
        for name in ("water_level_m", "wave_height_m"):
            mine = variable[chunk] == name
            index, values, flags = (c[chunk][mine] for c in columns)
            emitted += state.update(name, series_t[name][index], values, flags)
        apply_pieces(changelog, state.export())
        if batches % 13 == 0:
            state = SeaLevelState.from_pieces(CFG, changelog)
    assert state.late_dropped == 0

    usable = level_feed.final_usable(times.size)
    wave_usable = wave_feed.final_usable(wave_t.size)
    batch = compute_indicators(
        CFG, times[usable], levels[usable], [model], wave_t[wave_usable], waves[wave_usable]
    )
    assert_last_equals_batch(emitted, batch, state.watermark_us)
    history = _history(emitted)
    # Revisions really withdrew readings: surges and wave warnings that were emitted, then retracted.
    retracted = {k[0] for k, v in history.items() if v[-1] is None and any(x is not None for x in v)}
    assert {"surge_m", "tide_predicted_m", "wave_warning"} <= retracted
    corrected = {k[0] for k, v in history.items() if len(set(v)) > 1}
    assert {"msl_hourly_m", "msl_daily_m", "high_water_m", "low_water_m", "surge_max_cycle_m"} <= corrected
    # Keeping the spikes would have given other high and low waters: the withdrawals mattered there too.
    kept = {(r.indicator, r.time_us): r.value for r in compute_indicators(CFG, times, levels, [model])}
    for kind in ("high_water_m", "low_water_m"):
        assert any(kept.get((r.indicator, r.time_us)) != r.value for r in batch if r.indicator == kind)


def _state(model: TideModel) -> tuple[SeaLevelState, list[Indicator]]:
    """Three readings in the first minutes of an hour: 1.0, 2.0 and 4.0 m."""
    state = SeaLevelState(SeaLevelConfig("hand", 60.0), [model])
    times = HOUR0_US + np.array([0, 1, 2]) * US_PER_MIN
    return state, state.update("water_level_m", times, np.array([1.0, 2.0, 4.0]), np.array([1, 1, 1]))


def test_a_downgraded_reading_leaves_the_means_and_its_surge_is_retracted(model: TideModel) -> None:
    state, first = _state(model)
    assert _last(first, "msl_hourly_m") == {HOUR0_US: pytest.approx(7 / 3)}
    out = state.update("water_level_m", [HOUR0_US + US_PER_MIN], [2.0], [FAIL])
    for indicator, start_us in MEAN_KEYS.items():
        assert _last(out, indicator) == {start_us: 2.5}
    minutes_in_march = 31 * 24 * 60
    assert _last(out, "msl_monthly_completeness_pct") == {T0_US: pytest.approx(100 * 2 / minutes_in_march)}
    assert _last(out, "surge_m") == {HOUR0_US + US_PER_MIN: None}
    assert _last(out, "tide_predicted_m") == {HOUR0_US + US_PER_MIN: None}
    assert sorted(state.raw) == [HOUR0_US, HOUR0_US + 2 * US_PER_MIN]
    assert state.sums["hour"] == {HOUR0_US: [2, 5_000_000]}


def test_withdrawing_every_reading_of_an_interval_retracts_its_means(model: TideModel) -> None:
    state, _ = _state(model)
    times = HOUR0_US + np.array([0, 1, 2]) * US_PER_MIN
    # A suspect flag, a good flag on a NaN value and a failed flag: none of them is usable.
    out = state.update("water_level_m", times, np.array([1.0, np.nan, 4.0]), np.array([SUSPECT, GOOD, FAIL]))
    for indicator, start_us in MEAN_KEYS.items():
        assert _last(out, indicator) == {start_us: None}
    assert _last(out, "msl_monthly_completeness_pct") == {T0_US: None}
    assert _last(out, "surge_m") == dict.fromkeys(times.tolist())
    assert state.raw == {} and all(sums == {} for sums in state.sums.values())
    assert state.watermark_us == times[-1]  # a withdrawal does not move the watermark back
    # Upgraded again (SUSPECT -> GOOD): the reading counts once more.
    out = state.update("water_level_m", times[:1], [1.0], [GOOD])
    assert _last(out, "msl_hourly_m") == {HOUR0_US: 1.0}
    assert _last(out, "surge_m")[HOUR0_US] is not None


def test_results_for_one_time_upsert_and_replays_change_nothing(model: TideModel) -> None:
    state, _ = _state(model)
    t = HOUR0_US + 2 * US_PER_MIN
    # Within one call the last result for a time wins, flag and value together.
    out = state.update("water_level_m", [t, t], [4.0, 3.0], [FAIL, GOOD])
    assert _last(out, "msl_hourly_m") == {HOUR0_US: 2.0}
    assert state.update("water_level_m", [t], [3.0], [GOOD]) == []
    out = state.update("water_level_m", [t, t], [3.0, 3.0], [GOOD, SUSPECT])
    assert _last(out, "msl_hourly_m") == {HOUR0_US: 1.5}
    # A reading that was never usable has nothing to withdraw.
    assert state.update("water_level_m", [t + US_PER_MIN], [9.0], [FAIL]) == []


def test_flags_none_means_all_good_and_old_withdrawals_are_counted(model: TideModel) -> None:
    state, _ = _state(model)
    later = HOUR0_US + 49 * US_PER_HOUR
    state.update("water_level_m", [later], [1.5])
    assert state.update("water_level_m", [HOUR0_US], [1.0], [FAIL]) == []
    assert state.late_dropped == 1 and state.raw == {later: 1_500_000}
