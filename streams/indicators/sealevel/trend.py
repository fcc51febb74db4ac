"""Relative sea-level trend from monthly means, with an interval honest about autocorrelation.

Monthly mean sea level is red noise: neighbouring months share weather and ocean anomalies, so plain
OLS overstates how much independent information a record holds and its interval is too narrow. The
slope is fitted together with annual and semi-annual harmonics (the seasonal cycle), and its standard
error is widened with the effective sample size n(1 - r1)/(1 + r1) of the residuals' lag-1
autocorrelation r1 (Santer et al. 2000), with Student-t quantiles on n_eff - p degrees of freedom.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

from schemas.indicators import Indicator
from streams.indicators.sealevel import catalogue as r
from streams.indicators.sealevel.catalogue import indicator
from streams.indicators.sealevel.means import period_end_us
from streams.indicators.sealevel.tide import US_PER_DAY

US_PER_YEAR = 365.2425 * US_PER_DAY
MIN_COMPLETENESS_PCT = 50.0
MIN_MONTHS = 24


@dataclass(frozen=True, slots=True)
class TrendResult:
    slope_mm_yr: float
    ci_low_mm_yr: float
    ci_high_mm_yr: float
    se_mm_yr: float
    naive_se_mm_yr: float
    lag1_autocorrelation: float
    n_months: int
    n_effective: float
    record_years: float
    first_month_us: int
    last_month_us: int


def _lag1(residuals: np.ndarray, month_index: np.ndarray) -> float:
    """Lag-1 autocorrelation over pairs of consecutive calendar months only (gaps break pairs)."""
    pairs = np.flatnonzero(np.diff(month_index) == 1)
    denominator = float(np.sum(residuals**2))
    if pairs.size == 0 or denominator == 0:
        return 0.0
    return float(
        np.sum(residuals[pairs] * residuals[pairs + 1]) * residuals.size / (pairs.size * denominator)
    )


def sea_level_trend(
    month_start_us: np.ndarray,
    msl_m: np.ndarray,
    completeness_pct: np.ndarray | None = None,
    *,
    min_completeness_pct: float = MIN_COMPLETENESS_PCT,
    min_months: int = MIN_MONTHS,
) -> TrendResult | None:
    """Trend in mm/yr with its 95 % interval, or None with fewer than ``min_months`` usable months."""
    starts = np.asarray(month_start_us, dtype=np.int64)
    msl = np.asarray(msl_m, dtype=float)
    usable = np.isfinite(msl)
    if completeness_pct is not None:
        usable &= np.asarray(completeness_pct, dtype=float) >= min_completeness_pct
    order = np.argsort(starts[usable], kind="stable")
    starts, msl = starts[usable][order], msl[usable][order]
    n = starts.size
    if n < min_months:
        return None
    ends = np.array([period_end_us(int(s), "month") for s in starts], dtype=np.int64)
    t_yr = ((starts + ends) / 2 - starts[0]) / US_PER_YEAR
    phase = 2 * np.pi * t_yr
    design = np.column_stack(
        [np.ones(n), t_yr, np.cos(phase), np.sin(phase), np.cos(2 * phase), np.sin(2 * phase)]
    )
    p = design.shape[1]
    coef, *_ = np.linalg.lstsq(design, msl * 1000.0, rcond=None)
    residuals = msl * 1000.0 - design @ coef
    naive_var = float(residuals @ residuals) / (n - p)
    cov = np.linalg.inv(design.T @ design)
    naive_se = float(np.sqrt(naive_var * cov[1, 1]))
    month_index = starts.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)
    r1 = _lag1(residuals, month_index)
    n_eff = n * (1 - r1) / (1 + r1) if r1 > 0 else float(n)
    dof = max(n_eff - p, 1.0)
    se = naive_se * float(np.sqrt((n - p) / dof))
    half = float(stats.t.ppf(0.975, dof)) * se
    slope = float(coef[1])
    return TrendResult(
        slope_mm_yr=slope,
        ci_low_mm_yr=slope - half,
        ci_high_mm_yr=slope + half,
        se_mm_yr=se,
        naive_se_mm_yr=naive_se,
        lag1_autocorrelation=r1,
        n_months=int(n),
        n_effective=float(n_eff),
        record_years=float((ends[-1] - starts[0]) / US_PER_YEAR),
        first_month_us=int(starts[0]),
        last_month_us=int(starts[-1]),
    )


def trend_indicators(station: str, result: TrendResult) -> list[Indicator]:
    """Trend, its bounds and record length as separate ids at the start of the last month used."""
    t = result.last_month_us
    return [
        indicator(station, r.TREND, t, result.slope_mm_yr),
        indicator(station, r.TREND_CI_LOW, t, result.ci_low_mm_yr),
        indicator(station, r.TREND_CI_HIGH, t, result.ci_high_mm_yr),
        indicator(station, r.TREND_RECORD, t, result.record_years),
    ]
