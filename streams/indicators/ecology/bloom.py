"""Algal bloom risk per UTC day: chlorophyll-a against an absolute trigger and against the station's
own recent baseline, supported by oxygen supersaturation and a pH rise (photosynthesis by a dense
bloom raises both).

Levels: 0 none (no chlorophyll signal); 1 watch (chlorophyll at or above the trigger, or at least
`chl_rise_factor` x the baseline, without support); 2 warning (a chlorophyll signal and one supporting
sign); 3 bloom (chlorophyll at or above the trigger and both supporting signs). Without the trigger a
relative rise reaches at most 2.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from statistics import median
from typing import Any

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
from streams.indicators.ecology.oxygen import matched_saturation
from streams.indicators.ecology.params import EcologyParams

CHLOROPHYLL = "chlorophyll_ug_l"
PH = "ph_total"
CHL_DAILY = "chl_daily_mean_ug_l"
CHL_BASELINE = "chl_baseline_ug_l"
BLOOM_RISK = "bloom_risk"
NONE, WATCH, WARNING, BLOOM = 0, 1, 2, 3


def bloom_level(*, chl_high: bool, chl_rise: bool, supersaturated: bool, ph_rise: bool) -> int:
    if not (chl_high or chl_rise):
        return NONE
    level = WATCH + int(supersaturated) + int(ph_rise)
    return level if chl_high else min(level, WARNING)


def baseline(rows: Mapping[int, Row], key: str, day: int, params: EcologyParams) -> float | None:
    """Median of the daily values of the previous `baseline_days` days, if enough of them exist."""
    values = previous_values(rows, key, day, params.baseline_days)
    return median(values) if len(values) >= params.baseline_min_days else None


@dataclass(frozen=True, slots=True)
class BloomFamily(JsonRows):
    params: EcologyParams
    name: str = "bloom"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        chl = mean_of(readings, CHLOROPHYLL)
        if chl is None:
            return None
        _, saturation = matched_saturation(readings, self.params)
        return {
            "chl": chl,
            "ph": mean_of(readings, PH),
            "sat_max": float(saturation.max()) if saturation.size else None,
        }

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
        out.scope((CHL_DAILY, CHL_BASELINE, BLOOM_RISK), scope_start_us(first_open), scope_start_us(start))
        baselines = rows.looking_back("baselines", since)
        for day in live_days(rows, start):
            row, key = rows[day], day_start_us(day)
            if day not in baselines:
                baselines[day] = (baseline(rows, "chl", day, p), baseline(rows, "ph", day, p))
            chl_base, ph_base = baselines[day]
            out.put(CHL_DAILY, key, row["chl"])
            if chl_base is not None:
                out.put(CHL_BASELINE, key, chl_base)
            level = bloom_level(
                chl_high=row["chl"] >= p.chl_trigger_ug_l,
                chl_rise=chl_base is not None and row["chl"] >= p.chl_rise_factor * chl_base,
                supersaturated=row["sat_max"] is not None and row["sat_max"] >= p.do_supersaturation_pct,
                ph_rise=ph_base is not None and row["ph"] is not None and row["ph"] - ph_base >= p.ph_rise,
            )
            out.put(BLOOM_RISK, key, level)

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        return first_open - self.params.baseline_days
