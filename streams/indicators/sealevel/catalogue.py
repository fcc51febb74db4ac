"""Indicator records and the catalogue of sea-level indicator ids.

Every indicator id carries its unit in its name, so a row in the indicators table or a message on the
indicators topic is readable without a lookup. The catalogue's method strings go into the README table
and the database, so an auditor can see how each number was made.
"""

from __future__ import annotations

from schemas.indicators import Indicator, IndicatorSpec

WATER_LEVEL_WARNING = "water_level_warning"
WAVE_WARNING = "wave_warning"
SURGE = "surge_m"
SURGE_PROVISIONAL = "surge_provisional_m"
SURGE_MAX_CYCLE = "surge_max_cycle_m"
TIDE_PREDICTED = "tide_predicted_m"
HIGH_WATER = "high_water_m"
LOW_WATER = "low_water_m"
MSL_HOURLY = "msl_hourly_m"
MSL_DAILY = "msl_daily_m"
MSL_MONTHLY = "msl_monthly_m"
MSL_MONTHLY_COMPLETENESS = "msl_monthly_completeness_pct"
TREND = "sea_level_trend_mm_yr"
TREND_CI_LOW = "sea_level_trend_ci_low_mm_yr"
TREND_CI_HIGH = "sea_level_trend_ci_high_mm_yr"
TREND_RECORD = "sea_level_trend_record_yr"

_LEVEL = "water_level_m (QC flag 1)"
_MODEL = "water_level_m (QC flag 1) + tide model"
_EXTREMA = "grid_s 360, smooth_s 3600, search_s 10800, fit_s 3600, min_readings 3, min_coverage 2/3"
_PREDICTION = "tide model refit daily (RefitPolicy); prediction grid 6 min; constituents with SNR >= 2"

_SPECS = (
    IndicatorSpec(
        WATER_LEVEL_WARNING,
        "1",
        "Warning level of each high water: 0 none, 1 blue, 2 yellow, 3 orange, 4 red; time = high water",
        _LEVEL,
        "thresholds.warning_water_level_m {blue, yellow, orange, red} (station, m above datum)",
        "number of the station's warning water levels that the high-water height reaches (>=)",
    ),
    IndicatorSpec(
        WAVE_WARNING,
        "1",
        "Warning level of each significant wave height reading: 0 none .. 4 red",
        "wave_height_m (QC flag 1)",
        "thresholds.wave_height_m (station; blue 2.5, yellow 3.5, orange 4.5, red 6.0 m)",
        "number of thresholds the reading reaches (>=)",
    ),
    IndicatorSpec(
        SURGE,
        "m",
        "Non-tidal residual of each water-level reading: observed - predicted astronomical tide",
        _MODEL,
        _PREDICTION,
        "reading - tide_predicted_m; no value before the first tide model is in effect",
    ),
    IndicatorSpec(
        SURGE_PROVISIONAL,
        "m",
        "Surge of each reading from a tide model below the quality bar (e.g. N2 not yet resolved): "
        "shown, never warned on; a reading has either this or surge_m",
        _MODEL,
        _PREDICTION + "; QualityBar: record >= 27.6 d, M2 S2 N2 K1 O1 resolved, residual sd <= 0.30 m",
        "as surge_m, when the model in effect is below the bar (quality.is_provisional)",
    ),
    IndicatorSpec(
        SURGE_MAX_CYCLE,
        "m",
        "Largest surge within a tidal cycle (low water to next low water); time = that reading",
        _MODEL,
        f"max_cycle_s 108000; {_EXTREMA}",
        "max of surge_m over readings in [LW_i, LW_i+1), ties -> earliest; longer cycles and "
        "provisional surge skipped",
    ),
    IndicatorSpec(
        TIDE_PREDICTED,
        "m",
        "Astronomical tide predicted at each water-level reading (m above station datum)",
        _MODEL,
        _PREDICTION,
        "utide harmonic fit (robust, Rayleigh constituents, long-period from 1 yr, P1/K2 inferred "
        "where configured) of the station's own history, or published constants; newest model with "
        "effective_from <= reading time; utide.reconstruct on a 6-min UTC-day grid, linear interpolation",
    ),
    IndicatorSpec(
        HIGH_WATER,
        "m",
        "Height of each high water; time = high-water time (whole seconds)",
        _LEVEL,
        _EXTREMA,
        "1-h centred boxcar on a 6-min grid; a grid point that is the maximum within +-3 h (>= 2/3 "
        "covered) is a candidate; least-squares parabola through raw readings within +-1 h gives time "
        "and height",
    ),
    IndicatorSpec(
        LOW_WATER,
        "m",
        "Height of each low water; time = low-water time (whole seconds)",
        _LEVEL,
        _EXTREMA,
        "as high_water_m with minima",
    ),
    IndicatorSpec(
        MSL_HOURLY, "m", "Mean water level per UTC hour; time = hour start", _LEVEL, "-", "arithmetic mean"
    ),
    IndicatorSpec(
        MSL_DAILY, "m", "Mean water level per UTC day; time = day start", _LEVEL, "-", "arithmetic mean"
    ),
    IndicatorSpec(
        MSL_MONTHLY,
        "m",
        "Mean water level per UTC calendar month; time = month start",
        _LEVEL,
        "-",
        "arithmetic mean of the readings (read with msl_monthly_completeness_pct)",
    ),
    IndicatorSpec(
        MSL_MONTHLY_COMPLETENESS,
        "%",
        "Share of the month's nominal readings that the monthly mean rests on",
        _LEVEL,
        "sampling_interval_s (station)",
        "100 x readings x sampling_interval_s / month length, capped at 100",
    ),
    IndicatorSpec(
        TREND,
        "mm yr-1",
        "Relative sea-level trend; time = start of the last month used",
        MSL_MONTHLY + ", " + MSL_MONTHLY_COMPLETENESS,
        "min_completeness_pct 50, min_months 24",
        "OLS of monthly means on time with annual and semi-annual harmonics (seasonal cycle removed)",
    ),
    IndicatorSpec(
        TREND_CI_LOW,
        "mm yr-1",
        "Lower bound of the 95 % interval of the trend",
        MSL_MONTHLY,
        "as the trend",
        "OLS standard error widened by the effective sample size n(1-r1)/(1+r1) of the residuals' "
        "lag-1 autocorrelation; Student t on n_eff - 6 degrees of freedom",
    ),
    IndicatorSpec(
        TREND_CI_HIGH, "mm yr-1", "Upper bound of the 95 % interval", MSL_MONTHLY, "as the trend", "as above"
    ),
    IndicatorSpec(
        TREND_RECORD,
        "yr",
        "Record length the trend rests on",
        MSL_MONTHLY,
        "as the trend",
        "(end of the last month used - start of the first) / 365.2425 d",
    ),
)

CATALOGUE: dict[str, IndicatorSpec] = {spec.id: spec for spec in _SPECS}


def indicator(station: str, indicator_id: str, time_us: int, value: float | None) -> Indicator:
    """Build a record with the catalogue's unit, so a unit is never typed twice."""
    return Indicator(station, indicator_id, int(time_us), value, CATALOGUE[indicator_id].unit)
