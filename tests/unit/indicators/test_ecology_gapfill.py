"""Eddy-covariance gap filling (MDS as REddyProc), u* filtering and the random uncertainty of a sum,
against synthetic site-years whose true half-hourly NEE is known, and small cases by hand."""

from __future__ import annotations

import numpy as np
import pytest

from streams.indicators.ecology.gapfill import (
    LUT_ALL,
    LUT_RG,
    MDC,
    UNFILLED,
    USTAR_KEPT,
    USTAR_LOW,
    USTAR_MISSING,
    effective_observations,
    filled_sum,
    mds_gap_fill,
    on_grid,
    ustar_filter_flags,
)
from tests.support.flux_site import DAYS, RPD, site_gaps, site_year

DAYS_OF_RECORDS = DAYS * RPD


@pytest.fixture(scope="module")
def site() -> dict[str, np.ndarray]:
    return site_year(13)


def test_gap_filled_annual_sum_recovers_the_known_truth_where_the_measured_one_cannot(site):
    lost = site_gaps(site, 1)
    flux = np.where(lost, np.nan, site["truth"])
    result = mds_gap_fill(flux, site["rg"], site["vpd"], site["tair"])
    total = filled_sum(flux, result)
    truth = site["truth"].sum()
    scaled_measured = total.measured / total.n_measured * total.n_records  # the bias of ignoring gaps
    assert total.n_unfilled == 0 and np.isfinite(result.filled).all()
    assert 55 < total.coverage_pct < 70
    assert abs(scaled_measured - truth) > 0.25 * abs(truth)  # nights under-sampled: far too negative
    assert abs(total.filled - truth) < 0.05 * abs(truth)
    assert total.sd_random is not None and 0 < total.sd_random < 0.05 * abs(truth)
    # measured records keep their value; every gap has a method and a quality
    measured = ~lost
    np.testing.assert_array_equal(result.filled[measured], flux[measured])
    assert set(np.unique(result.quality[measured])) == {0}
    assert set(np.unique(result.method[lost])) <= {LUT_ALL, LUT_RG, MDC}
    assert np.isin(result.quality[lost], (1, 2, 3)).all()


def test_random_uncertainty_covers_the_error_of_the_sum_over_many_gap_patterns(site):
    """Over 12 gap patterns the filled sum's error from the truth is of the size sd_random says (the
    noise of the measured records), not an order of magnitude off either way."""
    errors, sds = [], []
    for seed in range(12):
        flux = np.where(site_gaps(site, 100 + seed), np.nan, site["truth"])
        total = filled_sum(flux, mds_gap_fill(flux, site["rg"], site["vpd"], site["tair"]))
        errors.append(total.filled - site["truth"].sum())
        sds.append(total.sd_random)
    rms_error, mean_sd = float(np.sqrt(np.mean(np.square(errors)))), float(np.mean(sds))
    assert 0.2 < rms_error / mean_sd < 5.0


def test_ustar_filtering_removes_the_night_time_underestimate(site):
    """Below u* 0.25 m/s the tower sees only part of the night respiration: unfiltered, the year looks
    a stronger sink than it was; filtered and gap filled, it is close to the truth again."""
    threshold = 0.25
    night = site["rg"] < 10
    seen = np.where(night, site["truth"] * np.minimum(1.0, site["ustar"] / threshold), site["truth"])
    lost = site_gaps(site, 2)
    raw = np.where(lost, np.nan, seen)
    flags = ustar_filter_flags(site["ustar"], site["rg"], threshold)
    filtered = np.where(flags == USTAR_KEPT, raw, np.nan)
    truth = site["truth"].sum()
    unfiltered_sum = filled_sum(raw, mds_gap_fill(raw, site["rg"], site["vpd"], site["tair"])).filled
    filtered_sum = filled_sum(filtered, mds_gap_fill(filtered, site["rg"], site["vpd"], site["tair"])).filled
    assert unfiltered_sum < truth - 0.1 * abs(truth)
    assert abs(filtered_sum - truth) < 0.05 * abs(truth)
    assert (flags[~night] == USTAR_KEPT).all()  # day-time records are never u*-filtered


def test_ustar_flags_by_hand():
    ustar = np.array([0.1, 0.3, np.nan, 0.1, np.nan])
    rg = np.array([0.0, 0.0, 5.0, 300.0, np.nan])
    assert ustar_filter_flags(ustar, rg, 0.2).tolist() == [USTAR_LOW, USTAR_KEPT, USTAR_MISSING, USTAR_KEPT,
                                                           USTAR_MISSING]  # fmt: skip


