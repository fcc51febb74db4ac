"""Bloom risk, pH and salinity, salt intrusion and wetland inundation on synthetic series."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.registry import load_registry
from streams.indicators.ecology import EcologyParams, compute_batch, params_for_station
from streams.indicators.ecology.bloom import bloom_level
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.ecology_helpers import day_us, series_samples

HOUR_US = 3_600_000_000


def _daily(first_iso: str, n_days: int, per_day: int, **daily_values) -> list:
    """`per_day` readings a day, each day's value taken from the per-day arrays given."""
    start = day_us(first_iso)
    times = start + np.arange(n_days * per_day) * (DAY_US // per_day)
    columns = {name: np.repeat(np.asarray(v, dtype=float), per_day) for name, v in daily_values.items()}
    return series_samples(times, **columns)


@pytest.mark.parametrize(
    ("chl_high", "chl_rise", "supersaturated", "ph_rise", "level"),
    [
        (False, False, True, True, 0),
        (True, False, False, False, 1),
        (False, True, False, False, 1),
        (False, True, True, False, 2),
        (False, True, True, True, 2),
        (True, False, False, True, 2),
        (True, True, True, True, 3),
        (True, False, True, True, 3),
    ],
)
def test_bloom_levels(chl_high, chl_rise, supersaturated, ph_rise, level):
    assert (
        bloom_level(chl_high=chl_high, chl_rise=chl_rise, supersaturated=supersaturated, ph_rise=ph_rise)
        == level
    )


def test_bloom_risk_from_readings():
    # 14 quiet days (chl 2 µg/L, pH 8.00, DO near saturation) then a developing bloom.
    chl = [2.0] * 14 + [5.0, 12.0, 12.0, 12.0]
    ph = [8.00] * 14 + [8.00, 8.00, 8.05, 8.20]
    do = [7.4] * 14 + [7.4, 9.5, 9.5, 9.5]  # at 20 °C / S 35 saturation is 7.395 mg/L: 9.5 is 128 %
    n = len(chl)
    samples = _daily(
        "2024-06-01",
        n,
        24,
        chlorophyll_ug_l=chl,
        ph_total=ph,
        dissolved_oxygen_mg_l=do,
        water_temperature_degC=[20.0] * n,
        salinity_psu=[35.0] * n,
    )
    values = compute_batch("st", samples, EcologyParams(sampling_interval_s=3600))
    risk = [values[("bloom_risk", day_us("2024-06-01") + d * DAY_US)] for d in range(n)]
    # Day 15: 5 >= 2 x baseline 2 -> watch. Day 16: over 10 and supersaturated -> warning. Day 17:
    # pH up 0.05 only -> still warning. Day 18: pH up 0.2 -> bloom.
    assert risk == [0] * 14 + [1, 2, 2, 3]
    assert values[("chl_baseline_ug_l", day_us("2024-06-15"))] == 2.0
    assert ("chl_baseline_ug_l", day_us("2024-06-07")) not in values  # only 6 days of history


def test_ph_trend_and_salinity_anomaly():
    n = 40
    ph = 8.1 - 0.001 * np.arange(n)
    salinity = np.r_[np.full(30, 30.0), np.full(10, 27.5)]
    samples = _daily("2024-03-01", n, 6, ph_total=ph, salinity_psu=salinity)
    values = compute_batch("st", samples, EcologyParams(sampling_interval_s=14400))
    last = day_us("2024-03-01") + (n - 1) * DAY_US
    assert values[("ph_daily_mean", last)] == pytest.approx(ph[-1])
    assert values[("ph_trend_per_yr", last)] == pytest.approx(-0.001 * 365.25, rel=1e-9)
    assert ("ph_trend_per_yr", last - 11 * DAY_US) not in values  # 29 days of pH: too short
    # Trailing 30-day baseline: day 31 compares with 30 days of 30.0.
    assert values[("salinity_anomaly_psu", day_us("2024-03-31"))] == pytest.approx(-2.5)
    fixed = compute_batch("st", samples, EcologyParams(sampling_interval_s=14400, salinity_baseline_psu=31.0))
    assert fixed[("salinity_anomaly_psu", day_us("2024-03-01"))] == pytest.approx(-1.0)


def test_salt_intrusion_uses_the_station_limit():
    station = load_registry().get("liaohe-reedbed")
    params = params_for_station(station)
    assert params.porewater_salinity_limit_psu == 5.0
    samples = _daily("2024-09-01", 3, 48, porewater_salinity_psu=[4.0, 5.5, 5.0])
    values = compute_batch(station.id, samples, params)
    assert [values[("salt_intrusion", day_us("2024-09-01") + d * DAY_US)] for d in range(3)] == [0, 1, 0]


def test_wetland_inundation_per_day_and_month():
    station = load_registry().get("liaohe-saltmarsh")  # platform 1.40 m above the station datum
    params = params_for_station(station)
    start = day_us("2024-05-31")
    times = start + np.arange(96) * 1800 * 1_000_000
    level = np.full(96, 1.0)
    level[10:22] = 1.6  # 12 half-hours flooded on 31 May
    level[48 + 20 : 48 + 28] = 1.9  # 8 on 1 June
    level[48 + 28] = 1.40  # exactly at the platform: not flooded
    values = compute_batch(station.id, series_samples(times, water_level_m=level), params)
    may31, june1 = start, start + DAY_US
    assert values[("hydroperiod_daily_h", may31)] == 6.0
    assert values[("inundation_frequency_daily_pct", may31)] == 25.0
    assert values[("water_above_platform_m", may31)] == pytest.approx(0.2)
    assert values[("water_above_platform_m", june1)] == pytest.approx(0.5)
    assert values[("hydroperiod_daily_h", june1)] == 4.0
    assert values[("hydroperiod_monthly_h", day_us("2024-05-01"))] == 6.0
    assert values[("hydroperiod_monthly_h", day_us("2024-06-01"))] == 4.0
    assert values[("inundation_frequency_monthly_pct", day_us("2024-06-01"))] == pytest.approx(100 * 8 / 48)


def test_wetland_indicators_need_a_platform():
    samples = _daily("2024-05-01", 1, 48, water_level_m=[2.0])
    assert not any(
        name.startswith(("hydroperiod", "inundation"))
        for name, _ in compute_batch("st", samples, EcologyParams())
    )
