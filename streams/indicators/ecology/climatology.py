"""Marine heatwave climatology (Hobday et al. 2016): seasonal mean and 90th-percentile threshold per
day of year, from a station's daily SST history or loaded from a file (e.g. a satellite climatology).

It is a batch product: recomputed when the baseline changes, not per reading. Each day of year d
(1..366, leap-year calendar) pools every recorded day within +/- `window_half_width_d` days of a baseline day
with that day of year; 29 February is the mean of its neighbours; both curves are then smoothed with
a centred `smooth_width_d`-day moving average that wraps around the year.
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from streams.indicators.ecology.calendar import from_date, leap_day_of_year, to_date

YEAR_DAYS = 366
FEB29 = 60
# Hobday et al. 2016 defaults, as in the reference implementation (marineHeatWaves)
WINDOW_HALF_WIDTH_D = 5
PERCENTILE = 90.0
SMOOTH_WIDTH_D = 31


class ClimatologyError(ValueError):
    """A climatology input or file that cannot be used."""


@dataclass(frozen=True, slots=True)
class Climatology:
    """Seasonal climatology and threshold (°C) for day of year 1..366 (index 0..365)."""

    seas_degC: np.ndarray
    thresh_degC: np.ndarray
    source: str

    def __post_init__(self) -> None:
        for name in ("seas_degC", "thresh_degC"):
            values = np.asarray(getattr(self, name), dtype=float)
            if values.shape != (YEAR_DAYS,) or not np.isfinite(values).all():
                raise ClimatologyError(f"climatology {self.source!r}: {name} needs {YEAR_DAYS} finite values")
            object.__setattr__(self, name, values)

    def at(self, days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Climatology and threshold for UTC day numbers."""
        doy = leap_day_of_year(days) - 1
        return self.seas_degC[doy], self.thresh_degC[doy]

    def to_json(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "seas_degC": self.seas_degC.tolist(),
            "thresh_degC": self.thresh_degC.tolist(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Climatology:
        return cls(np.asarray(data["seas_degC"]), np.asarray(data["thresh_degC"]), str(data["source"]))


def circular_moving_average(values: np.ndarray, width: int) -> np.ndarray:
    """Centred moving average of odd `width` over a periodic series."""
    if width < 1 or width % 2 == 0:
        raise ClimatologyError(f"smoothing width must be a positive odd number of days, got {width}")
    half = width // 2
    padded = np.concatenate([values[-half:], values, values[:half]]) if half else values
    sums = np.cumsum(np.concatenate([[0.0], padded]))
    averages: np.ndarray = (sums[width:] - sums[:-width]) / width
    return averages


def compute_climatology(
    days: np.ndarray,
    sst_degC: np.ndarray,
    *,
    baseline_years: tuple[int, int] | None = None,
    window_half_width_d: int = WINDOW_HALF_WIDTH_D,
    percentile: float = PERCENTILE,
    smooth_width_d: int = SMOOTH_WIDTH_D,
    source: str = "station history",
) -> Climatology:
    """Climatology from daily mean SST at UTC day numbers `days` (gaps allowed, NaN = missing).

    `baseline_years` (first, last), inclusive, chooses the centre days; the default is the whole
    record. As in the reference implementation (marineHeatWaves), a window reaching past the baseline's
    edges (late December before the first year, early January after the last) pools those days too,
    where the record has them.
    """
    days = np.asarray(days, dtype=np.int64)
    sst = np.asarray(sst_degC, dtype=float)
    if days.size == 0 or days.shape != sst.shape:
        raise ClimatologyError("climatology needs one SST value per day")
    grid = np.arange(days.min(), days.max() + 1)
    series = np.full(grid.size, np.nan)
    series[days - grid[0]] = sst
    years = grid.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64) + 1970
    first, last = baseline_years if baseline_years else (int(years[0]), int(years[-1]))
    inside = np.flatnonzero((years >= first) & (years <= last))
    if inside.size == 0:
        raise ClimatologyError(f"no SST in the baseline {first}-{last}")
    lo, hi = inside[0], inside[-1]
    base_doy = leap_day_of_year(grid[lo : hi + 1])
    offsets = np.arange(-window_half_width_d, window_half_width_d + 1)
    seas = np.full(YEAR_DAYS, np.nan)
    thresh = np.full(YEAR_DAYS, np.nan)
    for doy in range(1, YEAR_DAYS + 1):
        if doy == FEB29:
            continue
        centres = lo + np.flatnonzero(base_doy == doy)
        window = (centres[:, None] + offsets[None, :]).ravel()
        pool = series[window[(window >= 0) & (window < grid.size)]]
        if np.isfinite(pool).any():
            seas[doy - 1] = np.nanmean(pool)
            thresh[doy - 1] = np.nanpercentile(pool, percentile)
    for curve in (seas, thresh):
        curve[FEB29 - 1] = 0.5 * (curve[FEB29 - 2] + curve[FEB29])
    if not (np.isfinite(seas).all() and np.isfinite(thresh).all()):
        raise ClimatologyError(f"baseline {first}-{last} leaves days of year without SST")
    label = f"{source}, baseline {first}-{last}, {2 * window_half_width_d + 1}-day window, p{percentile:g}"
    return Climatology(
        circular_moving_average(seas, smooth_width_d), circular_moving_average(thresh, smooth_width_d), label
    )


def climatology_to_csv(clim: Climatology, notes: Mapping[str, str] | None = None) -> str:
    """CSV with columns doy, seas_degC, thresh_degC (366 rows); the source and any `notes` (e.g.
    baseline, coverage) as `# key: value` comment lines, which the loader skips."""
    buffer = io.StringIO()
    buffer.write(f"# {clim.source}\n")
    for key, value in (notes or {}).items():
        buffer.write(f"# {key}: {value}\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["doy", "seas_degC", "thresh_degC"])
    for doy in range(1, YEAR_DAYS + 1):
        writer.writerow([doy, repr(float(clim.seas_degC[doy - 1])), repr(float(clim.thresh_degC[doy - 1]))])
    return buffer.getvalue()


def climatology_notes(path: str | os.PathLike[str]) -> dict[str, str]:
    """The `# key: value` comment lines of a climatology file (baseline, coverage, how it was built)."""
    notes = {}
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if line.startswith("# ") and ": " in line:
            key, value = line[2:].split(": ", 1)
            notes[key.strip()] = value.strip()
    return notes


@dataclass(frozen=True, slots=True)
class BaselineCoverage:
    """How much of a baseline period has a daily SST: written into a climatology file beside the
    curves, since a "1991-2020" climatology from five years of data is not a 1991-2020 climatology."""

    first_year: int
    last_year: int
    days_with_sst: int
    baseline_days: int
    years_with_sst: int
    first_day: date | None
    last_day: date | None

    @property
    def pct(self) -> float:
        return 100.0 * self.days_with_sst / self.baseline_days

    def describe(self) -> str:
        span = f", data {self.first_day}..{self.last_day}" if self.first_day else ""
        return (
            f"{self.days_with_sst} of {self.baseline_days} days ({self.pct:.1f} %), "
            f"{self.years_with_sst} of {self.last_year - self.first_year + 1} years with data{span}"
        )


def baseline_coverage(
    days: np.ndarray, sst_degC: np.ndarray, baseline_years: tuple[int, int]
) -> BaselineCoverage:
    """Days of the baseline years (inclusive) with a finite daily SST."""
    first, last = baseline_years
    if last < first:
        raise ClimatologyError(f"baseline {first}-{last}: the last year is before the first")
    days = np.asarray(days, dtype=np.int64)
    lo, hi = from_date(date(first, 1, 1)), from_date(date(last + 1, 1, 1))
    inside = np.unique(days[(days >= lo) & (days < hi) & np.isfinite(np.asarray(sst_degC, dtype=float))])
    years = np.unique(inside.astype("datetime64[D]").astype("datetime64[Y]").astype(np.int64))
    return BaselineCoverage(
        first_year=first,
        last_year=last,
        days_with_sst=int(inside.size),
        baseline_days=int(hi - lo),
        years_with_sst=int(years.size),
        first_day=to_date(int(inside[0])) if inside.size else None,
        last_day=to_date(int(inside[-1])) if inside.size else None,
    )


# The climatology files that ship with tidewatch (``TIDEWATCH_CLIMATOLOGY_DIR`` names another folder).
PACKAGED_DIR = Path(str(resources.files("schemas").joinpath("climatology")))


def climatologies_in(folder: str | os.PathLike[str], stations: Iterable[str]) -> dict[str, Climatology]:
    """The SST climatologies of those stations that have a file ``<station>.csv`` in ``folder``: for
    stations without a long history of their own (the worker and a reprocess read the same files)."""
    wanted = set(stations)
    return {
        path.stem: load_climatology_csv(path)
        for path in sorted(Path(folder).glob("*.csv"))
        if path.stem in wanted
    }


def load_climatology_csv(path: str | os.PathLike[str]) -> Climatology:
    """Load a climatology file: columns doy (1..366, leap-year calendar), seas_degC, thresh_degC."""
    path = Path(path)
    try:
        lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.startswith("#")]
        rows = list(csv.DictReader(lines))
        doy = np.array([int(r["doy"]) for r in rows])
        seas = np.array([float(r["seas_degC"]) for r in rows])
        thresh = np.array([float(r["thresh_degC"]) for r in rows])
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise ClimatologyError(f"climatology file {path}: {exc}") from exc
    if not np.array_equal(np.sort(doy), np.arange(1, YEAR_DAYS + 1)):
        raise ClimatologyError(f"climatology file {path}: needs each doy 1..366 once")
    order = np.argsort(doy)
    return Climatology(seas[order], thresh[order], f"file {path.name}")
