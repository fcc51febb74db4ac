"""The streaming QC engine: many series per call, per-series rolling context, corrected flags.

Each call takes a batch of readings of many stations and variables, merges them into each series'
retained context (sorted by event time), recomputes the flags of the readings whose context
changed, and returns a result for every reading whose flags are new or changed. Flags depend on
the data only: whatever the arrival order, the last result for a reading equals ``ioos_qc.qartod``
over the series' sorted readings, as long as the reading arrived within ``late_horizon_s`` of the
newest reading of its series. Each test is called once per parameter set over all the series that
share it (series joined with separators so neighbours never cross), not once per series.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.qc import checks
from streams.qc.config import POSITION_VARIABLES, QcConfig, SeriesConfig
from streams.qc.flags import GOOD, MISSING, NOT_EVALUATED, TEST_INDEX, aggregate, pack, unpack
from streams.qc.readings import QcResult, Readings
from streams.qc.state import SeriesState

SeriesKey = tuple[str, str]
_SECOND_US = 1_000_000
_EVICT_STEP = 64
_CHUNK_SAMPLES = 16  # sampling intervals per changelog chunk
_LOCATION = TEST_INDEX["location"]


def state_key(station: str, variable: str) -> str:
    """Key of a series' state in the changelog table (co-partitioned by station)."""
    return f"{station}/{variable}"


@dataclass(slots=True)
class _Work:
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


class _Batch:
    """The touched series' readings from one before the first changed reading, joined end to end."""

    def __init__(self, works: list[_Work], group_ids: np.ndarray) -> None:
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
        return pool[chosen[self.item[pool]]]

    def is_dirty(self, elements: np.ndarray) -> np.ndarray:
        return self.local[elements] >= self.dirty_from[self.item[elements]]


def _run_starts(items_of_elements: np.ndarray) -> np.ndarray:
    change = np.ones(len(items_of_elements), dtype=bool)
    change[1:] = items_of_elements[1:] != items_of_elements[:-1]
    return np.flatnonzero(change)


def _drop_separators(flags: np.ndarray, starts: np.ndarray) -> np.ndarray:
    keep = np.ones(len(flags), dtype=bool)
    keep[starts + np.arange(len(starts))] = False
    return flags[keep]


class _ParamIndex:
    """A small integer per distinct parameter set of each test, computed once per series.

    Series that share parameters are flagged by one call; a test marked per-series (climatology,
    whose spans are a table look-up) is one group whatever the parameters.
    """

    def __init__(self, tests: list[tuple[str, bool]]) -> None:
        self.tests = tests
        self.params: list[list[Any]] = [[] for _ in tests]
        self._ids: list[dict[Any, int]] = [{} for _ in tests]
        self._rows: dict[SeriesKey, tuple[int, ...]] = {}

    def row(self, config: SeriesConfig) -> tuple[int, ...]:
        key = (config.station, config.variable)
        row = self._rows.get(key)
        if row is None:
            row = self._rows[key] = tuple(
                self._id(i, getattr(config, test), shared) for i, (test, shared) in enumerate(self.tests)
            )
        return row

    def _id(self, column: int, params: Any, shared: bool) -> int:
        if params is None:
            return -1
        ids = self._ids[column]
        key = params if shared else "per-series"
        if key not in ids:
            ids[key] = len(self.params[column])
            self.params[column].append(params if shared else None)
        return ids[key]


