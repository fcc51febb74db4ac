"""A batch of QC work: the touched series' readings joined end to end, for vectorised tests.

For each series the batch holds its retained readings from one before the first reading whose
flags may change (the "dirty" readings: from just before the earliest new reading to the newest)
to its newest, with each element's series (item), position in the series and old flags.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.qc.config import SeriesConfig
from streams.qc.state import SeriesState

SeriesKey = tuple[str, str]


@dataclass(slots=True)
class TouchedSeries:
    """One series touched by the batch."""

    key: SeriesKey
    config: SeriesConfig
    state: SeriesState
    inserted: np.ndarray
    location_at: np.ndarray | None = None
    location_flags: np.ndarray | None = None

    def first_touched(self) -> int:
        first = int(self.inserted[0]) if len(self.inserted) else 1 << 62
        if self.location_at is not None and len(self.location_at):
            first = min(first, int(self.location_at.min()))
        return first


class Batch:
    """The touched series' readings from one before the first changed reading, joined end to end."""

    def __init__(self, works: list[TouchedSeries], group_ids: np.ndarray) -> None:
        self.works = works
        self.group_ids = group_ids
        size = np.array([len(w.state) for w in works], dtype=np.int64)
        self.dirty_from = np.maximum(np.array([w.first_touched() for w in works], dtype=np.int64) - 1, 0)
        self.core_from = np.maximum(self.dirty_from - 1, 0)
        lengths = size - self.core_from
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        starts = self.core_from.tolist()
        self.times_us = np.concatenate([w.state.times_us[s:] for w, s in zip(works, starts, strict=True)])
        self.values = np.concatenate([w.state.values[s:] for w, s in zip(works, starts, strict=True)])
        self.codes = np.concatenate([w.state.codes[s:] for w, s in zip(works, starts, strict=True)])
        self.item = np.repeat(np.arange(len(works)), lengths)
        # Position of each element in its series' retained readings.
        self.local = np.arange(len(self.item)) - self.offsets[self.item] + self.core_from[self.item]
        self.dirty = np.flatnonzero(self.local >= self.dirty_from[self.item])
        self.new = np.zeros(len(self.item), dtype=bool)
        inserted = [w.inserted for w in works]
        shift = np.repeat(self.offsets[:-1] - self.core_from, [len(a) for a in inserted])
        self.new[np.concatenate(inserted) + shift] = True
        self.evicted = np.array([w.state.evicted_until_us is not None for w in works])
        self.evicted_until_us = np.array([w.state.evicted_until_us or 0 for w in works], dtype=np.int64)

    def groups(self, column: int, params: list[Any]) -> tuple[list[tuple[Any, np.ndarray]], np.ndarray]:
        """Items per parameter set of one test, and the items where it is not configured."""
        ids = self.group_ids[:, column]
        found = np.unique(ids)
        groups = [(params[g], np.flatnonzero(ids == g)) for g in found.tolist() if g >= 0]
        return groups, np.flatnonzero(ids < 0) if found[0] < 0 else np.zeros(0, dtype=np.int64)

    def elements(self, items: np.ndarray, dirty_only: bool) -> np.ndarray:
        if len(items) == len(self.works):
            return self.dirty if dirty_only else np.arange(len(self.item))
        chosen = np.zeros(len(self.works), dtype=bool)
        chosen[items] = True
        pool = self.dirty if dirty_only else np.arange(len(self.item))
        chosen_elements: np.ndarray = pool[chosen[self.item[pool]]]
        return chosen_elements

    def is_dirty(self, elements: np.ndarray) -> np.ndarray:
        dirty: np.ndarray = self.local[elements] >= self.dirty_from[self.item[elements]]
        return dirty


def run_starts(items_of_elements: np.ndarray) -> np.ndarray:
    change = np.ones(len(items_of_elements), dtype=bool)
    change[1:] = items_of_elements[1:] != items_of_elements[:-1]
    return np.flatnonzero(change)


def drop_separators(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    keep = np.ones(len(flags), dtype=bool)
    keep[starts + np.arange(len(starts))] = False
    return flags[keep]
