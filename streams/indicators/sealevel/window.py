"""The raw water levels of a gauge's window: by time for lookups, and as sorted arrays for the searches.

Rebuilding sorted arrays from a dict at every update costs O(window) per reading (a 48-h window of
1-minute readings is 2,880 entries). Readings nearly always arrive in time order, so a reading newer
than the newest is appended in O(1) amortised and eviction from the front moves a start index; only a
reading inside the window (late, corrected or withdrawn) marks the arrays for one rebuild.
"""

from __future__ import annotations

from typing import TypeVar, overload

import numpy as np

T = TypeVar("T")
_MIN_CAPACITY = 64


class Levels(dict[int, int]):
    """Level in integer micrometres by reading time (µs), with sorted arrays kept alongside."""

    def __init__(self, items: dict[int, int] | None = None) -> None:
        super().__init__()
        self._t = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._v = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._lo = self._hi = 0
        self._sorted = True
        for t, um in sorted((items or {}).items()):
            self[t] = um

    def __setitem__(self, time_us: int, level_um: int) -> None:
        known = time_us in self
        super().__setitem__(time_us, level_um)
        if not self._sorted:
            return
        if not known and (self._hi == self._lo or time_us > self._t[self._hi - 1]):
            if self._hi == len(self._t):
                self._grow()
            self._t[self._hi], self._v[self._hi] = time_us, level_um
            self._hi += 1
        else:
            self._sorted = False

    def __delitem__(self, time_us: int) -> None:
        self._sorted = False
        super().__delitem__(time_us)

    # dict.pop's own signatures, so a Levels is still a dict[int, int] wherever one is expected.
    @overload
    def pop(self, time_us: int, /) -> int: ...
    @overload
    def pop(self, time_us: int, default: int, /) -> int: ...
    @overload
    def pop(self, time_us: int, default: T, /) -> int | T: ...
    def pop(self, time_us: int, /, *default: object) -> object:
        self._sorted = False
        return super().pop(time_us, *default)

    def arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """(times µs, levels µm), sorted by time: views, valid until the next change."""
        if not self._sorted:
            n = len(self)
            times = np.fromiter(sorted(self), dtype=np.int64, count=n)
            levels = np.fromiter((dict.__getitem__(self, t) for t in times.tolist()), dtype=np.int64, count=n)
            capacity = max(_MIN_CAPACITY, 2 * n)
            self._t, self._v = np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64)
            self._t[:n], self._v[:n] = times, levels
            self._lo, self._hi, self._sorted = 0, n, True
        return self._t[self._lo : self._hi], self._v[self._lo : self._hi]

    def evict_before(self, start_us: int) -> np.ndarray:
        """Drop the readings older than ``start_us``; returns their times."""
        times, _ = self.arrays()
        k = int(np.searchsorted(times, start_us, side="left"))
        gone = times[:k].copy()
        for t in gone.tolist():
            super().pop(t)
        self._lo += k
        return gone

    def between(self, lo_us: int, hi_us: int) -> tuple[np.ndarray, np.ndarray]:
        """The readings with lo_us <= time < hi_us."""
        times, levels = self.arrays()
        a, b = np.searchsorted(times, [lo_us, hi_us], side="left")
        return times[a:b], levels[a:b]

    def _grow(self) -> None:
        n = self._hi - self._lo
        capacity = max(_MIN_CAPACITY, 2 * (n + 1))
        t, v = np.empty(capacity, dtype=np.int64), np.empty(capacity, dtype=np.int64)
        t[:n], v[:n] = self._t[self._lo : self._hi], self._v[self._lo : self._hi]
        self._t, self._v, self._lo, self._hi = t, v, 0, n
