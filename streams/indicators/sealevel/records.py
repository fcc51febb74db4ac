"""Indicator records and the catalogue of sea-level indicator ids.

Every indicator id carries its unit in its name, so a row in the indicators table or a message on the
indicators topic is readable without a lookup. The catalogue's method strings go into the README table
and the database, so an auditor can see how each number was made.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class Indicator(msgspec.Struct, frozen=True, array_like=True):
    """One indicator value of one station at one event time.

    Consumers upsert by (station, indicator, time_us). ``value`` None retracts a row that a late reading
    made obsolete (a high water that moved, a tidal cycle that changed bounds).
    """

    station: str
    indicator: str
    time_us: int
    value: float | None
    unit: str


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    id: str
    unit: str
    definition: str
    method: str


WATER_LEVEL_WARNING = "water_level_warning"
WAVE_WARNING = "wave_warning"
SURGE = "surge_m"
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

_SPECS = (
    IndicatorSpec(
        WATER_LEVEL_WARNING,
        "1",
        "Warning level of each high water: 0 none, 1 blue, 2 yellow, 3 orange, 4 red",
        "highest of the station's warning water levels (thresholds.warning_water_level_m) that the "
        "high-water height reaches (>=); time = high-water time",
    ),
    IndicatorSpec(
        WAVE_WARNING,
        "1",
        "Warning level of each significant wave height reading: 0 none .. 4 red",
        "highest of thresholds.wave_height_m (blue 2.5, yellow 3.5, orange 4.5, red 6.0 m by default "
        "practice) that the reading reaches (>=)",
    ),
    IndicatorSpec(
        SURGE,
        "m",
        "Non-tidal residual of each water-level reading: observed - predicted astronomical tide",
        "prediction from the newest tide model effective at the reading time; no value before the "
        "first model",
    ),
    IndicatorSpec(
        SURGE_MAX_CYCLE,
        "m",
        "Largest surge within one tidal cycle (low water to next low water); time = that reading",
        "max of surge_m over readings in [LW_i, LW_i+1); ties -> earliest; cycles longer than 30 h "
        "(missed low water) are skipped",
    ),
    IndicatorSpec(
        TIDE_PREDICTED,
        "m",
        "Astronomical tide predicted at each water-level reading time",
        "utide.reconstruct on a fixed 6-min grid per UTC day (all constituents), linear interpolation",
    ),
    IndicatorSpec(
        HIGH_WATER,
        "m",
        "Height of each high water; time = high-water time (whole seconds)",
        "1-h centred boxcar mean on a 6-min grid; a grid point that is the maximum within +-3 h is a "
        "candidate; a least-squares parabola through the raw readings within +-1 h gives time and height",
    ),
    IndicatorSpec(
        LOW_WATER,
        "m",
        "Height of each low water; time = low-water time (whole seconds)",
        "as high_water_m with minima",
    ),
    IndicatorSpec(
        MSL_HOURLY, "m", "Mean water level per UTC hour; time = hour start", "arithmetic mean of readings"
    ),
    IndicatorSpec(
        MSL_DAILY, "m", "Mean water level per UTC day; time = day start", "arithmetic mean of readings"
    ),
    IndicatorSpec(
        MSL_MONTHLY,
        "m",
        "Mean water level per UTC calendar month; time = month start",
        "arithmetic mean of readings",
    ),
    IndicatorSpec(
        MSL_MONTHLY_COMPLETENESS,
        "%",
        "Share of the month's nominal readings that the monthly mean rests on",
        "100 * readings * sampling_interval_s / month length, capped at 100",
    ),
    IndicatorSpec(
        TREND,
        "mm yr-1",
        "Relative sea-level trend; time = start of the last month used",
        "OLS of monthly means (completeness >= 50 %) on time with annual and semi-annual harmonics",
    ),
    IndicatorSpec(
        TREND_CI_LOW,
        "mm yr-1",
        "Lower bound of the 95 % interval of the trend",
        "standard error widened for lag-1 autocorrelation of the residuals (effective sample size "
        "n(1-r1)/(1+r1)), Student t with n_eff - 2 degrees of freedom",
    ),
    IndicatorSpec(TREND_CI_HIGH, "mm yr-1", "Upper bound of the 95 % interval of the trend", "as above"),
    IndicatorSpec(
        TREND_RECORD,
        "yr",
        "Record length the trend rests on (first to last month used)",
        "(last month start - first month start) / 365.2425 d",
    ),
)

CATALOGUE: dict[str, IndicatorSpec] = {spec.id: spec for spec in _SPECS}


def indicator(station: str, indicator_id: str, time_us: int, value: float | None) -> Indicator:
    """Build a record with the catalogue's unit, so a unit is never typed twice."""
    return Indicator(station, indicator_id, int(time_us), value, CATALOGUE[indicator_id].unit)
