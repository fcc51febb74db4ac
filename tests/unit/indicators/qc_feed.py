"""A simulated stream of QC results for the revision tests: provisional flags at once, corrections later.

Mirrors what streams/qc emits: every reading gets a provisional aggregate flag when it arrives, and a
revised flag when context arrives (the next sample confirms a spike, a late neighbour). The feed knows
each reading's final flag, so a test can compute the batch over the final usable readings.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GOOD, SUSPECT, FAIL, MISSING = 1, 3, 4, 9


@dataclass(frozen=True, slots=True)
class QcFeed:
    """QC results in arrival order: which reading (index into the series), its value and its flag."""

    arrival_us: np.ndarray
    index: np.ndarray
    value: np.ndarray
    flag: np.ndarray

    def final_usable(self, n: int) -> np.ndarray:
        """Per reading: its last result is GOOD with a finite value (readings never sent are not)."""
        usable = np.zeros(n, dtype=bool)
        for i, v, f in zip(self.index.tolist(), self.value.tolist(), self.flag.tolist(), strict=True):
            usable[i] = f == GOOD and np.isfinite(v)
        return usable

    def revisions_of(self, kind: tuple[int, int]) -> int:
        """How many readings went from flag kind[0] to kind[1] at some point."""
        last: dict[int, int] = {}
        count = 0
        for i, f in zip(self.index.tolist(), self.flag.tolist(), strict=True):
            count += last.get(i) == kind[0] and f == kind[1]
            last[i] = f
        return count


def qc_feed(
    times_us: np.ndarray,
    values: np.ndarray,
    spikes: np.ndarray,
    rng: np.random.Generator,
    *,
    max_delay_us: int,
    max_revision_us: int,
) -> QcFeed:
    """Results for a series where ``spikes`` marks readings QC will reject once it sees the next sample.

    Each reading arrives up to ``max_delay_us`` late (3 % twice) with a provisional flag: MISSING for
    NaN, SUSPECT for 3 % of the others (upgraded to GOOD later), GOOD otherwise. Spikes are downgraded
    to FAIL, and 3 % of good readings to SUSPECT (a third of those back to GOOD after that), each
    correction up to ``max_revision_us`` after the reading (and, for a spike, the next one) arrived.
    A re-sent result may come after a correction and then wins, as any later result does.
    """
    n = times_us.size
    arrival = times_us + rng.integers(0, max_delay_us, n)
    finite = np.isfinite(values)
    provisional = np.where(finite, GOOD, MISSING)
    doubted = finite & ~spikes & (rng.random(n) < 0.03)
    provisional[doubted] = SUSPECT
    rows: list[tuple[int, int, int]] = [
        (a, i, f) for i, (a, f) in enumerate(zip(arrival.tolist(), provisional.tolist(), strict=True))
    ]
    again = rng.choice(n, n * 3 // 100, replace=False)
    rows += [
        (int(arrival[i]) + int(rng.integers(1, max_revision_us)), int(i), int(provisional[i])) for i in again
    ]

    def later(after_us: int) -> int:
        return after_us + 1 + int(rng.integers(0, max_revision_us))

    for i in np.flatnonzero(doubted).tolist():
        rows.append((later(int(arrival[i])), i, GOOD))
    for i in np.flatnonzero(spikes & finite).tolist():
        rows.append((later(int(arrival[i : i + 2].max())), i, FAIL))
    downgraded = finite & ~spikes & ~doubted & (rng.random(n) < 0.03)
    for i in np.flatnonzero(downgraded).tolist():
        at = later(int(arrival[i]))
        rows.append((at, i, SUSPECT))
        if rng.random() < 1 / 3:
            rows.append((later(at), i, GOOD))
    rows.sort(key=lambda row: row[0])  # stable: a reading's results keep the order they were made in
    arrival_us, index, flag = (np.array(col, dtype=np.int64) for col in zip(*rows, strict=True))
    return QcFeed(arrival_us, index, values[index], flag)