def test_lookup_table_pools_similar_conditions_and_the_rg_tolerance_shrinks_at_low_light():
    """A gap at Rg 30 W m-2 pools measured records with |Rg - 30| < 30 (the tolerance is min(50, Rg),
    at least 20), within +/- 7 days; Rg-only LUT when VPD/Tair are not given."""
    n = 20 * RPD
    rg = np.zeros(n)
    flux = np.full(n, np.nan)
    gap = 10 * RPD + 20
    rg[gap] = 30.0
    rg[gap + 1], flux[gap + 1] = 55.0, 1.0  # |25| < 30: pooled
    rg[gap + 2], flux[gap + 2] = 61.0, 100.0  # |31| >= 30: not pooled
    rg[gap - 3], flux[gap - 3] = 10.0, 3.0  # |20| < 30: pooled
    rg[gap + 8 * RPD], flux[gap + 8 * RPD] = 30.0, 50.0  # outside +/- 7 days
    result = mds_gap_fill(flux, rg)
    assert result.modelled[gap] == pytest.approx(2.0)
    assert result.sd[gap] == pytest.approx(np.std([1.0, 3.0], ddof=1))
    assert result.n_pooled[gap] == 2 and result.method[gap] == LUT_RG and result.quality[gap] == 1


def test_mean_diurnal_course_without_drivers_and_a_series_with_too_little_data():
    n = 5 * RPD
    flux = np.full(n, np.nan)
    flux[2 * RPD + 10 : 2 * RPD + 12] = (4.0, 6.0)  # two values, same day, within +/- 2 records
    result = mds_gap_fill(flux, None)
    assert result.modelled[2 * RPD + 9] == pytest.approx(5.0)
    assert result.method[2 * RPD + 9] == MDC and result.quality[2 * RPD + 9] == 1
    assert result.quality[3 * RPD + 11] == 2  # the next day: window +/- 1 day
    lone = np.full(n, np.nan)
    lone[7] = 1.0  # one value can never fill: at least two are needed
    alone = mds_gap_fill(lone, None)
    assert np.isnan(alone.filled[8]) and alone.quality[8] == UNFILLED
    assert filled_sum(lone, alone).n_unfilled == n - 1


def test_effective_observations_of_an_ar1_series_and_of_white_noise():
    rng = np.random.default_rng(5)
    phi, n = 0.6, 40_000
    x = np.empty(n)
    x[0] = rng.normal()
    for k in range(1, n):
        x[k] = phi * x[k - 1] + rng.normal()
    expected = n * (1 - phi) / (1 + phi)  # large-n value for AR(1)
    assert effective_observations(x) == pytest.approx(expected, rel=0.1)
    white = rng.normal(size=n)
    assert effective_observations(white) == pytest.approx(n, rel=0.05)
    holes = white.copy()
    holes[::3] = np.nan  # gaps reduce n_eff to about the finite count
    assert effective_observations(holes) == pytest.approx(np.isfinite(holes).sum(), rel=0.05)


def test_residuals_that_never_decorrelate_give_few_effective_observations():
    """A drifting residual (autocorrelation positive at every lag) over a station-year: all lags count,
    computed at once (this took minutes lag by lag)."""
    x = np.linspace(-1.0, 1.0, DAYS_OF_RECORDS) + np.random.default_rng(2).normal(0, 0.01, DAYS_OF_RECORDS)
    assert effective_observations(x) < 0.01 * DAYS_OF_RECORDS


def test_readings_onto_the_half_hour_grid():
    start = 1_700_000_000_000_000
    step = 1800 * 1_000_000
    grid = on_grid(np.array([start, start + 2 * step + 5, start + 10 * step]), np.array([1.0, 2.0, 9.0]),
                   start, start + 4 * step, 1800)  # fmt: skip
    np.testing.assert_array_equal(np.isnan(grid), [False, True, False, True])
    assert grid[0] == 1.0 and grid[2] == 2.0


def test_budget_in_grams_of_carbon_and_a_bad_ustar_threshold_is_refused():
    """A constant flux with gaps fills to the constant: -2 µmol m-2 s-1 for three days of half-hours is
    -2e-6 x 12.011 x 3 x 86400 g C m-2; the registry threshold must be a number above zero."""
    from services.report.base import ReportError, StationInfo
    from services.report.ecology import ustar_threshold_m_s
    from streams.indicators.ecology.gapfill import gap_filled_budget

    co2 = np.full(3 * RPD, -2.0)
    co2[RPD + 5 : RPD + 20] = np.nan
    budget = gap_filled_budget(co2, interval_s=1800)
    assert budget.nee.unfilled_pct == 0.0
    assert budget.nee.filled_gC_m2 == pytest.approx(-2e-6 * 12.011 * 3 * 86400, rel=1e-12)
    assert budget.nee.measured_gC_m2 == pytest.approx(-2e-6 * 12.011 * 1800 * (3 * RPD - 15), rel=1e-12)
    assert budget.ch4 is None and budget.ustar_threshold_m_s is None
    station = StationInfo("m", "marsh", "", "wetland", "a", ("co2_flux_umol_m2_s",), 1800.0, {})
    assert ustar_threshold_m_s(station) is None
    for bad in (0, -0.1, "0.2", True):
        with pytest.raises(ReportError, match="ustar_threshold_m_s"):
            ustar_threshold_m_s(
                StationInfo("m", "marsh", "", "wetland", "a", (), 1800.0, {"ustar_threshold_m_s": bad})
            )
