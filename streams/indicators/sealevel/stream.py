"""Per-station streaming state for the sea-level indicators, in event time and order-independent.

The state keeps the last ``horizon_s`` (48 h) of water-level readings (exact integer micrometres), the
partial sums of the hours, days and months that can still receive a reading, the high/low waters and
cycle maxima it has emitted but that a late reading could still change, and the tide models in effect
over that window. ``update`` emits every indicator the new readings touched; consumers upsert by
(station, indicator, time_us), and a None value retracts a row. The invariant (tested): the last value
emitted per key equals ``compute_indicators`` over the full sorted series, whatever the arrival order,
duplicates and restarts, as long as readings arrive less than ``horizon_s`` behind the newest reading.
Older readings are counted in ``late_dropped`` and left to a batch recompute. High/low waters and cycle
maxima are emitted once the watermark is ``ExtremaParams.reach_us`` past them (about 4 h).

The interval sums are not stored as such: a restore adds up the raw readings it finds and the sums of
the readings already evicted (``closed``, with the slot eviction reached). A worker killed while
writing a state leaves only some of its pieces in the changelog, and receives again the readings after
its last committed offset; sums stored beside the raw readings then counted some of them twice. Built
from whatever raw pieces a restore finds, with the closed part written before the slots it replaces
are deleted, the sums of a restored state always hold each reading once.

QC flags are revised after the fact (a spike confirmed by the next sample, a late neighbour), so
``update`` takes every QC result of a variable as an upsert by time: a reading is usable iff its latest
flag is 1 (GOOD) and its value finite. A usable result adds or replaces the reading; a result that is
not usable withdraws the reading taken earlier at that time from the raw window and the interval sums,
retracts its tide prediction and surge, re-emits the means it fed (None once an interval is empty) and
lets the high/low waters and cycle maxima be recomputed. The invariant then holds over the final
usable readings. The watermark is the newest usable reading ever taken; a withdrawal does not move it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from schemas.indicators import Indicator
from streams.indicators.pieces import piece_width_us
from streams.indicators.sealevel import catalogue as r
from streams.indicators.sealevel.compute import (
    CycleMax,
    SeaLevelConfig,
    cycle_indicators,
    cycle_maxima,
    extremum_indicators,
    latest_results,
    mean_indicators,
    provisional_with,
    reading_indicators,
    retracted,
    trusted_surge_m,
    wave_indicators,
)
from streams.indicators.sealevel.extrema import Extremum, find_extrema
from streams.indicators.sealevel.means import (
    PERIODS,
    add_reading,
    partial_sums,
    period_end_us,
    period_starts,
    to_um,
)
from streams.indicators.sealevel.tide import US_PER_S, TideModel, predict_with
from streams.indicators.sealevel.window import Levels

WATER_LEVEL = "water_level_m"
WAVE_HEIGHT = "wave_height_m"
STATE_VERSION = 3
# Pieces written whole whenever an update changed anything (each holds a handful of entries). The head
# goes last: a changelog holding it holds everything written before it in the same export.
_SMALL_PIECES = ("extrema", "cycles", "head")


def _diff(
    previous: dict[Any, Any], current: dict[Any, Any], to_records: Any, cfg: SeaLevelConfig
) -> tuple[list[Indicator], list[Indicator]]:
    """Retractions of rows that vanished or moved, and values that are new or changed."""
    retract, emit = [], []
    for key, old in previous.items():
        new = current.get(key)
        if new is None or new.time_us != old.time_us:
            retract.extend(to_records(cfg, old, retract=True))
    for key, new in current.items():
        if previous.get(key) != new:
            emit.extend(to_records(cfg, new))
    return retract, emit


def _merged(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Overlapping or touching closed ranges joined, so no stretch is searched twice."""
    out: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if out and lo <= out[-1][1]:
            out[-1] = (out[-1][0], max(out[-1][1], hi))
        else:
            out.append((lo, hi))
    return out


