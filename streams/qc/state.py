"""The rolling context of one series (station, variable): the readings QC still needs, and their flags.

Kept sorted by event time, de-duplicated by time (the first value received wins, so a redelivered
Kafka record changes nothing), bounded by event time, and serialisable to JSON-compatible data so
a faust changelog table can restore it in another worker. Buffers grow by doubling so appending a
few readings per batch costs O(new readings), not O(window).

For the changelog the readings are cut into chunks by event time (``chunk_us`` wide, ~16 samples):
a batch changes the newest chunk or two, so only those are written again, not the whole window
(hundreds of readings for 1-min data). A small header per series lists its chunks.
"""

from __future__ import annotations

from collections.abc import Mapping
from itertools import pairwise
from typing import Any

import numpy as np

STATE_VERSION = 1
_MIN_CAPACITY = 16


class SeriesState:
    __slots__ = ("_c", "_dropped", "_hi", "_lo", "_t", "_v", "chunk_us", "evicted_until_us", "touched")

    def __init__(self, chunk_us: int) -> None:
        self.chunk_us = chunk_us
        # Chunks changed, and chunks dropped, since the last export.
        self.touched: set[int] = set()
        self._dropped: set[int] = set()
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
        """Drop the readings before ``index``, in whole chunks (a partial chunk is kept)."""
        if index <= 0:
            return
        times = self.times_us
        index = int(np.searchsorted(times, times[index] // self.chunk_us * self.chunk_us, side="left"))
        if index == 0:
            return
        dropped = set(np.unique(times[:index] // self.chunk_us).tolist())
        self._dropped |= dropped
        self.touched -= dropped
        self.evicted_until_us = int(times[index - 1])
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

    def export(self, full: bool) -> tuple[dict[str, Any], dict[int, dict[str, Any] | None]]:
        """(header, {chunk id: chunk, or None for a dropped chunk}): all chunks, or those changed.

        The header names the range of chunk ids in use; ids inside it without an entry are empty.
        """
        times = self.times_us
        chunk_us = self.chunk_us
        first, last = (int(times[0]) // chunk_us, int(times[-1]) // chunk_us) if len(times) else (0, -1)
        header = {
            "version": STATE_VERSION,
            "chunk_us": chunk_us,
            "evicted_until_us": self.evicted_until_us,
            "first_chunk": first,
            "last_chunk": last,
        }
        wanted = np.unique(times // chunk_us).tolist() if full else sorted(self.touched)
        edges = np.searchsorted(times, [c * chunk_us for c in wanted] + [(c + 1) * chunk_us for c in wanted])
        starts, ends = edges[: len(wanted)].tolist(), edges[len(wanted) :].tolist()
        chunks: dict[int, dict[str, Any] | None] = {
            cid: _encode(times[a:b].tolist(), self.values[a:b].tolist(), self.codes[a:b].tolist())
            for cid, a, b in zip(wanted, starts, ends, strict=True)
            if b > a
        }
        if not full:
            chunks.update(dict.fromkeys(self._dropped))
        self.touched.clear()
        self._dropped.clear()
        return header, chunks

    @classmethod
    def restore(cls, header: Mapping[str, Any], chunks: Mapping[int, Mapping[str, Any]]) -> SeriesState:
        """Rebuild from a header and its chunks (as ``export`` wrote them)."""
        if header.get("version") != STATE_VERSION:
            raise ValueError(f"unsupported QC state version {header.get('version')!r}")
        state = cls(int(header["chunk_us"]))
        wanted = range(int(header["first_chunk"]), int(header["last_chunk"]) + 1)
        parts = [_decode(chunks[cid]) for cid in sorted(chunks) if cid in wanted]
        if parts:
            state._replace(*(np.concatenate([p[i] for p in parts]) for i in range(3)))
        evicted = header.get("evicted_until_us")
        state.evicted_until_us = None if evicted is None else int(evicted)
        return state


def _encode(times_us: list[int], values: list[float], codes: list[int]) -> dict[str, Any]:
    """JSON-compatible readings: times as deltas from ``t0_us``, missing values listed by position.

    Plain Python on purpose: a chunk holds a handful of readings, fewer than numpy's call overhead.
    """
    missing = [i for i, v in enumerate(values) if v != v]
    return {
        "t0_us": times_us[0],
        "dt_us": [b - a for a, b in pairwise(times_us)],
        "values": [0.0 if v != v else v for v in values] if missing else values,
        "missing": missing,
        "codes": codes,
    }


def _decode(chunk: Mapping[str, Any]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    times = int(chunk["t0_us"]) + np.concatenate([[0], np.cumsum(np.asarray(chunk["dt_us"], dtype=np.int64))])
    values = np.asarray(chunk["values"], dtype=np.float64)
    values[np.asarray(chunk["missing"], dtype=np.int64)] = np.nan
    return times, values, np.asarray(chunk["codes"], dtype=np.int64)
