"""High and low waters of a water-level series, robust to sensor noise and exact in event time.

Method: a centred 1-hour boxcar mean on a fixed 6-minute grid (aligned to the epoch) smooths the
noise; a grid point whose smoothed level is the largest (smallest) within +-3 hours is a high (low)
water candidate, the earliest winning a tie, and at least two thirds of that +-3 h neighbourhood must
hold data so a gap edge is not mistaken for a turn of the tide. A least-squares parabola through the
raw readings within +-1 hour of the candidate then gives the time (whole seconds) and height of the
turn; when the parabola does not turn inside that hour (flat or noisy stand), the grid point and its
boxcar mean stand. Every result depends only on readings within ``ExtremaParams.reach_us`` of its grid
point, which is what lets a bounded stream state reproduce the batch exactly.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from streams.indicators.sealevel.tide import US_PER_S

HIGH = "high"
LOW = "low"


@dataclass(frozen=True, slots=True)
class ExtremaParams:
    grid_s: int = 360
    smooth_s: int = 3600
    search_s: int = 3 * 3600
    fit_s: int = 3600
    min_readings: int = 3
    min_coverage: float = 2 / 3

    @property
    def reach_us(self) -> int:
        """How far (either side) a candidate's result depends on readings."""
        return (max(self.search_s + self.smooth_s // 2, self.fit_s) + self.grid_s) * US_PER_S


@dataclass(frozen=True, slots=True)
class Extremum:
    kind: str
    anchor_us: int
    time_us: int
    height_m: float


def _smoothed(
    times_us: np.ndarray, level_um: np.ndarray, grid_us: np.ndarray, p: ExtremaParams
) -> np.ndarray:
    csum = np.concatenate(([0], np.cumsum(level_um)))
    half = p.smooth_s * US_PER_S // 2
    i0 = np.searchsorted(times_us, grid_us - half, side="left")
    i1 = np.searchsorted(times_us, grid_us + half, side="left")
    n = i1 - i0
    out = np.full(grid_us.shape, np.nan)
    ok = n >= p.min_readings
    out[ok] = (csum[i1[ok]] - csum[i0[ok]]) / n[ok] / 1e6
    return out


def _candidates(smooth: np.ndarray, sign: float, p: ExtremaParams) -> np.ndarray:
    """Grid indices that win their +-search neighbourhood (first index among equals)."""
    m = p.search_s // p.grid_s
    width = 2 * m + 1
    if smooth.size == 0:
        return np.empty(0, dtype=np.int64)
    padded = np.concatenate((np.full(m, np.nan), sign * smooth, np.full(m, np.nan)))
    windows = sliding_window_view(padded, width)
    defined = np.isfinite(windows)
    winner = np.argmax(np.where(defined, windows, -np.inf), axis=1)
    coverage = defined.sum(axis=1) / width
    return np.flatnonzero(np.isfinite(smooth) & (winner == m) & (coverage >= p.min_coverage))


def _refine(
    times_us: np.ndarray,
    level_um: np.ndarray,
    anchor_us: int,
    fallback_m: float,
    sign: float,
    p: ExtremaParams,
) -> tuple[int, float]:
    fit_us = p.fit_s * US_PER_S
    i0 = np.searchsorted(times_us, anchor_us - fit_us, side="left")
    i1 = np.searchsorted(times_us, anchor_us + fit_us, side="right")
    if i1 - i0 >= 5:
        tau_h = (times_us[i0:i1] - anchor_us) / 3.6e9
        c2, c1, c0 = np.polyfit(tau_h, level_um[i0:i1] / 1e6, 2)
        if sign * c2 < 0:
            vertex_h = -c1 / (2 * c2)
            if abs(vertex_h) <= p.fit_s / 3600:
                seconds = round(vertex_h * 3600)
                return anchor_us + seconds * US_PER_S, float(c0 - c1 * c1 / (4 * c2))
    return anchor_us, float(fallback_m)


def find_extrema(
    times_us: np.ndarray,
    level_um: np.ndarray,
    p: ExtremaParams | None = None,
    anchors_from_us: int | None = None,
    anchors_to_us: int | None = None,
) -> list[Extremum]:
    """High and low waters of a series sorted by time with unique times, ordered by anchor.

    With ``anchors_from_us``/``anchors_to_us``, only the extrema anchored in that range, computed from
    the readings within ``reach_us`` of it: exactly what the whole-series search finds there, at a
    cost that depends on the range, not on the series (what the stream's one-reading update needs).
    """
    p = p or ExtremaParams()
    times_us = np.asarray(times_us, dtype=np.int64)
    level_um = np.asarray(level_um, dtype=np.int64)
    if times_us.size == 0:
        return []
    step = p.grid_s * US_PER_S
    first = -(-int(times_us[0]) // step)
    last = int(times_us[-1]) // step
    lo, hi = -(2**62), 2**62
    if anchors_from_us is not None:
        lo = int(anchors_from_us)
        first = max(first, -(-(lo - p.search_s * US_PER_S) // step))
    if anchors_to_us is not None:
        hi = int(anchors_to_us)
        last = min(last, (hi + p.search_s * US_PER_S) // step)
    if last < first:
        return []
    grid_us = np.arange(first, last + 1, dtype=np.int64) * step
    if anchors_from_us is not None or anchors_to_us is not None:
        i0 = np.searchsorted(times_us, grid_us[0] - p.reach_us, side="left")
        i1 = np.searchsorted(times_us, grid_us[-1] + p.reach_us, side="right")
        times_us, level_um = times_us[i0:i1], level_um[i0:i1]
    smooth = _smoothed(times_us, level_um, grid_us, p)
    found = []
    for kind, sign in ((HIGH, 1.0), (LOW, -1.0)):
        for k in _candidates(smooth, sign, p):
            anchor = int(grid_us[k])
            if lo <= anchor <= hi:
                time_us, height = _refine(times_us, level_um, anchor, smooth[k], sign, p)
                found.append(Extremum(kind, anchor, time_us, height))
    found.sort(key=lambda e: (e.anchor_us, e.kind))
    return found