class SeaLevelState:
    """Bounded, JSON-serialisable state of one station; see the module docstring for the contract."""

    def __init__(self, cfg: SeaLevelConfig, models: list[TideModel] | None = None) -> None:
        self.cfg = cfg
        self.watermark_us: int | None = None
        self.raw = Levels()
        self.sums: dict[str, dict[int, list[int]]] = {p: {} for p in PERIODS}
        # The part of the open intervals' sums that comes from readings evicted from ``raw``, and the
        # time before which every slot has been evicted (readings there are never taken again).
        self.closed: dict[str, dict[int, list[int]]] = {p: {} for p in PERIODS}
        self.evicted_before_us: int | None = None
        self.extrema: dict[tuple[int, str], Extremum] = {}
        # Every extremum of the raw window (decided or not), kept between updates so that an update
        # searches only near what changed; None: search the whole window next time (after a restore).
        self._found: dict[tuple[int, str], Extremum] | None = None
        self._searched_first: int | None = None
        self.cycles: dict[int, CycleMax] = {}
        self.models: list[TideModel] = sorted(models or [], key=lambda m: m.effective_from_us)
        self.late_dropped = 0
        # Pieces changed since the last export: raw readings by slot (of width_us), and the named pieces.
        self.width_us = piece_width_us(cfg.sampling_interval_s)
        self._raw_slots: set[int] = set()
        self._pieces: set[str] = {"closed", *_SMALL_PIECES, "models"}

    # -- event-time bounds -------------------------------------------------------------------------
    def _window_start(self, watermark_us: int | None) -> int | None:
        return None if watermark_us is None else watermark_us - self.cfg.horizon_s * US_PER_S

    def _raw_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        return self.raw.arrays()

    # -- public API ---------------------------------------------------------------------------------
    def update(
        self, variable: str, times_us: np.ndarray, values: np.ndarray, flags: np.ndarray | None = None
    ) -> list[Indicator]:
        """Take the latest QC results of readings of one variable (``flags`` None: all QC-good).

        Each result upserts the reading at its time: usable (flag 1, finite value) adds or replaces it,
        anything else withdraws it and re-emits or retracts every indicator it fed. Of several results
        for one time in one call, the last one given wins.
        """
        times_us, values, usable = latest_results(times_us, values, flags)
        if variable == WAVE_HEIGHT:
            # Wave warnings are per reading and keep no state: a withdrawal retracts its key blindly.
            return wave_indicators(self.cfg, times_us[usable], values[usable]) + retracted(
                wave_indicators(self.cfg, times_us[~usable], np.zeros(int((~usable).sum())))
            )
        if variable != WATER_LEVEL or times_us.size == 0:
            return []
        return self._update_levels(times_us, to_um(np.where(usable, values, 0.0)), usable)

    def add_model(self, model: TideModel) -> list[Indicator]:
        """Use a newly fitted model from its ``effective_from_us`` on; re-emits what it changes.

        A reading whose surge changes between ``surge_provisional_m`` and ``surge_m`` (the new model
        is on the other side of the quality bar) has its old key retracted.
        """
        times, levels = self._raw_arrays()
        later = times >= model.effective_from_us
        times, levels = times[later], levels[later]
        before = self._provisional(times)
        had_model = np.isfinite(self._predicted(times))
        self.models = [m for m in self.models if m.effective_from_us != model.effective_from_us]
        self.models.append(model)
        self.models.sort(key=lambda m: m.effective_from_us)
        self._pieces.update(("models", "extrema", "cycles"))
        after = self._provisional(times)
        moved = had_model & (before != after)
        out = retracted(
            reading_indicators(
                self.cfg, times[moved], levels[moved], np.zeros(int(moved.sum())), before[moved]
            )
        )
        out = [rec for rec in out if rec.indicator != r.TIDE_PREDICTED]
        out += reading_indicators(self.cfg, times, levels, self._predicted(times), after)
        if self.watermark_us is not None:
            out.extend(self._derive(self._window_start(self.watermark_us), self.watermark_us))
        self._prune_models()
        return out

    # -- internals ----------------------------------------------------------------------------------
    def _predicted(self, times_us: np.ndarray) -> np.ndarray:
        return predict_with(self.models, times_us, self.cfg.zeros)

    def _provisional(self, times_us: np.ndarray) -> np.ndarray:
        return provisional_with(self.models, times_us, self.cfg.tide_quality)

    def _update_levels(
        self, times_us: np.ndarray, level_um: np.ndarray, usable: np.ndarray
    ) -> list[Indicator]:
        old_start = self._window_start(self.watermark_us)
        if old_start is not None:
            late = times_us < max(old_start, self.evicted_before_us or old_start)
            if late.any():
                self.late_dropped += int(late.sum())
                self._pieces.add("head")
            times_us, level_um, usable = times_us[~late], level_um[~late], usable[~late]
            if times_us.size == 0:
                return []
        touched: dict[str, set[int]] = {p: set() for p in PERIODS}
        starts = {p: period_starts(times_us, p).tolist() for p in PERIODS}
        added: list[int] = []
        gone: dict[int, int] = {}
        rows = zip(times_us.tolist(), level_um.tolist(), usable.tolist(), strict=True)
        for i, (t, um, ok) in enumerate(rows):
            old = self.raw.get(t)
            if ok and old != um:
                self.raw[t] = um
                added.append(i)
                delta_n, delta_um = (1 if old is None else 0), um - (old or 0)
            elif not ok and old is not None:
                gone[t] = self.raw.pop(t)
                delta_n, delta_um = -1, -old
            else:
                continue  # a replay, or a reading that was not usable before either: nothing changes
            self._raw_slots.add(t // self.width_us)
            for period in PERIODS:
                key = starts[period][i]
                touched[period].add(key)
                add_reading(self.sums[period], key, delta_n, delta_um)
        if not added and not gone:
            return []
        new_t, new_um = times_us[added], level_um[added]
        out = reading_indicators(self.cfg, new_t, new_um, self._predicted(new_t), self._provisional(new_t))
        if gone:
            gone_t = np.fromiter(gone, dtype=np.int64, count=len(gone))
            gone_um = np.fromiter(gone.values(), dtype=np.int64, count=len(gone))
            gone_rows = reading_indicators(
                self.cfg, gone_t, gone_um, self._predicted(gone_t), self._provisional(gone_t)
            )
            out.extend(retracted(gone_rows))
        for period in PERIODS:
            sums = self.sums[period]
            for key in sorted(touched[period]):
                n, s = sums[key]
                out.extend(mean_indicators(self.cfg, period, key, n, s))
                if n == 0:
                    del sums[key]
        watermark = self.watermark_us
        if new_t.size:
            newest = int(new_t.max())
            watermark = newest if watermark is None else max(watermark, newest)
        assert watermark is not None  # something was withdrawn, so a reading was taken before
        changed = new_t.tolist() + list(gone)
        out.extend(self._derive(old_start, watermark, (min(changed), max(changed))))
        self.watermark_us = watermark
        self._evict()
        self._pieces.update(_SMALL_PIECES)
        return out

    def _search(
        self, times: np.ndarray, levels: np.ndarray, changed: tuple[int, int] | None
    ) -> list[Extremum]:
        """The window's extrema: ``find_extrema`` over it, redone only within reach of the changed
        readings and of the window's first and last reading (where the search grid starts and ends)."""
        p = self.cfg.extrema
        if self._found is None or changed is None or times.size == 0:
            self._found = {(e.anchor_us, e.kind): e for e in find_extrema(times, levels, p)}
        else:
            first, last = int(times[0]), int(times[-1])
            found = {k: e for k, e in self._found.items() if first <= k[0] <= last}
            edges = [changed, (last, last)]
            if first != self._searched_first:
                edges.append((first, first))
            for lo, hi in _merged([(lo - p.reach_us, hi + p.reach_us) for lo, hi in edges]):
                found = {k: e for k, e in found.items() if not lo <= k[0] <= hi}
                found.update(((e.anchor_us, e.kind), e) for e in find_extrema(times, levels, p, lo, hi))
            self._found = found
        self._searched_first = int(times[0]) if times.size else None
        return [self._found[k] for k in sorted(self._found)]

    def _derive(
        self, zone_from_window_us: int | None, watermark_us: int, changed: tuple[int, int] | None = None
    ) -> list[Indicator]:
        """High/low waters and cycle maxima whose inputs are complete in the window, diffed with the past."""
        reach = self.cfg.extrema.reach_us
        low = -(2**62) if zone_from_window_us is None else zone_from_window_us + reach
        high = watermark_us - reach
        times, levels = self._raw_arrays()
        extrema = self._search(times, levels, changed)
        current = {(e.anchor_us, e.kind): e for e in extrema if low <= e.anchor_us <= high}
        previous = {k: e for k, e in self.extrema.items() if k[0] >= low}
        retract, emit = _diff(previous, current, extremum_indicators, self.cfg)
        self.extrema = current
        surge = trusted_surge_m(levels, self._predicted(times), self._provisional(times))
        cycles = {
            c.anchor_us: c
            for c in cycle_maxima(extrema, times, surge, self.cfg.max_cycle_s)
            if c.anchor_us >= low and c.end_anchor_us <= high
        }
        previous_cycles = {k: c for k, c in self.cycles.items() if k >= low}
        c_retract, c_emit = _diff(previous_cycles, cycles, cycle_indicators, self.cfg)
        self.cycles = cycles
        return retract + c_retract + emit + c_emit

    def _evict(self) -> None:
        start = self._window_start(self.watermark_us)
        assert start is not None
        # Whole slots at a time: the window's first reading then moves once a slot, and only then is
        # the search redone near it (readings before the window start never reach an indicator).
        slot_start = start // self.width_us * self.width_us
        self._close_before(slot_start)
        for period in PERIODS:
            self.sums[period] = {
                k: v for k, v in self.sums[period].items() if period_end_us(k, period) > start
            }
            closed = {k: v for k, v in self.closed[period].items() if period_end_us(k, period) > start}
            if len(closed) != len(self.closed[period]):
                self.closed[period] = closed
                self._pieces.add("closed")
        self._prune_models()

    def _close_before(self, slot_start_us: int) -> None:
        """Evict the raw readings before a slot boundary, their levels kept in the closed sums."""
        times, levels = self.raw.between(-(2**62), slot_start_us)
        if times.size:
            for period in PERIODS:
                for key, (n, s) in partial_sums(times, levels, period).items():
                    add_reading(self.closed[period], key, n, s)
            self._raw_slots.update((self.raw.evict_before(slot_start_us) // self.width_us).tolist())
        if self.evicted_before_us is None or slot_start_us > self.evicted_before_us:
            self.evicted_before_us = slot_start_us
            self._pieces.add("closed")

    def _prune_models(self) -> None:
        """Drop models superseded before the window start: no accepted reading can use them again."""
        start = self._window_start(self.watermark_us)
        if start is None:
            return
        kept = [
            m
            for i, m in enumerate(self.models)
            if i + 1 == len(self.models) or self.models[i + 1].effective_from_us > start
        ]
        if len(kept) != len(self.models):
            self.models = kept
            self._pieces.add("models")

    # -- serialisation ------------------------------------------------------------------------------
    def export(self, full: bool = False) -> dict[str, Any]:
        """Pieces changed since the last export (all with ``full``): {piece: JSON value, None to delete}.

        Raw readings go by slots of ~16 sampling intervals (an update rewrites the slot or two it
        touched, not the 48 h window); the head, interval sums, extrema and cycles are small and
        written whole; the tide models only when they change.
        """
        names = {"closed", *_SMALL_PIECES, "models"} if full else self._pieces
        slots = {t // self.width_us for t in self.raw} if full else self._raw_slots
        pieces: dict[str, Any] = {}
        # Order matters (the changelog may keep any prefix of it): the closed sums before the deletion
        # of the slots they took over, the head last.
        if "sums" in names:
            pieces["sums"] = None  # the version-2 piece this state was restored from
        if "closed" in names:
            pieces["closed"] = {
                "evicted_before_us": self.evicted_before_us,
                **{p: [[k, n, s] for k, (n, s) in sorted(v.items())] for p, v in self.closed.items()},
            }
        if "extrema" in names:
            pieces["extrema"] = [[e.anchor_us, e.kind, e.time_us, e.height_m] for e in self.extrema.values()]
        if "cycles" in names:
            pieces["cycles"] = [
                [c.anchor_us, c.end_anchor_us, c.time_us, c.surge_m] for c in self.cycles.values()
            ]
        if "models" in names:
            pieces["models"] = [m.to_dict() for m in self.models]
        for slot in sorted(slots):
            times, levels = self.raw.between(slot * self.width_us, (slot + 1) * self.width_us)
            pieces[f"raw/{slot}"] = [
                [t, um] for t, um in zip(times.tolist(), levels.tolist(), strict=True)
            ] or None
        if "head" in names:
            pieces["head"] = {
                "version": STATE_VERSION,
                "station": self.cfg.station,
                "watermark_us": self.watermark_us,
                "late_dropped": self.late_dropped,
            }
        self._raw_slots, self._pieces = set(), set()
        return pieces

    @classmethod
    def from_pieces(cls, cfg: SeaLevelConfig, pieces: dict[str, Any]) -> SeaLevelState:
        """The state ``export`` wrote (any order of pieces; a piece given as None is absent)."""
        head = pieces.get("head") or {}
        version = head.get("version")
        if version not in (2, STATE_VERSION) or head.get("station") != cfg.station:
            raise ValueError(
                f"station {cfg.station!r}: state is for {head.get('station')!r} v{head.get('version')}"
            )
        state = cls(cfg, [TideModel.from_dict(m) for m in pieces.get("models") or []])
        state._pieces = set()  # what the restore itself finishes is marked below, for the next export
        state.watermark_us = head["watermark_us"]
        state.late_dropped = int(head["late_dropped"])
        closed = pieces.get("closed") or {}
        state.closed = {p: {k: [n, s] for k, n, s in closed.get(p, [])} for p in PERIODS}
        state.evicted_before_us = closed.get("evicted_before_us")
        rows = sorted(
            row for key, value in pieces.items() if key.startswith("raw/") and value for row in value
        )
        evicted = state.evicted_before_us
        # Slots before the closed sums' boundary are in them already (their deletion did not reach
        # the changelog); the ones the head's window has left behind are evicted now, as they were.
        state.raw = Levels({int(t): int(um) for t, um in rows if evicted is None or t >= evicted})
        if evicted is not None:
            state._raw_slots.update(int(t) // state.width_us for t, _ in rows if t < evicted)
        if version == 2:
            state._closed_from_v2(pieces.get("sums") or {})
        if state.raw:
            # Slots written without the head that follows them: their readings were taken all the same.
            newest = int(state.raw.arrays()[0][-1])
            state.watermark_us = newest if state.watermark_us is None else max(state.watermark_us, newest)
        start = state._window_start(state.watermark_us)
        if start is not None:
            state._close_before(start // state.width_us * state.width_us)
        times, levels = state.raw.arrays()
        for period in PERIODS:
            sums = {k: list(v) for k, v in state.closed[period].items()}
            for key, (n, s) in partial_sums(times, levels, period).items():
                add_reading(sums, key, n, s)
            state.sums[period] = (
                sums if start is None else {k: v for k, v in sums.items() if period_end_us(k, period) > start}
            )
        state.extrema = {(a, kind): Extremum(kind, a, t, h) for a, kind, t, h in pieces.get("extrema") or []}
        state.cycles = {a: CycleMax(a, b, t, v) for a, b, t, v in pieces.get("cycles") or []}
        if version == 2:
            state._pieces.update(("closed", "head", "sums"))
        return state

    def _closed_from_v2(self, sums: dict[str, list[list[int]]]) -> None:
        """A version-2 state stored its sums whole: what they hold beyond its raw readings was evicted
        before its window's first slot (its next export writes the closed piece and deletes ``sums``)."""
        start = self._window_start(self.watermark_us)
        self.evicted_before_us = None if start is None else start // self.width_us * self.width_us
        times, levels = self.raw.arrays()
        for period, entries in sums.items():
            in_raw = partial_sums(times, levels, period)
            for key, n, s in entries:
                raw_n, raw_s = in_raw.get(key, (0, 0))
                if n > raw_n:
                    self.closed[period][key] = [n - raw_n, s - raw_s]
