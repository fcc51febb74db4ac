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

from collections.abc import Iterable, Mapping
from typing import Any

import numpy as np

from schemas.quality import NOT_EVALUATED, TEST_INDEX, QcResult, pack, unpack
from streams.qc import checks
from streams.qc.batch import Batch, SeriesKey, TouchedSeries
from streams.qc.config import POSITION_VARIABLES, QcConfig, SeriesConfig
from streams.qc.flags import aggregate
from streams.qc.readings import Readings
from streams.qc.runners import RUNNERS
from streams.qc.state import SeriesState

_SECOND_US = 1_000_000
_EVICT_STEP = 64
_CHUNK_SAMPLES = 16  # sampling intervals per changelog chunk
_LOCATION = TEST_INDEX["location"]


def state_key(station: str, variable: str) -> str:
    """Key of a series' state in the changelog table (co-partitioned by station)."""
    return f"{station}/{variable}"


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
        self._index = _ParamIndex([(test, shared) for test, _, _, shared in RUNNERS])

    # ------------------------------------------------------------ public API

    def process(self, readings: Readings) -> list[QcResult]:
        """Flag a batch; returns the readings whose flags are new or changed (corrections included)."""
        results: list[QcResult] = []
        works: dict[SeriesKey, TouchedSeries] = {}
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
                works[key] = TouchedSeries(key, config, state, inserted)
        self._locate(works)
        if works:
            chosen = list(works.values())
            group_ids = np.array([self._index.row(w.config) for w in chosen], dtype=np.int64)
            results.extend(self._flag(Batch(chosen, group_ids)))
        for work in works.values():
            self._evict(work)
        self._changed.update(works)
        return results

    def export_state(
        self, keys: Iterable[str] | None = None, *, at_most: int | None = None
    ) -> dict[str, dict[str, Any] | None]:
        """Changelog-table entries: JSON-compatible values, None for an entry to delete.

        Per series a header under ``station/variable`` and chunks of readings under
        ``station/variable/<chunk>``. By default only what changed since the last export (a few
        kilobytes per touched series), or ``at_most`` of those series (the rest stay for a later
        export); with ``keys`` (``station/variable``), those series in full.
        """
        full = keys is not None
        if keys is None and (at_most is None or at_most >= len(self._changed)):
            chosen, self._changed = self._changed, set()
        elif keys is None:
            chosen = {self._changed.pop() for _ in range(at_most or 0)}
        else:
            # A key of another shape names no series (it was never exported).
            chosen = {(p[0], p[1]) for p in (k.split("/") for k in keys) if len(p) == 2}
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

    def unexported(self) -> int:
        """How many series changed since they were last exported."""
        return len(self._changed)

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
        for series, header in headers.items():
            self._states[series] = SeriesState.restore(header, chunks.get(series, {}))

    def forget(self, stations: Iterable[str]) -> None:
        """Drop the state of these stations' series (their partition moved to another worker)."""
        gone = set(stations)
        for key in [k for k in self._states if k[0] in gone]:
            del self._states[key]
            self._changed.discard(key)

    def series_flags(self, station: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
        """(times_us, packed per-test flags) of the readings a series still retains."""
        state = self._states.get((station, variable))
        if state is None:
            return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        return state.times_us.copy(), state.codes.copy()

    # ------------------------------------------------------------ location (pairs of series)

    def _locate(self, works: dict[SeriesKey, TouchedSeries]) -> None:
        """Location needs latitude and longitude at the same time: flag both once both are here."""
        # Both position series of a station carry the station's one location test.
        tests = {
            k[0]: w.config.location
            for k, w in works.items()
            if k[1] in POSITION_VARIABLES and w.config.location is not None
        }
        for station in sorted(tests):
            config = tests[station]
            keys = [(station, v) for v in POSITION_VARIABLES]
            states = [self._states.get(k) for k in keys]
            times = np.unique(
                np.concatenate([works[k].state.times_us[works[k].inserted] for k in keys if k in works])
            )
            found = [self._lookup(s, times) for s in states]
            both = found[0][1] & found[1][1]
            flags = np.full(len(times), NOT_EVALUATED, dtype=np.uint8)
            flags[both] = checks.location(found[0][2][both], found[1][2][both], config)
            for key, state, (at, present, _) in zip(keys, states, found, strict=True):
                if state is None or not present.any():
                    continue
                work = works.get(key) or works.setdefault(
                    key, TouchedSeries(key, self.config.series[key], state, np.zeros(0, dtype=np.int64))
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

    def _flag(self, batch: Batch) -> list[QcResult]:
        rows = batch.dirty
        old = unpack(batch.codes[rows])
        out = old.copy()
        keep_old = np.where(old == 0, NOT_EVALUATED, old)
        for k, (test, run, trusted, _) in enumerate(RUNNERS):
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

    def _apply_location(self, batch: Batch, out: np.ndarray, keep_old: np.ndarray) -> None:
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
        self, batch: Batch, rows: np.ndarray, tests: np.ndarray, codes: np.ndarray
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

    def _evict(self, work: TouchedSeries) -> None:
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


def _touch_chunks(batch: Batch, elements: np.ndarray) -> None:
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
