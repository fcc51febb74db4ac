"""Acidification and salinity per UTC day: pH mean and its recent trend, salinity anomaly against the
station's baseline, and (wetlands) salt intrusion of the porewater."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.indicators.ecology.calendar import day_start_us
from streams.indicators.ecology.frame import (
    DayReadings,
    JsonRows,
    Outputs,
    Row,
    Rows,
    live_days,
    mean_of,
    previous_values,
    recompute_from,
    scope_start_us,
)
from streams.indicators.ecology.params import EcologyParams

PH = "ph_total"
SALINITY = "salinity_psu"
POREWATER = "porewater_salinity_psu"
PH_DAILY = "ph_daily_mean"
PH_TREND = "ph_trend_per_yr"
SALINITY_DAILY = "salinity_daily_mean_psu"
SALINITY_ANOMALY = "salinity_anomaly_psu"
POREWATER_DAILY = "porewater_salinity_daily_mean_psu"
SALT_INTRUSION = "salt_intrusion"
IDS = (PH_DAILY, PH_TREND, SALINITY_DAILY, SALINITY_ANOMALY, POREWATER_DAILY, SALT_INTRUSION)
DAYS_PER_YEAR = 365.25


def trend_per_year(days: np.ndarray, values: np.ndarray) -> float:
    """Least-squares slope of daily values, per year."""
    x = (days - days[0]).astype(float)
    return float(np.polyfit(x, values, 1)[0]) * DAYS_PER_YEAR


@dataclass(frozen=True, slots=True)
class ChemistryFamily(JsonRows):
    params: EcologyParams
    name: str = "chemistry"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        row = {key: mean_of(readings, var) for key, var in (("ph", PH), ("sal", SALINITY), ("pw", POREWATER))}
        return row if any(v is not None for v in row.values()) else None

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None:
        p = self.params
        start = recompute_from(first_open, since)  # a day's values look back only
        out.scope(IDS, scope_start_us(first_open), scope_start_us(start))
        days = live_days(rows, start)
        if not days:
            return
        ph_days, ph_values = rows.column("ph", days[0] - p.ph_trend_days + 1)
        baselines = rows.looking_back("salinity", since)
        for day in days:
            row, key = rows[day], day_start_us(day)
            if row["ph"] is not None:
                out.put(PH_DAILY, key, row["ph"])
                lo, hi = np.searchsorted(ph_days, [day - p.ph_trend_days + 1, day + 1])
                if hi - lo >= p.ph_trend_min_days:
                    out.put(PH_TREND, key, trend_per_year(ph_days[lo:hi], ph_values[lo:hi]))
            if row["sal"] is not None:
                out.put(SALINITY_DAILY, key, row["sal"])
                if day not in baselines:
                    baselines[day] = self._salinity_baseline(rows, day)
                base = baselines[day]
                if base is not None:
                    out.put(SALINITY_ANOMALY, key, row["sal"] - base)
            if row["pw"] is not None:
                out.put(POREWATER_DAILY, key, row["pw"])
                out.put(SALT_INTRUSION, key, int(row["pw"] > p.porewater_salinity_limit_psu))

    def _salinity_baseline(self, rows: Rows, day: int) -> float | None:
        p = self.params
        if p.salinity_baseline_psu is not None:
            return p.salinity_baseline_psu
        values = previous_values(rows, "sal", day, p.salinity_baseline_days)
        return float(np.mean(values)) if len(values) >= p.baseline_min_days else None

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        return first_open - max(self.params.ph_trend_days, self.params.salinity_baseline_days)
