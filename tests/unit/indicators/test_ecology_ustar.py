"""The u* threshold from the data (moving point test as REddyProc): the binning rules by hand, and the
threshold of synthetic site-years whose towers under-measure night respiration below a known u*."""

from __future__ import annotations

import numpy as np
import pytest

from streams.indicators.ecology.gapfill import gap_filled_budget
from streams.indicators.ecology.ustar import (
    _plateau_threshold,
    _temperature_classes,
    _ustar_classes,
    season_of_month,
    ustar_threshold,
    ustar_threshold_quantiles,
)
from tests.support.flux_site import RPD, site_gaps, site_year

TRUE_THRESHOLD = 0.25
G_C = 1e-6 * 12.011 * 1800


def _months(n: int) -> np.ndarray:
    days = (np.arange(n) // RPD).astype("timedelta64[D]") + np.datetime64("2026-01-01")
    return days.astype("datetime64[M]").astype(np.int64) % 12 + 1


def _tower(seed: int, threshold: float | None) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """The site's NEE as a tower sees it: below `threshold` at night only the u*/threshold share."""
    site = site_year(seed)
    seen = site["truth"]
    if threshold is not None:
        night = site["rg"] < 10
        seen = np.where(night, seen * np.minimum(1.0, site["ustar"] / threshold), seen)
    return site, np.where(site_gaps(site, seed + 1), np.nan, seen)


def test_classes_keep_equal_values_together_and_a_short_last_class_joins_the_one_before():
    values = np.array([1, 1, 1, 1, 2, 3, 3, 3, 4, 5], dtype=float)
    assert _ustar_classes(values, 3).tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 2, 2]
    assert _temperature_classes(values, 3).tolist() == [1, 1, 1, 1, 2, 2, 2, 2, 3, 3]
    distinct = np.array([1, 1, 1, 2, 2, 3, 4, 5, 6, 7], dtype=float)
    assert _ustar_classes(distinct, 3).tolist() == [1, 1, 1, 2, 2, 2, 3, 3, 3, 3]
    assert season_of_month(np.arange(1, 13)).tolist() == [0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4]


def test_plateau_is_where_a_class_and_the_next_reach_95_percent_of_the_following_ten():
    nee = np.array([1, 2, 3, 4, 5] + [5] * 15, dtype=float)
    ustar = 0.05 * np.arange(1, 21)
    assert _plateau_threshold(ustar, nee) == pytest.approx(0.25)
    assert _plateau_threshold(ustar, np.arange(20, dtype=float)) is None  # still rising: no plateau


@pytest.mark.parametrize("seed", [13, 31])
def test_the_known_threshold_is_found_and_the_budget_comes_out_near_the_truth(seed):
    site, nee = _tower(seed, TRUE_THRESHOLD)
    month = _months(nee.size)
    found = ustar_threshold(nee, site["ustar"], site["tair"], site["rg"], month)
    assert found.year_m_s == pytest.approx(TRUE_THRESHOLD, abs=0.04)
    assert found.year_m_s == max(v for v in found.seasons_m_s if v is not None)
    low, mid, high = ustar_threshold_quantiles(nee, site["ustar"], site["tair"], site["rg"], month)
    assert low < mid < high and low <= TRUE_THRESHOLD <= high
    budget = gap_filled_budget(nee, interval_s=1800, rg_w_m2=site["rg"], ustar_m_s=site["ustar"],
                               tair_degC=site["tair"], month=month)  # fmt: skip
    truth = site["truth"].sum() * G_C
    assert budget.ustar_source == "estimated" and budget.ustar_threshold_m_s == found.year_m_s
    assert abs(budget.nee.filled_gC_m2 - truth) < 0.05 * abs(truth)
    assert budget.nee_ustar_range_gC_m2 is not None and budget.nee_sd_gC_m2 >= budget.nee.sd_gC_m2
    unfiltered = gap_filled_budget(nee, interval_s=1800, rg_w_m2=site["rg"])
    assert unfiltered.nee.filled_gC_m2 < truth - 0.1 * abs(truth)


def test_a_tower_that_sees_everything_gets_a_low_threshold_or_none():
    site, nee = _tower(13, None)
    found = ustar_threshold(nee, site["ustar"], site["tair"], site["rg"], _months(nee.size))
    assert found.year_m_s is None or found.year_m_s < 0.15  # the plateau starts at the lowest u*


def test_the_bootstrap_is_reproducible():
    site, nee = _tower(31, TRUE_THRESHOLD)
    args = (nee, site["ustar"], site["tair"], site["rg"], _months(nee.size))
    assert ustar_threshold_quantiles(*args, n_sample=20) == ustar_threshold_quantiles(*args, n_sample=20)
