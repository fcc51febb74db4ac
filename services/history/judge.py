"""QC of a stretch of one station's history in one batch: stored readings, plus new ones, judged afresh.

Pure (no I/O). The caller hands in the station's stored readings over the judged window *and* its
context (the readings before it that flat-line, attenuated-signal, gap and rate-of-change look back
on, and the reading after it that spike and gap look at: ``context_window``), and the readings to
add. One fresh ``QcEngine`` over the merged, sorted series gives each reading exactly the flags the
stream gives a series that arrived in order (``QcEngine`` equals ioos_qc over the sorted series), so
import and reprocess share this one judgement, and a run judged twice gives the same flags twice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache

import numpy as np
import orjson

from schemas.quality import MISSING, NOT_EVALUATED, TEST_INDEX, decode, unpack
from streams.qc import QcConfig, QcEngine, Readings
from streams.qc.flags import aggregate
from streams.qc.manual import Judgement, apply_judgements

NO_TESTS = -1  # a stored reading without per-test flags (stored before QC ran on it)
_NO_EVICTION_S = 1e12  # s: a "late horizon" no record reaches, so the engine keeps every reading
_KEY_SHIFT = 52  # µs since 1970 stay below 2**52 until 2112: (variable, time) in one int64


@dataclass(frozen=True, slots=True)
class Columns:
    """Readings of one station as columns; ``flag``/``code`` only for stored ones."""

    variable: np.ndarray  # object array of str
    time_us: np.ndarray
    value: np.ndarray  # NaN = missing reading
    flag: np.ndarray | None = None
    code: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.time_us)

    def take(self, index: np.ndarray) -> Columns:
        pick = None if self.flag is None else self.flag[index]
        return Columns(
            self.variable[index],
            self.time_us[index],
            self.value[index],
            pick,
            None if self.code is None else self.code[index],
        )


def empty_columns(stored: bool = False) -> Columns:
    flags = np.zeros(0, dtype=np.int16) if stored else None
    codes = np.zeros(0, dtype=np.int64) if stored else None
    return Columns(np.zeros(0, dtype=object), np.zeros(0, dtype=np.int64), np.zeros(0), flags, codes)


@dataclass(frozen=True, slots=True)
class Judged:
    new: Columns  # incoming readings not stored yet, with their flags
    changed: Columns  # stored readings in the window whose flags changed, with the new flags
    old_flag: np.ndarray  # … and what they had
    old_code: np.ndarray
    duplicates: int  # incoming readings already stored (or given twice): the first value wins


@lru_cache(maxsize=4096)
def packed_code(stored_tests: str | None) -> int:
    """Stored per-test flags (JSON text) → packed code; NULL → ``NO_TESTS``."""
    if stored_tests is None:
        return NO_TESTS
    return sum(int(flag) << (4 * TEST_INDEX[name]) for name, flag in orjson.loads(stored_tests).items())


@lru_cache(maxsize=4096)
def stored_tests(code: int) -> str | None:
    """Packed code → the per-test flags as stored (the stream's spelling: ``{"gap":1,…}``)."""
    return None if code == NO_TESTS else orjson.dumps(decode(code)).decode()


def _keys(columns: Columns, ids: dict[str, int]) -> np.ndarray:
    variable = np.fromiter((ids.setdefault(v, len(ids)) for v in columns.variable), np.int64, len(columns))
    return (variable << _KEY_SHIFT) | columns.time_us


def _flags(
    config: QcConfig, station: str, variable: np.ndarray, time_us: np.ndarray, value: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(aggregate flag, packed per-test flags) of every reading, from one fresh engine.

    The codes are read from the engine's retained series (``series_flags``) rather than from its
    result objects; with a horizon longer than any record nothing is evicted, so every reading is
    retained. A series the configuration does not know is not evaluated (2), or missing (9).
    """
    engine = QcEngine(replace(config, late_horizon_s=_NO_EVICTION_S))
    engine.process(Readings([station] * len(time_us), list(variable), time_us, value))
    flags = np.where(np.isnan(value), MISSING, NOT_EVALUATED).astype(np.int16)
    codes = np.zeros(len(time_us), dtype=np.int64)
    for name in np.unique(variable).tolist():
        if config.get(station, name) is None:
            continue
        where = np.flatnonzero(variable == name)
        times, packed = engine.series_flags(station, name)
        at = np.searchsorted(times, time_us[where])
        codes[where] = packed[at]
        flags[where] = aggregate(unpack(packed[at]), np.isnan(value[where]))
    return flags, codes


def judge(
    config: QcConfig, station: str, stored: Columns, incoming: Columns, window: tuple[int, int],
    overrides: Sequence[Judgement] = (),
) -> Judged:  # fmt: skip
    """Flags for ``incoming`` readings not stored yet, and changed flags of stored ones in ``window``.

    ``window`` is [from, to) in µs: stored readings outside it are context only and never changed.
    ``overrides`` (oldest first) replace the aggregate flag of the readings they cover that have a
    value; the per-test flags stay as QC gave them.
    """
    ids: dict[str, int] = {}
    stored_keys = _keys(stored, ids)
    incoming_keys = _keys(incoming, ids)
    unique_keys, first = np.unique(incoming_keys, return_index=True)  # first given value wins
    fresh = first[~np.isin(unique_keys, stored_keys)]
    fresh.sort()
    new = incoming.take(fresh)
    duplicates = len(incoming) - len(fresh)
    merged_variable = np.concatenate([stored.variable, new.variable])
    merged_time = np.concatenate([stored.time_us, new.time_us])
    merged_value = np.concatenate([stored.value, new.value])
    flags = np.zeros(len(merged_time), dtype=np.int16)
    codes = np.zeros(len(merged_time), dtype=np.int64)
    if len(merged_time):
        flags, codes = _flags(config, station, merged_variable, merged_time, merged_value)
        apply_judgements(flags, merged_variable, merged_time, np.isnan(merged_value), overrides)
    n = len(stored)
    new = Columns(new.variable, new.time_us, new.value, flags[n:], codes[n:])
    inside = (stored.time_us >= window[0]) & (stored.time_us < window[1])
    old_flag = stored.flag if stored.flag is not None else np.zeros(n, dtype=np.int16)
    old_code = stored.code if stored.code is not None else np.full(n, NO_TESTS, dtype=np.int64)
    moved = inside & ((old_flag != flags[:n]) | (old_code != codes[:n]))
    where = np.flatnonzero(moved)
    changed = Columns(
        stored.variable[where], stored.time_us[where], stored.value[where], flags[:n][where], codes[:n][where]
    )
    return Judged(new, changed, old_flag[where], old_code[where], duplicates)
