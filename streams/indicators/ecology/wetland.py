"""Wetland water: water level relative to the marsh platform, inundation frequency and hydroperiod
per UTC day and per calendar month.

Each reading stands for one sampling interval, so hydroperiod = flooded readings x interval (at most
24 h a day; a month sums its days) and the inundation frequency is the flooded share of the measured
time (a day with a data gap is not diluted by it). Flooded means water level strictly above the
platform.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.indicators.ecology.calendar import day_start_us, period_bounds
from streams.indicators.ecology.frame import (
    UNCHANGED,
    DayReadings,
    JsonRows,
    Outputs,
    Row,
    Rows,
    live_days,
    recompute_from,
    scope_start_us,
)
from streams.indicators.ecology.params import EcologyParams

WATER_LEVEL = "water_level_m"
ABOVE_PLATFORM = "water_above_platform_m"
FREQUENCY_DAILY = "inundation_frequency_daily_pct"
HYDROPERIOD_DAILY = "hydroperiod_daily_h"
FREQUENCY_MONTHLY = "inundation_frequency_monthly_pct"
HYDROPERIOD_MONTHLY = "hydroperiod_monthly_h"


@dataclass(frozen=True, slots=True)
class WetlandFamily(JsonRows):
    params: EcologyParams
    platform_m: float
    name: str = "wetland"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        level = readings.get(WATER_LEVEL)
        if level is None:
            return None
        above = level.values - self.platform_m
        return {
            "n": int(above.size),
            "flooded": int(np.count_nonzero(above > 0)),
            "max_above": float(above.max()),
        }

    def _hours(self, row: Row) -> float:
        return min(24.0, float(row["flooded"]) * self.params.sampling_interval_s / 3600.0)

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None:
        start = recompute_from(first_open, since)
        daily = (ABOVE_PLATFORM, FREQUENCY_DAILY, HYDROPERIOD_DAILY)
        out.scope(daily, scope_start_us(first_open), scope_start_us(start))
        for day in live_days(rows, start):
            row, key = rows[day], day_start_us(day)
            out.put(ABOVE_PLATFORM, key, row["max_above"])
            out.put(FREQUENCY_DAILY, key, 100.0 * row["flooded"] / row["n"])
            out.put(HYDROPERIOD_DAILY, key, self._hours(row))
        first_month = None if first_open is None else period_bounds(first_open, "monthly")[0]
        # A month sums its days: recomputed whole from the month of the first changed day.
        from_month = start if start is None or start >= UNCHANGED else period_bounds(start, "monthly")[0]
        monthly = (FREQUENCY_MONTHLY, HYDROPERIOD_MONTHLY)
        out.scope(monthly, scope_start_us(first_month), scope_start_us(from_month))
        months: dict[int, list[float]] = {}
        for day in live_days(rows, from_month):
            totals = months.setdefault(period_bounds(day, "monthly")[0], [0, 0, 0.0])
            totals[0] += rows[day]["n"]
            totals[1] += rows[day]["flooded"]
            totals[2] += self._hours(rows[day])
        for month, (n, flooded, hours) in months.items():
            out.put(FREQUENCY_MONTHLY, day_start_us(month), 100.0 * flooded / n)
            out.put(HYDROPERIOD_MONTHLY, day_start_us(month), hours)

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        return period_bounds(first_open, "monthly")[0]
