"""Shared words of the report: the station as the report sees it, the error it raises, the year's bounds
and the stored indicator series (per station and indicator id) with the windowing every section uses."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from schemas.datums import DatumHistory

DAY_US = 86_400_000_000

# (station, indicator id) -> (times µs UTC, values); None values are NaN
Series = dict[tuple[str, str], tuple[np.ndarray, np.ndarray]]


class ReportError(ValueError):
    """A request the report cannot answer (bad year, unknown station or area): said, not guessed."""


@dataclass(frozen=True)
class StationInfo:
    id: str
    name: str
    name_zh: str
    kind: str
    area: str
    variables: tuple[str, ...] = ()
    sampling_interval_s: float = 0.0
    thresholds: dict = field(default_factory=dict, compare=False)
    levellings: DatumHistory = field(default_factory=DatumHistory, compare=False)  # schemas/datums.py

    def measures(self, *variables: str) -> bool:
        """True if the registry declares any of the variables for this station."""
        return any(v in self.variables for v in variables)


def year_bounds_us(year: int) -> tuple[int, int]:
    """[1 Jan year, 1 Jan year+1) in µs UTC; a year outside 1990..2100 is refused."""
    if not 1990 <= year <= 2100:
        raise ReportError(f"year {year} is outside 1990..2100")
    return date_us(year, 1, 1), date_us(year + 1, 1, 1)


def date_us(year: int, month: int, day: int) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp() * 1_000_000)


def pick(
    series: Series, station: str, indicator: str, start_us: int, end_us: int
) -> tuple[np.ndarray, np.ndarray]:
    """The stored values of one indicator of one station keyed in [start, end), NaN values dropped."""
    t, v = series.get((station, indicator), (np.empty(0, dtype=np.int64), np.empty(0)))
    sel = (t >= start_us) & (t < end_us) & np.isfinite(v)
    return t[sel], v[sel]


def in_year(series: Series, station: str, indicator: str, year: int) -> tuple[np.ndarray, np.ndarray]:
    return pick(series, station, indicator, *year_bounds_us(year))


def day_keys(times_us: np.ndarray) -> np.ndarray:
    return np.asarray(times_us, dtype=np.int64) // DAY_US


def iso_minute(time_us: int) -> str:
    return dt.datetime.fromtimestamp(int(time_us) / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")


def iso_day(time_us: int) -> str:
    return dt.datetime.fromtimestamp(int(time_us) / 1e6, dt.UTC).strftime("%Y-%m-%d")


def mean_or_none(values: np.ndarray) -> float | None:
    return float(np.mean(values)) if values.size else None
