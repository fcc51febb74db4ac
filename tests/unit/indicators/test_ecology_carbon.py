"""Blue carbon arithmetic against hand-computed cases (FLUXNET signs: negative = uptake)."""

from __future__ import annotations

import numpy as np
import pytest

from streams.indicators.ecology import EcologyParams, compute_batch
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.ecology_helpers import day_us, series_samples

HALF_HOUR_US = 1800 * 1_000_000
PARAMS = EcologyParams(sampling_interval_s=1800)
NAN = float("nan")


def _day(iso: str, fc: float, fch4: float, *, ch4_every: int = 1) -> list:
    start = day_us(iso)
    times = start + np.arange(48) * HALF_HOUR_US
    ch4 = [fch4 if i % ch4_every == 0 else NAN for i in range(48)]
    return series_samples(times, co2_flux_umol_m2_s=np.full(48, fc), ch4_flux_nmol_m2_s=np.array(ch4))


def test_one_full_day_by_hand():
    values = compute_batch("st", _day("2024-06-10", -5.0, 20.0), PARAMS)
    key = day_us("2024-06-10")
    # -5 µmol m-2 s-1 all day: -5e-6 mol x 12.011 g/mol x 86400 s = -5.188752 g C (the 1.0378 rule).
    assert values[("nee_daily_gC_m2", key)] == pytest.approx(-5.188752, rel=1e-12)
    assert values[("nee_daily_gC_m2", key)] == pytest.approx(-5 * 1.0378, rel=1e-4)
    # 20 nmol CH4: 20e-9 x 12.011 x 86400 = 0.020755 g C = 0.0277 g CH4 = 0.748 g CO2-eq (GWP100 27).
    assert values[("ch4_daily_gC_m2", key)] == pytest.approx(0.020755008, rel=1e-9)
    assert values[("ch4_daily_co2eq_g_m2", key)] == pytest.approx(
        0.020755008 * 16.043 / 12.011 * 27, rel=1e-9
    )
    assert values[("net_carbon_daily_gC_m2", key)] == pytest.approx(-5.188752 + 0.020755008, rel=1e-12)
    ghg = -5.188752 * 44.009 / 12.011 + 0.020755008 * 16.043 / 12.011 * 27
    assert values[("ghg_daily_co2eq_g_m2", key)] == pytest.approx(ghg, rel=1e-12)
    assert values[("carbon_coverage_daily_pct", key)] == 100.0
    assert values[("carbon_sink_daily", key)] == 1.0


def test_half_hour_factor():
    values = compute_batch("st", series_samples([day_us("2024-06-10")], co2_flux_umol_m2_s=[1.0]), PARAMS)
    assert values[("nee_daily_gC_m2", day_us("2024-06-10"))] == pytest.approx(0.02162, rel=1e-4)
    assert values[("nee_coverage_daily_pct", day_us("2024-06-10"))] == pytest.approx(100 / 48)


def test_missing_half_hours_are_not_filled_but_reported():
    values = compute_batch("st", _day("2024-06-10", 2.0, 40.0, ch4_every=4), PARAMS)
    key = day_us("2024-06-10")
    assert values[("ch4_daily_gC_m2", key)] == pytest.approx(12 * 40e-9 * 12.011 * 1800, rel=1e-12)
    assert values[("ch4_coverage_daily_pct", key)] == 25.0
    assert values[("nee_coverage_daily_pct", key)] == 100.0
    assert values[("carbon_coverage_daily_pct", key)] == 25.0
    assert values[("carbon_sink_daily", key)] == 0.0  # respiration all day: a source


def test_seasons_years_and_year_to_date():
    fluxes = {"2023-12-31": -2.0, "2024-01-01": -1.0, "2024-03-01": 3.0}
    values = compute_batch("st", [s for d, fc in fluxes.items() for s in _day(d, fc, NAN)], PARAMS)
    g = {d: fc * 1e-6 * 12.011 * 86400 for d, fc in fluxes.items()}
    # Winter (DJF) 2023/24 holds 31 Dec and 1 Jan; spring starts 1 March.
    assert values[("nee_season_gC_m2", day_us("2023-12-01"))] == pytest.approx(
        g["2023-12-31"] + g["2024-01-01"]
    )
    assert values[("carbon_coverage_season_pct", day_us("2023-12-01"))] == 0.0  # no CH4 flux at all
    assert values[("nee_coverage_season_pct", day_us("2023-12-01"))] == pytest.approx(100 * 2 / 91)
    assert values[("nee_season_gC_m2", day_us("2024-03-01"))] == pytest.approx(g["2024-03-01"])
    assert values[("nee_year_gC_m2", day_us("2023-01-01"))] == pytest.approx(g["2023-12-31"])
    assert values[("nee_year_gC_m2", day_us("2024-01-01"))] == pytest.approx(
        g["2024-01-01"] + g["2024-03-01"]
    )
    assert values[("nee_coverage_year_pct", day_us("2024-01-01"))] == pytest.approx(100 * 2 / 366)
    assert values[("carbon_sink_year", day_us("2024-01-01"))] == 0.0
    assert values[("carbon_sink_season", day_us("2023-12-01"))] == 1.0
    # Year-to-date restarts on 1 January.
    assert values[("nee_cumulative_gC_m2", day_us("2023-12-31"))] == pytest.approx(g["2023-12-31"])
    assert values[("nee_cumulative_gC_m2", day_us("2024-01-01"))] == pytest.approx(g["2024-01-01"])
    assert values[("nee_cumulative_gC_m2", day_us("2024-03-01"))] == pytest.approx(
        g["2024-01-01"] + g["2024-03-01"]
    )
    assert ("nee_daily_gC_m2", day_us("2024-01-02")) not in values
    assert all(t % DAY_US == 0 for _, t in values)