class QcEngine:
    """Stateful, vectorised QARTOD QC for a whole network."""

    def __init__(self, config: QcConfig) -> None:
        self.config = config
        self._states: dict[SeriesKey, SeriesState] = {}
        self._changed: set[SeriesKey] = set()
        self._horizon_us = round(config.late_horizon_s * _SECOND_US)
        self._index = _ParamIndex([(test, shared) for test, _, _, shared in _RUNNERS])

    # ------------------------------------------------------------ public API

    def process(self, readings: Readings) -> list[QcResult]:
        """Flag a batch; returns the readings whose flags are new or changed (corrections included)."""
        results: list[QcResult] = []
        works: dict[SeriesKey, _Work] = {}
        for key, times_us, values in readings.by_series():
            config = self.config.series.get(key)
            if config is None:
                results.extend(self._unconfigured(key, times_us, values))
                continue
            state = self._states.get(key)
            if state is None:
                state = self._states[key] = SeriesState(
                    _CHUNK_SAMPLES * round(config.sampling_interval_s * 1e6)
                )
            inserted, stale = state.merge(times_us, values)
            if stale is not None and stale.any():
                results.extend(self._flag_stale(config, times_us[stale], values[stale]))
            if len(inserted):
                works[key] = _Work(key, config, state, inserted)
        self._locate(works)
        if works:
            chosen = list(works.values())
            group_ids = np.array([self._index.row(w.config) for w in chosen], dtype=np.int64)
            results.extend(self._flag(_Batch(chosen, group_ids)))
        for work in works.values():
            self._evict(work)
        self._changed.update(works)
        return results

    def export_state(self, keys: Iterable[str] | None = None) -> dict[str, dict[str, Any] | None]:
        """Changelog-table entries: JSON-compatible values, None for an entry to delete.

        Per series a header under ``station/variable`` and chunks of readings under
        ``station/variable/<chunk>``. By default only what changed since the last export (a few
        kilobytes per touched series); with ``keys`` (``station/variable``), those series in full.
        """
        full = keys is not None
        if keys is None:
            chosen, self._changed = self._changed, set()
        else:
            chosen = {tuple(k.split("/")) for k in keys}
        entries: dict[str, dict[str, Any] | None] = {}
        for key in chosen:
            state = self._states.get(key)
            if state is None:
                continue
            base = state_key(*key)
            header, chunks = state.export(full)
            entries[base] = header
            entries.update((f"{base}/{cid}", chunk) for cid, chunk in chunks.items())
        return entries

    def import_state(self, entries: Mapping[str, Mapping[str, Any] | None]) -> None:
        """Restore series from changelog-table entries written from ``export_state`` (any order)."""
        headers: dict[SeriesKey, Mapping[str, Any]] = {}
        chunks: dict[SeriesKey, dict[int, Mapping[str, Any]]] = {}
        for key, value in entries.items():
            parts = key.split("/")
            if len(parts) == 2 and value is not None:
                headers[(parts[0], parts[1])] = value
            elif len(parts) == 3 and value is not None:
                chunks.setdefault((parts[0], parts[1]), {})[int(parts[2])] = value
            elif len(parts) not in (2, 3):
                raise ValueError(f"not a QC state key: {key!r}")
        for key, header in headers.items():
            self._states[key] = SeriesState.restore(header, chunks.get(key, {}))

    def series_flags(self, station: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
        """(times_us, packed per-test flags) of the readings a series still retains."""
        state = self._states.get((station, variable))
        if state is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return state.times_us.copy(), state.codes.copy()

    # ------------------------------------------------------------ location (pairs of series)

    def _locate(self, works: dict[SeriesKey, _Work]) -> None:
        """Location needs latitude and longitude at the same time: flag both once both are here."""
        stations = {k[0] for k, w in works.items() if k[1] in POSITION_VARIABLES and w.config.location}
        for station in sorted(stations):
            keys = [(station, v) for v in POSITION_VARIABLES]
            states = [self._states.get(k) for k in keys]
            times = np.unique(
                np.concatenate([works[k].state.times_us[works[k].inserted] for k in keys if k in works])
            )
            found = [self._lookup(s, times) for s in states]
            both = found[0][1] & found[1][1]
            flags = np.full(len(times), NOT_EVALUATED, dtype=np.uint8)
            config = self.config.series[keys[0]].location
            flags[both] = checks.location(found[0][2][both], found[1][2][both], config)
            for key, state, (at, present, _) in zip(keys, states, found, strict=True):
                if state is None or not present.any():
                    continue
                work = works.get(key) or works.setdefault(
                    key, _Work(key, self.config.series[key], state, np.zeros(0, dtype=np.int64))
                )
                work.location_at, work.location_flags = at[present], flags[present]

    @staticmethod
    def _lookup(state: SeriesState | None, times: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        if state is None or len(state) == 0:
            return (
                np.zeros(len(times), dtype=np.int64),
                np.zeros(len(times), dtype=bool),
                np.full(len(times), np.nan),
            )
        at = np.minimum(np.searchsorted(state.times_us, times), len(state) - 1)
        present = state.times_us[at] == times
        return at, present, np.where(present, state.values[at], np.nan)

    # ------------------------------------------------------------ the tests

    def _flag(self, batch: _Batch) -> list[QcResult]:
        rows = batch.dirty
        old = unpack(batch.codes[rows])
        out = old.copy()
        keep_old = np.where(old == 0, NOT_EVALUATED, old)
        for k, (test, run, trusted, _) in enumerate(_RUNNERS):
            column = TEST_INDEX[test]
            groups, off = batch.groups(k, self._index.params[k])
            if len(off):
                out[np.isin(batch.item[rows], off), column] = 0
            for params, items in groups:
                elements, flags = run(batch, params, items)
                where = np.searchsorted(rows, elements)
                ok = trusted(batch, elements, params)
                out[where, column] = np.where(ok, flags, keep_old[where, column])
        self._apply_location(batch, out, keep_old)
        codes = pack(out)
        changed = batch.new[rows] | (codes != batch.codes[rows])
        _touch_chunks(batch, rows[changed])
        all_codes = batch.codes.copy()
        all_codes[rows] = codes
        for i, work in enumerate(batch.works):
            start = int(batch.core_from[i])
            work.state.codes[start:] = all_codes[batch.offsets[i] : batch.offsets[i + 1]]
        return self._results(batch, rows[changed], out[changed], codes[changed])

    def _apply_location(self, batch: _Batch, out: np.ndarray, keep_old: np.ndarray) -> None:
        rows = batch.dirty
        configured = np.array([w.config.location is not None for w in batch.works])
        out[~configured[batch.item[rows]], _LOCATION] = 0
        fresh = configured[batch.item[rows]] & batch.new[rows]
        out[fresh, _LOCATION] = keep_old[fresh, _LOCATION]
        for i, work in enumerate(batch.works):
            if work.location_at is not None and len(work.location_at):
                elements = batch.offsets[i] + work.location_at - batch.core_from[i]
                out[np.searchsorted(rows, elements), _LOCATION] = work.location_flags

    def _results(
        self, batch: _Batch, rows: np.ndarray, tests: np.ndarray, codes: np.ndarray
    ) -> list[QcResult]:
        values = batch.values[rows]
        flags = aggregate(tests, np.isnan(values))
        keys = [batch.works[i].key for i in batch.item[rows].tolist()]
        return [
            QcResult(station, variable, t, None if v != v else v, f, c, not n)
            for (station, variable), t, v, f, c, n in zip(
                keys,
                batch.times_us[rows].tolist(),
                values.tolist(),
                flags.tolist(),
                codes.tolist(),
                batch.new[rows].tolist(),
                strict=True,
            )
        ]

    def _flag_stale(self, config: SeriesConfig, times_us: np.ndarray, values: np.ndarray) -> list[QcResult]:
        """Readings older than the retained context: the tests that need no neighbours, 2 for the rest."""
        out = np.zeros((len(values), len(TEST_INDEX)), dtype=np.uint8)
        for test in ("gap", "spike", "rate_of_change", "flat_line", "attenuated_signal", "location"):
            if getattr(config, test) is not None:
                out[:, TEST_INDEX[test]] = NOT_EVALUATED
        if config.gross_range is not None:
            out[:, TEST_INDEX["gross_range"]] = checks.gross_range(values, config.gross_range)
        if config.climatology is not None:
            which = np.zeros(len(values), dtype=np.int64)
            out[:, TEST_INDEX["climatology"]] = checks.climatology(
                values, times_us, [config.climatology], which
            )
        return _plain_results((config.station, config.variable), times_us, values, out)

    def _unconfigured(self, key: SeriesKey, times_us: np.ndarray, values: np.ndarray) -> list[QcResult]:
        """A series the configuration does not know: not evaluated (2), or missing (9)."""
        return _plain_results(key, times_us, values, np.zeros((len(values), len(TEST_INDEX)), dtype=np.uint8))

    # ------------------------------------------------------------ retention

    def _evict(self, work: _Work) -> None:
        """Keep what a reading up to ``late_horizon_s`` behind the newest one needs to be flagged exactly."""
        state, config = work.state, work.config
        times = state.times_us
        # Cheap test first: drop readings only in steps of _EVICT_STEP (the full test costs two searches).
        probe = _EVICT_STEP + config.back_samples
        if probe >= len(times) or times[probe] >= times[-1] - self._horizon_us:
            return
        oldest_exact = int(np.searchsorted(times, times[-1] - self._horizon_us, side="left"))
        neighbour = max(oldest_exact - 1, 0)
        by_count = neighbour - config.back_samples
        by_time = int(np.searchsorted(times, times[neighbour] - config.back_us, side="right"))
        state.evict_before(min(by_count, by_time))


def _touch_chunks(batch: _Batch, elements: np.ndarray) -> None:
    """Mark the changelog chunks whose readings got new flags."""
    chunk_us = np.array([w.state.chunk_us for w in batch.works], dtype=np.int64)
    item = batch.item[elements]
    pairs = np.unique((item << 32) | (batch.times_us[elements] // chunk_us[item]))
    for i, cid in zip((pairs >> 32).tolist(), (pairs & 0xFFFFFFFF).tolist(), strict=True):
        batch.works[i].state.touched.add(cid)


def _plain_results(
    key: SeriesKey, times_us: np.ndarray, values: np.ndarray, tests: np.ndarray
) -> list[QcResult]:
    flags = aggregate(tests, np.isnan(values)).tolist()
    codes = pack(tests).tolist()
    return [
        QcResult(key[0], key[1], t, None if v != v else v, f, c, False)
        for t, v, f, c in zip(times_us.tolist(), values.tolist(), flags, codes, strict=True)
    ]


# ---------------------------------------------------------------- per-test runners
# Each takes (batch, parameters, items sharing them) and returns (dirty elements, their flags).


def _run_pointwise(check: Callable) -> Callable:
    def run(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        elements = batch.elements(items, dirty_only=True)
        return elements, check(batch.values[elements], params)

    return run


def _run_climatology(batch: _Batch, _: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    elements = batch.elements(items, dirty_only=True)
    tests = [batch.works[i].config.climatology for i in items.tolist()]
    rank = np.searchsorted(items, batch.item[elements])
    return elements, checks.climatology(batch.values[elements], batch.times_us[elements], tests, rank)


def _dirty_part(batch: _Batch, elements: np.ndarray, flags: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    is_dirty = batch.is_dirty(elements)
    return elements[is_dirty], flags[is_dirty]


def _run_spike(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Runs joined with no separator (every NaN costs ioos_qc a slow masked write): only a run's
    # last reading (its series' newest) and first reading see another series as a neighbour. The
    # first is context unless it starts its series; both get what ioos_qc gives an array's ends:
    # 2 (not evaluated), or 9 when the value is missing.
    elements = batch.elements(items, dirty_only=False)
    flags = checks.spike(batch.values[elements], params)
    starts = _run_starts(batch.item[elements])
    ends = np.append(starts[1:], len(elements)) - 1
    edges = np.concatenate([starts, ends])
    flags[edges] = np.where(np.isnan(batch.values[elements[edges]]), MISSING, NOT_EVALUATED)
    return _dirty_part(batch, elements, flags)


def _run_rate_of_change(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # A copy of a run's first reading one second before it gives that reading a zero rate: GOOD,
    # or MISSING when it is missing, which is what ioos_qc gives the first point of an array.
    elements = batch.elements(items, dirty_only=False)
    starts = _run_starts(batch.item[elements])
    first = elements[starts]
    values = np.insert(batch.values[elements], starts, batch.values[first])
    times = np.insert(batch.times_us[elements], starts, batch.times_us[first] - _SECOND_US)
    flags = checks.rate_of_change(values, times, params)
    return _dirty_part(batch, elements, _drop_separators(flags, starts))


def _run_gap(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Before each run a time mirrored from its second reading: ioos_qc gives an array's first point
    # the flag of its second one, and a run's first reading then sees the same interval. A run of
    # one reading gets NaT before it, which ioos_qc answers with 2 (not evaluated).
    elements = batch.elements(items, dirty_only=False)
    starts = _run_starts(batch.item[elements])
    times = batch.times_us[elements]
    ends = np.append(starts[1:], len(elements))
    has_second = ends - starts >= 2
    second = times[np.minimum(starts + 1, len(times) - 1)]
    mirrored = np.where(has_second, 2 * times[starts] - second, 0).astype("datetime64[us]")
    mirrored[~has_second] = np.datetime64("NaT")
    joined = np.insert(times.astype("datetime64[us]"), starts, mirrored)
    flags = checks.gap(joined, params)
    return _dirty_part(batch, elements, _drop_separators(flags, starts))


def _context(batch: _Batch, items: np.ndarray, first: Callable[[int, SeriesState], int]):
    """Each item's readings from ``first(item, state)`` to its newest, joined; and their offsets."""
    starts = [first(int(i), batch.works[i].state) for i in items]
    states = [batch.works[i].state for i in items]
    times = np.concatenate([s.times_us[a:] for s, a in zip(states, starts, strict=True)])
    values = np.concatenate([s.values[a:] for s, a in zip(states, starts, strict=True)])
    lengths = np.array([len(s) - a for s, a in zip(states, starts, strict=True)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return times, values, np.array(starts, dtype=np.int64), offsets


def _positions(
    batch: _Batch, elements: np.ndarray, items: np.ndarray, starts: np.ndarray, offsets: np.ndarray
):
    """Where elements of the items sit inside a context built by ``_context``, and their item's rank."""
    rank = np.searchsorted(items, batch.item[elements])
    return offsets[rank] + batch.local[elements] - starts[rank], rank


def _run_flat_line(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    elements = batch.elements(items, dirty_only=True)
    values = batch.values[elements]
    flags = np.full(len(elements), GOOD, dtype=np.uint8)
    flags[np.isnan(values)] = MISSING
    # A reading that moved by at least the tolerance since the one before cannot end a flat line
    # (its window's range is at least that step): most readings are settled without their window.
    has_previous = batch.local[elements] >= 1
    with np.errstate(invalid="ignore"):
        moved = has_previous & (
            np.abs(values - batch.values[np.maximum(elements - 1, 0)]) >= params.tolerance
        )
    candidates = np.flatnonzero(~moved & ~np.isnan(values) & (batch.local[elements] >= params.suspect_count))
    if len(candidates):
        chosen = elements[candidates]
        owners = np.unique(batch.item[chosen])
        _, context, starts, offsets = _context(
            batch, owners, lambda i, _: max(int(batch.dirty_from[i]) - params.fail_count, 0)
        )
        positions, rank = _positions(batch, chosen, owners, starts, offsets)
        history = batch.local[chosen] - starts[rank]
        flags[candidates] = checks.flat_line(context, positions, history, params)
    return elements, flags


def _run_attenuated(batch: _Batch, params: Any, items: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    period_us = params.test_period * _SECOND_US

    def first(i: int, state: SeriesState) -> int:
        times = state.times_us
        return int(np.searchsorted(times, times[batch.dirty_from[i]] - period_us, side="right"))

    times, values, starts, offsets = _context(batch, items, first)
    # Shift each series onto its own stretch of time, more than one period after the previous one,
    # so the rolling time window of ioos_qc never reaches into another series.
    lengths = np.diff(np.append(offsets, len(times)))
    base = times[offsets]
    spans = times[offsets + lengths - 1] - base + period_us + _SECOND_US
    shift = np.concatenate([[0], np.cumsum(spans)[:-1]]) - base
    flags = checks.attenuated_signal(values, times + np.repeat(shift, lengths), params)
    elements = batch.elements(items, dirty_only=True)
    positions, _ = _positions(batch, elements, items, starts, offsets)
    return elements, flags[positions]


# ---------------------------------------------------------------- when a computed flag is exact
# A test's result is kept only where its whole context is still retained; elsewhere the reading
# keeps the flag it had (2 for a reading never flagged before).


def _always(batch: _Batch, elements: np.ndarray, params: Any) -> np.ndarray:
    return np.ones(len(elements), dtype=bool)


def _after_first(batch: _Batch, elements: np.ndarray, params: Any) -> np.ndarray:
    return (batch.local[elements] >= 1) | ~batch.evicted[batch.item[elements]]


def _flat_line_trusted(batch: _Batch, elements: np.ndarray, params: Any) -> np.ndarray:
    return (batch.local[elements] >= params.fail_count) | ~batch.evicted[batch.item[elements]]


def _attenuated_trusted(batch: _Batch, elements: np.ndarray, params: Any) -> np.ndarray:
    item = batch.item[elements]
    horizon = batch.times_us[elements] - params.test_period * _SECOND_US
    return ~batch.evicted[item] | (batch.evicted_until_us[item] <= horizon)


_RUNNERS: list[tuple[str, Callable, Callable, bool]] = [
    # (test, runner, where its result is exact, one call per shared parameter set)
    ("gap", _run_gap, _after_first, True),
    ("gross_range", _run_pointwise(checks.gross_range), _always, True),
    ("climatology", _run_climatology, _always, False),
    ("spike", _run_spike, _after_first, True),
    ("rate_of_change", _run_rate_of_change, _after_first, True),
    ("flat_line", _run_flat_line, _flat_line_trusted, True),
    ("attenuated_signal", _run_attenuated, _attenuated_trusted, True),
]
