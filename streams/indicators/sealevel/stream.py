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
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from streams.indicators.records import Indicator
from streams.indicators.sealevel.compute import (
    CycleMax,
    SeaLevelConfig,
    cycle_indicators,
    cycle_maxima,
    extremum_indicators,
    mean_indicators,
    reading_indicators,
    surge_m,
    unique_sorted,
    wave_indicators,
)
from streams.indicators.sealevel.extrema import Extremum, find_extrema
from streams.indicators.sealevel.means import PERIODS, add_reading, period_end_us, period_starts, to_um
from streams.indicators.sealevel.tide import US_PER_S, TideModel, predict_with

WATER_LEVEL = "water_level_m"
WAVE_HEIGHT = "wave_height_m"
QC_GOOD = 1
STATE_VERSION = 1


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


class SeaLevelState:
    """Bounded, JSON-serialisable state of one station; see the module docstring for the contract."""

    def __init__(self, cfg: SeaLevelConfig, models: list[TideModel] | None = None) -> None:
        self.cfg = cfg
        self.watermark_us: int | None = None
        self.raw: dict[int, int] = {}
        self.sums: dict[str, dict[int, list[int]]] = {p: {} for p in PERIODS}
        self.extrema: dict[tuple[int, str], Extremum] = {}
        self.cycles: dict[int, CycleMax] = {}
        self.models: list[TideModel] = sorted(models or [], key=lambda m: m.effective_from_us)
        self.late_dropped = 0

    # -- event-time bounds -------------------------------------------------------------------------
    def _window_start(self, watermark_us: int | None) -> int | None:
        return None if watermark_us is None else watermark_us - self.cfg.horizon_s * US_PER_S

    def _raw_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        times = np.fromiter(sorted(self.raw), dtype=np.int64, count=len(self.raw))
        levels = np.fromiter((self.raw[t] for t in times.tolist()), dtype=np.int64, count=times.size)
        return times, levels

    # -- public API ---------------------------------------------------------------------------------
    def update(
        self, variable: str, times_us: np.ndarray, values: np.ndarray, flags: np.ndarray | None = None
    ) -> list[Indicator]:
        """Take QC-good readings of one variable (QC flag 1 kept when ``flags`` is given)."""
        times_us = np.asarray(times_us, dtype=np.int64)
        values = np.asarray(values, dtype=float)
        keep = np.isfinite(values)
        if flags is not None:
            keep &= np.asarray(flags) == QC_GOOD
        times_us, values = unique_sorted(times_us[keep], values[keep])
        if variable == WAVE_HEIGHT:
            return wave_indicators(self.cfg, times_us, values)
        if variable != WATER_LEVEL or times_us.size == 0:
            return []
        return self._update_levels(times_us, to_um(values))

    def add_model(self, model: TideModel) -> list[Indicator]:
        """Use a newly fitted model from its ``effective_from_us`` on; re-emits what it changes."""
        self.models = [m for m in self.models if m.effective_from_us != model.effective_from_us]
        self.models.append(model)
        self.models.sort(key=lambda m: m.effective_from_us)
        times, levels = self._raw_arrays()
        later = times >= model.effective_from_us
        out = reading_indicators(
            self.cfg, times[later], levels[later], predict_with(self.models, times[later])
        )
        if self.watermark_us is not None:
            out.extend(self._derive(self._window_start(self.watermark_us), self.watermark_us))
        self._prune_models()
        return out

    # -- internals ----------------------------------------------------------------------------------
    def _update_levels(self, times_us: np.ndarray, level_um: np.ndarray) -> list[Indicator]:
        old_start = self._window_start(self.watermark_us)
        if old_start is not None:
            late = times_us < old_start
            self.late_dropped += int(late.sum())
            times_us, level_um = times_us[~late], level_um[~late]
            if times_us.size == 0:
                return []
        touched: dict[str, set[int]] = {p: set() for p in PERIODS}
        starts = {p: period_starts(times_us, p).tolist() for p in PERIODS}
        for i, (t, um) in enumerate(zip(times_us.tolist(), level_um.tolist(), strict=True)):
            old = self.raw.get(t)
            self.raw[t] = um
            for period in PERIODS:
                key = starts[period][i]
                touched[period].add(key)
                add_reading(self.sums[period], key, 1 if old is None else 0, um - (old or 0))
        out = reading_indicators(self.cfg, times_us, level_um, predict_with(self.models, times_us))
        for period in PERIODS:
            for key in sorted(touched[period]):
                n, s = self.sums[period][key]
                out.extend(mean_indicators(self.cfg, period, key, n, s))
        new_watermark = (
            int(times_us.max()) if self.watermark_us is None else max(self.watermark_us, int(times_us.max()))
        )
        out.extend(self._derive(old_start, new_watermark))
        self.watermark_us = new_watermark
        self._evict()
        return out

    def _derive(self, zone_from_window_us: int | None, watermark_us: int) -> list[Indicator]:
        """High/low waters and cycle maxima whose inputs are complete in the window, diffed with the past."""
        reach = self.cfg.extrema.reach_us
        low = -(2**62) if zone_from_window_us is None else zone_from_window_us + reach
        high = watermark_us - reach
        times, levels = self._raw_arrays()
        extrema = find_extrema(times, levels, self.cfg.extrema)
        current = {(e.anchor_us, e.kind): e for e in extrema if low <= e.anchor_us <= high}
        previous = {k: e for k, e in self.extrema.items() if k[0] >= low}
        retract, emit = _diff(previous, current, extremum_indicators, self.cfg)
        self.extrema = current
        surge = surge_m(levels, predict_with(self.models, times))
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
        self.raw = {t: v for t, v in self.raw.items() if t >= start}
        for period in PERIODS:
            self.sums[period] = {
                k: v for k, v in self.sums[period].items() if period_end_us(k, period) > start
            }
        self._prune_models()

    def _prune_models(self) -> None:
        """Drop models superseded before the window start: no accepted reading can use them again."""
        start = self._window_start(self.watermark_us)
        if start is None:
            return
        self.models = [
            m
            for i, m in enumerate(self.models)
            if i + 1 == len(self.models) or self.models[i + 1].effective_from_us > start
        ]

    # -- serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        times, levels = self._raw_arrays()
        return {
            "version": STATE_VERSION,
            "station": self.cfg.station,
            "watermark_us": self.watermark_us,
            "raw_time_us": times.tolist(),
            "raw_level_um": levels.tolist(),
            "sums": {p: [[k, n, s] for k, (n, s) in sorted(v.items())] for p, v in self.sums.items()},
            "extrema": [[e.anchor_us, e.kind, e.time_us, e.height_m] for e in self.extrema.values()],
            "cycles": [[c.anchor_us, c.end_anchor_us, c.time_us, c.surge_m] for c in self.cycles.values()],
            "models": [m.to_dict() for m in self.models],
            "late_dropped": self.late_dropped,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, cfg: SeaLevelConfig, doc: dict[str, Any]) -> SeaLevelState:
        if doc.get("version") != STATE_VERSION or doc.get("station") != cfg.station:
            raise ValueError(
                f"station {cfg.station!r}: state is for {doc.get('station')!r} v{doc.get('version')}"
            )
        state = cls(cfg, [TideModel.from_dict(m) for m in doc["models"]])
        state.watermark_us = doc["watermark_us"]
        state.raw = dict(zip(doc["raw_time_us"], doc["raw_level_um"], strict=True))
        state.sums = {p: {k: [n, s] for k, n, s in doc["sums"][p]} for p in PERIODS}
        state.extrema = {(a, kind): Extremum(kind, a, t, h) for a, kind, t, h in doc["extrema"]}
        state.cycles = {a: CycleMax(a, b, t, v) for a, b, t, v in doc["cycles"]}
        state.late_dropped = int(doc["late_dropped"])
        return state

    @classmethod
    def from_json(cls, cfg: SeaLevelConfig, data: bytes | str) -> SeaLevelState:
        return cls.from_dict(cfg, orjson.loads(data))
