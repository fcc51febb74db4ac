"""High/low waters, mean sea level, trend and warning levels on data whose answers are known by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.signal import find_peaks
from test_sealevel_tide import LATITUDE, T0_US, US_PER_DAY, synthetic_series, true_tide

from schemas.registry import load_registry
from streams.indicators.sealevel.catalogue import CATALOGUE
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.extrema import HIGH, LOW, find_extrema
from streams.indicators.sealevel.means import to_um
from streams.indicators.sealevel.tide import fit_tide
from streams.indicators.sealevel.trend import sea_level_trend, trend_indicators
from streams.indicators.sealevel.warnings import ThresholdError, classify, parse_thresholds

US_PER_HOUR = 3_600_000_000
WAVES = parse_thresholds("buoy", "wave_height_m", {"blue": 2.5, "yellow": 3.5, "orange": 4.5, "red": 6.0})


def _values(records: list, indicator: str) -> dict[int, float]:
    return {r.time_us: r.value for r in records if r.indicator == indicator}


# -- high and low waters -------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def truth() -> dict[str, np.ndarray]:
    """High and low waters of the noise-free tide, from a 20-second series (no smoothing involved)."""
    times = T0_US + np.arange(0, 5 * 86_400, 20, dtype=np.int64) * 1_000_000
    tide = true_tide(times)
    highs, _ = find_peaks(tide, distance=4 * 180)
    lows, _ = find_peaks(-tide, distance=4 * 180)
    return {"high": times[highs], "high_m": tide[highs], "low": times[lows], "low_m": tide[lows]}


def _match(found: list, kind: str, truth: dict, start: int, end: int) -> None:
    expected = (truth[kind] > start) & (truth[kind] < end)
    got = [e for e in found if e.kind == kind and start < e.time_us < end]
    assert len(got) == int(expected.sum())
    for e, t, h in zip(got, truth[kind][expected], truth[f"{kind}_m"][expected], strict=True):
        assert abs(e.time_us - t) <= 10 * 60 * 1_000_000
        assert e.height_m == pytest.approx(h, abs=0.02)


def test_high_and_low_waters_in_noise(truth: dict) -> None:
    # 1-minute readings with 5 cm white noise: each turn of the tide found once, within 10 min and 2 cm.
    times, levels, _ = synthetic_series(5, noise_m=0.05, seed=11)
    found = find_extrema(times, to_um(levels))
    inner = (T0_US + 4 * US_PER_HOUR, T0_US + 5 * US_PER_DAY - 4 * US_PER_HOUR)
    _match(found, HIGH, truth, *inner)
    _match(found, LOW, truth, *inner)
    kinds = [e.kind for e in sorted(found, key=lambda e: e.time_us)]
    assert all(a != b for a, b in itertools.pairwise(kinds))  # high and low alternate


def test_a_gap_does_not_create_a_turn(truth: dict) -> None:
    times, levels, _ = synthetic_series(5, noise_m=0.02, seed=5)
    rising = truth["low"][3] + 2 * US_PER_HOUR  # two hours into a flood tide
    keep = (times < rising) | (times > rising + int(2.5 * US_PER_HOUR))
    found = find_extrema(times[keep], to_um(levels[keep]))
    inner = (T0_US + 4 * US_PER_HOUR, T0_US + 5 * US_PER_DAY - 4 * US_PER_HOUR)
    _match(found, HIGH, truth, *inner)
    _match(found, LOW, truth, *inner)


def test_high_water_warning_levels_and_surge_maximum_per_cycle() -> None:
    # A model fitted on 30 noise-free days predicts the tide to ~1 mm, so the surge is the injected one.
    history = T0_US - 30 * US_PER_DAY + np.arange(0, 30 * 86_400, 360, dtype=np.int64) * 1_000_000
    model = fit_tide(history, true_tide(history), LATITUDE)
    thresholds = {"blue": 2.5, "yellow": 2.85, "orange": 3.2, "red": 3.5}
    cfg = SeaLevelConfig(
        "synthetic",
        60.0,
        water_level_thresholds=parse_thresholds("synthetic", "warning_water_level_m", thresholds),
    )
    times = T0_US + np.arange(0, 3 * 86_400, 60, dtype=np.int64) * 1_000_000
    surge = 0.8 * np.exp(-0.5 * ((times - T0_US - 1.5 * US_PER_DAY) / (6 * US_PER_HOUR)) ** 2)
    records = compute_indicators(cfg, times, true_tide(times) + surge, [model])
    highs, levels_at_high = _values(records, "high_water_m"), _values(records, "water_level_warning")
    assert highs.keys() == levels_at_high.keys() and len(highs) >= 5
    for t, h in highs.items():
        assert levels_at_high[t] == sum(h >= x for x in thresholds.values())
    assert len(set(levels_at_high.values())) >= 4  # the surge lifts high waters through several levels
    lows = sorted(_values(records, "low_water_m"))
    cycle_max = _values(records, "surge_max_cycle_m")
    assert len(cycle_max) == len(lows) - 1
    for start, end in itertools.pairwise(lows):
        inside = (times >= start) & (times < end)
        k = int(np.argmax(surge[inside]))
        peak_time = int(times[inside][k])
        assert cycle_max[peak_time] == pytest.approx(surge[inside][k], abs=0.005)


# -- mean sea level -----------------------------------------------------------------------------------
def test_hourly_daily_monthly_means_and_completeness_by_hand() -> None:
    cfg = SeaLevelConfig("gauge", sampling_interval_s=600.0)
    t = int(np.datetime64("2024-02-10T00:00", "us").astype(np.int64))
    minute = 60_000_000
    times = np.array([t, t + 10 * minute, t + 20 * minute, t + 70 * minute, t + US_PER_DAY], dtype=np.int64)
    levels = np.array([1.0, 1.2, 1.4, 2.0, 3.0])
    # Shuffled and with a superseded duplicate (the later copy wins, as an upsert would).
    order = [4, 2, 0, 3, 1]
    records = compute_indicators(cfg, np.r_[times[order], t], np.r_[levels[order], 1.0])
    hourly = _values(records, "msl_hourly_m")
    assert hourly == {t: pytest.approx(1.2), t + US_PER_HOUR: 2.0, t + US_PER_DAY: 3.0}
    assert _values(records, "msl_daily_m") == {t: pytest.approx(1.4), t + US_PER_DAY: 3.0}
    feb = int(np.datetime64("2024-02-01", "us").astype(np.int64))
    assert _values(records, "msl_monthly_m") == {feb: pytest.approx(8.6 / 5)}
    # February 2024 has 29 days = 4176 nominal 10-minute readings; 5 arrived.
    assert _values(records, "msl_monthly_completeness_pct") == {feb: pytest.approx(100 * 5 / 4176)}
    assert all(r.unit == CATALOGUE[r.indicator].unit for r in records)


# -- trend --------------------------------------------------------------------------------------------
def _monthly_series(rng: np.random.Generator, phi: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    months = np.arange("1990-01", "2020-01", dtype="datetime64[M]")
    years = (months - months[0]).astype(float) / 12
    noise = np.zeros(years.size)
    shocks = 30.0 * rng.standard_normal(years.size)
    for i in range(1, years.size):
        noise[i] = phi * noise[i - 1] + shocks[i]
    msl_mm = 1800 + 3.0 * years + 100 * np.cos(2 * np.pi * years - 1) + noise
    return months.astype("datetime64[us]").astype(np.int64), msl_mm / 1000, years


def test_trend_interval_covers_truth_under_ar1_noise_and_is_wider_than_naive() -> None:
    # 3 mm/yr + a 100 mm seasonal cycle + AR(1) noise (phi 0.7): 200 records of 30 years.
    rng = np.random.default_rng(42)
    covered = naive_covered = 0
    widths, naive_widths = [], []
    for _ in range(200):
        starts, msl, _ = _monthly_series(rng, 0.7)
        result = sea_level_trend(starts, msl)
        assert result is not None
        covered += result.ci_low_mm_yr <= 3.0 <= result.ci_high_mm_yr
        naive_half = 1.97 * result.naive_se_mm_yr
        naive_covered += abs(result.slope_mm_yr - 3.0) <= naive_half
        widths.append(result.ci_high_mm_yr - result.ci_low_mm_yr)
        naive_widths.append(2 * naive_half)
    assert covered / 200 >= 0.9
    assert naive_covered / 200 < 0.8
    assert np.mean(widths) > 1.8 * np.mean(naive_widths)
    assert result.n_months == 360 and result.record_years == pytest.approx(30.0, abs=0.01)
    assert 0.5 < result.lag1_autocorrelation < 0.85


def test_trend_uses_complete_months_and_needs_enough_of_them() -> None:
    starts, msl, _ = _monthly_series(np.random.default_rng(1), 0.3)
    completeness = np.full(starts.size, 100.0)
    completeness[::2] = 40.0
    msl_spoilt = msl.copy()
    msl_spoilt[::2] += 5.0  # would wreck the slope if these incomplete months were used
    result = sea_level_trend(starts, msl_spoilt, completeness)
    assert result is not None and result.n_months == starts.size // 2
    assert result.ci_low_mm_yr <= 3.0 <= result.ci_high_mm_yr
    assert sea_level_trend(starts[:23], msl[:23]) is None
    ids = [r.indicator for r in trend_indicators("gauge", result)]
    assert ids == [
        "sea_level_trend_mm_yr",
        "sea_level_trend_ci_low_mm_yr",
        "sea_level_trend_ci_high_mm_yr",
        "sea_level_trend_record_yr",
    ]


# -- warning levels -----------------------------------------------------------------------------------
def test_wave_classification_at_the_boundaries() -> None:
    heights = np.array([0.0, 2.49, 2.5, 3.49, 3.5, 4.5, 5.99, 6.0, 9.0, np.nan])
    assert classify(heights, WAVES).tolist() == [0, 0, 1, 1, 2, 3, 3, 4, 4, 0]
    cfg = SeaLevelConfig("buoy", 600.0, wave_thresholds=WAVES)
    records = compute_indicators(
        cfg,
        np.empty(0, dtype=np.int64),
        np.empty(0),
        wave_times_us=np.array([1, 2]),
        wave_heights_m=[3.6, 1.0],
    )
    assert _values(records, "wave_warning") == {1: 2.0, 2: 0.0}


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ({"blue": 1.0, "yellow": 2.0, "orange": 3.0}, "missing red"),
        ({"blue": 1.0, "yellow": 2.0, "orange": 2.0, "red": 4.0}, "ascend"),
        ({"blue": 3.0, "yellow": 2.0, "orange": 4.0, "red": 5.0}, "ascend"),
        ({"blue": "1", "yellow": 2.0, "orange": 3.0, "red": 4.0}, "blue must be a finite number"),
        ({"blue": True, "yellow": 2.0, "orange": 3.0, "red": 4.0}, "blue must be a finite number"),
        ([1, 2, 3, 4], "expected a mapping"),
    ],
)
def test_threshold_validation_names_station_and_field(spec: object, message: str) -> None:
    with pytest.raises(ThresholdError, match=message) as err:
        parse_thresholds("dalian", "warning_water_level_m", spec)
    assert "station 'dalian' thresholds.warning_water_level_m" in str(err.value)


def test_registry_thresholds_load_for_every_station() -> None:
    registry = load_registry()
    configs = {sid: SeaLevelConfig.from_station(s) for sid, s in registry.stations.items()}
    dalian = configs["dalian"].water_level_thresholds
    assert dalian is not None and classify(3.85, dalian) == 2
    buoys = [c for c in configs.values() if c.wave_thresholds is not None]
    assert buoys and all(c.wave_thresholds == WAVES for c in buoys)
