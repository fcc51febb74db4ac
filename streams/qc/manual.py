"""Operators' judgements over automatic QC (``tidewatch qc flag``, the console's manual QC).

A judgement gives a flag to a station's readings of one variable (or all) in [from, to). The newest
judgement covering a reading that has a value is its flag in every view: as stored, as the indicators
and the alert engine see it, and when a history is judged again. The automatic per-test results stay
as QC gave them. Missing values keep their flag (9): there is nothing to judge.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec
import numpy as np

from schemas.quality import QcResult

# (variable or None = every variable of the station, from µs, to µs exclusive, QARTOD flag)
Judgement = tuple[str | None, int, int, int]


def apply_judgements(
    flags: np.ndarray,
    variable: np.ndarray,
    time_us: np.ndarray,
    missing: np.ndarray,
    judgements: Sequence[Judgement],
) -> None:
    """Overwrite ``flags`` in place where a judgement covers a reading; ``judgements`` oldest first, so
    the newest covering one wins."""
    for judged_variable, start, end, flag in judgements:
        covered = (time_us >= start) & (time_us < end) & ~missing
        if judged_variable is not None:
            covered &= variable == judged_variable
        flags[covered] = flag


class JudgementBook:
    """Every station's judgements in the order they were made (they are never edited or deleted)."""

    def __init__(self) -> None:
        self.by_station: dict[str, list[Judgement]] = {}
        self.newest_id = 0  # the newest judgement held (manual_flags.flag_id)

    def add(self, flag_id: int, station: str, judgement: Judgement) -> None:
        if flag_id <= self.newest_id:
            return
        self.by_station.setdefault(station, []).append(judgement)
        self.newest_id = flag_id

    def overrule(self, results: list[QcResult]) -> list[QcResult]:
        """The results with the operators' flags where a judgement covers them (a new list only when one
        does: the stations without a judgement cost one lookup each)."""
        if not self.by_station:
            return results
        picked = [i for i, r in enumerate(results) if r.station in self.by_station]
        if not picked:
            return results
        out = list(results)
        by_station: dict[str, list[int]] = {}
        for i in picked:
            by_station.setdefault(results[i].station, []).append(i)
        for station, where in by_station.items():
            rows = [results[i] for i in where]
            flags = np.array([r.flag for r in rows], dtype=np.int16)
            before = flags.copy()
            apply_judgements(
                flags,
                np.array([r.variable for r in rows], dtype=object),
                np.array([r.time_us for r in rows], dtype=np.int64),
                np.array([r.value is None for r in rows]),
                self.by_station[station],
            )
            for k in np.flatnonzero(flags != before).tolist():
                out[where[k]] = msgspec.structs.replace(rows[k], flag=int(flags[k]))
        return out
