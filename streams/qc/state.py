"""The rolling context of one series (station, variable): the readings QC still needs, and their flags.

Kept sorted by event time, de-duplicated by time (the first value received wins, so a redelivered
Kafka record changes nothing), bounded by event time, and serialisable to JSON-compatible data so
a faust changelog table can restore it in another worker. Buffers grow by doubling so appending a
few readings per batch costs O(new readings), not O(window).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

STATE_VERSION = 1
_MIN_CAPACITY = 16


class SeriesState:
    __slots__ = ("_c", "_hi", "_lo", "_t", "_v", "evicted_until_us")

    def __init__(self) -> None:
        self._t = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._v = np.empty(_MIN_CAPACITY, dtype=np.float64)
        self._c = np.empty(_MIN_CAPACITY, dtype=np.int64)
        self._lo = 0
        self._hi = 0
        # Time of the newest reading dropped from the context (None: the series start is still here).
        self.evicted_until_us: int | None = None

    def __len__(self) -> int:
        return self._hi - self._lo

    @property
    def times_us(self) -> np.ndarray:
        return self._t[self._lo : self._hi]

    @property
    def values(self) -> np.ndarray:
        return self._v[self._lo : self._hi]

    @property
    def codes(self) -> np.ndarray:
        """Packed per-test flags last emitted for each retained reading (0 = not yet flagged)."""
        return self._c[self._lo : self._hi]

    def merge(self, times_us: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        """Insert readings (sorted, unique times); returns (their positions now, mask of stale inputs).

        Stale readings are older than the retained context after something was dropped: they are not
        kept (their neighbours are gone). Times already present are duplicates and are ignored.
        """
        n = self._hi - self._lo
        if n == 0 or times_us[0] > self._t[self._hi - 1]:
            if n == 0 and self.evicted_until_us is not None:
                return self._merge_slow(times_us, values)
            self._append(times_us, values)
            return np.arange(n, n + len(times_us), dtype=np.int64), None
        return self._merge_slow(times_us, values)

    def _merge_slow(self, times_us: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        n = len(self)
        if self.evicted_until_us is None:
            stale = None
            keep = np.ones(len(times_us), dtype=bool)
        else:
            stale = times_us < (self._t[self._lo] if n else self.evicted_until_us + 1)
            keep = ~stale
        if n:
            pos = np.searchsorted(self.times_us, times_us)
            keep &= (pos >= n) | (self.times_us[np.minimum(pos, n - 1)] != times_us)
        times_us, values = times_us[keep], values[keep]
        k = len(times_us)
        if k == 0 or n == 0 or times_us[0] > self._t[self._hi - 1]:
            self._append(times_us, values)
            return np.arange(n, n + k, dtype=np.int64), stale
        all_t = np.concatenate([self.times_us, times_us])
        order = np.argsort(all_t, kind="stable")
        all_v = np.concatenate([self.values, values])[order]
        all_c = np.concatenate([self.codes, np.zeros(k, dtype=np.int64)])[order]
        self._replace(all_t[order], all_v, all_c)
        return np.flatnonzero(order >= n), stale

    def _append(self, times_us: np.ndarray, values: np.ndarray) -> None:
        k = len(times_us)
        if self._hi + k > len(self._t):
            self._reserve(k)
        hi = self._hi
        self._t[hi : hi + k] = times_us
        self._v[hi : hi + k] = values
        self._c[hi : hi + k] = 0
        self._hi = hi + k

    def evict_before(self, index: int) -> None:
        """Drop the first ``index`` retained readings."""
        if index <= 0:
            return
        self.evicted_until_us = int(self._t[self._lo + index - 1])
        self._lo += index

    def _reserve(self, extra: int) -> None:
        n = len(self)
        capacity = max(_MIN_CAPACITY, 2 * (n + extra))
        t, v, c = self.times_us, self.values, self.codes
        self._t = np.empty(capacity, dtype=np.int64)
        self._v = np.empty(capacity, dtype=np.float64)
        self._c = np.empty(capacity, dtype=np.int64)
        self._t[:n], self._v[:n], self._c[:n] = t, v, c
        self._lo, self._hi = 0, n

    def _replace(self, times_us: np.ndarray, values: np.ndarray, codes: np.ndarray) -> None:
        self._t, self._v, self._c = times_us, values, codes
        self._lo, self._hi = 0, len(times_us)

    def to_dict(self) -> dict[str, Any]:
        """JSON-compatible form: times as deltas from ``t0_us``, missing values listed by position."""
        t, v = self.times_us, self.values
        missing = np.isnan(v)
        return {
            "version": STATE_VERSION,
            "t0_us": int(t[0]) if len(t) else 0,
            "dt_us": np.diff(t).tolist(),
            "values": np.where(missing, 0.0, v).tolist(),
            "missing": np.flatnonzero(missing).tolist(),
            "codes": self.codes.tolist(),
            "evicted_until_us": self.evicted_until_us,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SeriesState:
        if data.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported QC state version {data.get('version')!r}")
        state = cls()
        values = np.asarray(data["values"], dtype=np.float64)
        if len(values):
            times = np.concatenate([[0], np.cumsum(np.asarray(data["dt_us"], dtype=np.int64))])
            values[np.asarray(data["missing"], dtype=np.int64)] = np.nan
            state._replace(times + int(data["t0_us"]), values, np.asarray(data["codes"], dtype=np.int64))
        evicted = data.get("evicted_until_us")
        state.evicted_until_us = None if evicted is None else int(evicted)
        return state
