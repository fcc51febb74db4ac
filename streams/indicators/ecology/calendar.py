"""UTC day arithmetic for event-time indicators.

Indicators are keyed by the start of their UTC day, month, meteorological season or year in int
microseconds since the epoch, so every worker (and the batch job) files a value under the same key.
Days are integers counted from 1970-01-01 so state stays small and JSON-exact.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

import numpy as np

DAY_US = 86_400_000_000
_EPOCH = date(1970, 1, 1)

Period = Literal["daily", "monthly", "season", "year"]


def day_of(time_us: int) -> int:
    """UTC day number of an event time (floor division, so times before 1970 work too)."""
    return time_us // DAY_US


def day_start_us(day: int) -> int:
    return day * DAY_US


def to_date(day: int) -> date:
    return _EPOCH + timedelta(days=day)


def from_date(value: date) -> int:
    return (value - _EPOCH).days


@lru_cache(maxsize=8192)  # every update asks for the periods of the same few open days
def period_bounds(day: int, period: Period) -> tuple[int, int]:
    """First day and the day after the last of the period holding `day`.

    Seasons are meteorological (DJF, MAM, JJA, SON); DJF belongs to the year of its January and
    starts on 1 December of the year before.
    """
    if period == "daily":
        return day, day + 1
    d = to_date(day)
    if period == "monthly":
        start = date(d.year, d.month, 1)
        end = date(d.year + d.month // 12, d.month % 12 + 1, 1)
    elif period == "season":
        first_month = (d.month // 3) * 3  # 0 for Jan/Feb (December of the year before), 3, 6, 9, 12
        start_year = d.year if first_month else d.year - 1
        start = date(start_year, first_month or 12, 1)
        end_month = start.month + 3
        end = date(start.year + (end_month - 1) // 12, (end_month - 1) % 12 + 1, 1)
    elif period == "year":
        start, end = date(d.year, 1, 1), date(d.year + 1, 1, 1)
    else:
        raise ValueError(f"unknown period {period!r}")
    return from_date(start), from_date(end)


def leap_day_of_year(days: np.ndarray) -> np.ndarray:
    """Day of year 1..366 on a leap-year calendar: 29 February is 60 and 1 March is 61 in every year.

    This is the Hobday et al. (2016) convention, so a climatology has 366 entries and a date maps to
    the same entry whatever the year.
    """
    dates = np.asarray(days, dtype="int64").astype("datetime64[D]")
    year_start = dates.astype("datetime64[Y]").astype("datetime64[D]")
    doy = (dates - year_start).astype("int64") + 1
    year = dates.astype("datetime64[Y]").astype("int64") + 1970
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    shifted: np.ndarray = doy + ((~leap) & (doy >= 60))
    return shifted
