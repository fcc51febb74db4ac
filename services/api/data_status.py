"""Which readings are verified: operators' reviews of ranges (``data_reviews``) as a lookup. Pure: no I/O.

A review marks [start, end) of a station's variable (or of all its variables) verified or preliminary;
of the reviews covering a reading, the newest (highest id) decides; a reading no review covers is
preliminary. ``StatusLookup`` resolves the reviews once per request into disjoint segments per
(station, variable) and finds each reading's segment by binary search, so the cost per reading does not
grow with the number of reviews (a correlated subquery per row did: 10× slower at a review a day).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np

PRELIMINARY, VERIFIED = "preliminary", "verified"
STATUSES = (PRELIMINARY, VERIFIED)  # index = the NetCDF flag value


@dataclass(frozen=True, slots=True)
class Review:
    review_id: int
    station: str
    variable: str | None  # None: every variable of the station
    start_us: int
    end_us: int  # exclusive
    status: str  # verified | preliminary


def segments(reviews: Iterable[Review]) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint segments of one series: (breaks, codes), ``codes[i]`` the status index of
    [breaks[i], breaks[i + 1]) (0 preliminary, 1 verified), newest review winning; before the first
    break and from the last one on, preliminary."""
    ordered = sorted(reviews, key=lambda r: r.review_id)
    if not ordered:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int8)
    breaks = np.unique(np.array([t for r in ordered for t in (r.start_us, r.end_us)], dtype=np.int64))
    codes = np.zeros(len(breaks), dtype=np.int8)
    for r in ordered:  # paint oldest first: each newer review overwrites what it covers
        a, b = np.searchsorted(breaks, [r.start_us, r.end_us])
        codes[a:b] = STATUSES.index(r.status)
    return breaks, codes


@dataclass
class StatusLookup:
    reviews: Sequence[Review]
    _cache: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)

    def _segments(self, station: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
        key = (station, variable)
        if key not in self._cache:
            mine = [r for r in self.reviews if r.station == station and r.variable in (None, variable)]
            self._cache[key] = segments(mine)
        return self._cache[key]

    def codes(self, station: str, variable: str, times_us: np.ndarray) -> np.ndarray:
        """Status index (0 preliminary, 1 verified) of each reading time of one series."""
        breaks, codes = self._segments(station, variable)
        if not len(breaks):
            return np.zeros(len(times_us), dtype=np.int8)
        at = np.searchsorted(breaks, times_us, side="right") - 1
        return np.where(at >= 0, codes[np.maximum(at, 0)], 0).astype(np.int8)

    def names(self, stations: Sequence[str], variables: Sequence[str], times_us: Sequence[int]) -> list[str]:
        """Status name of each row of a chunk (rows in any order; runs of one series are looked up
        together)."""
        n = len(times_us)
        out = np.zeros(n, dtype=np.int8)
        if not self.reviews or not n:
            return [PRELIMINARY] * n
        times = np.asarray(times_us, dtype=np.int64)
        a = 0
        for b in range(1, n + 1):
            if b == n or stations[b] != stations[a] or variables[b] != variables[a]:
                out[a:b] = self.codes(stations[a], variables[a], times[a:b])
                a = b
        return [STATUSES[c] for c in out.tolist()]
