"""Sea-level indicators of one station over a stored series: the batch reference the stream must equal.

The pieces here (per-reading surge, interval means, high/low waters with their warning level, the
surge maximum per tidal cycle, wave warnings) are shared with ``stream.SeaLevelState``, which applies
them to its bounded window; one piece of code per piece of logic keeps both paths equal.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import numpy as np

from schemas.datums import DatumHistory
from schemas.indicators import Indicator
from streams.indicators.sealevel import catalogue as r
from streams.indicators.sealevel.catalogue import indicator
from streams.indicators.sealevel.extrema import HIGH, LOW, ExtremaParams, Extremum, find_extrema
from streams.indicators.sealevel.means import (
    PERIODS,
    completeness_pct,
    mean_m,
    partial_sums,
    period_end_us,
    to_um,
)
from streams.indicators.sealevel.quality import QualityBar, is_provisional
from streams.indicators.sealevel.tide import US_PER_S, TideModel, in_effect, predict_with
from streams.indicators.sealevel.warnings import (
    WATER_LEVEL_FIELD,
    WAVE_FIELD,
    WarningThresholds,
    classify,
    station_thresholds,
)

MEAN_IDS = {"hour": r.MSL_HOURLY, "day": r.MSL_DAILY, "month": r.MSL_MONTHLY}
QC_GOOD = 1


@dataclass(frozen=True, slots=True)
class SeaLevelConfig:
    """What the indicators of one station depend on besides its readings and tide models."""

    station: str
    sampling_interval_s: float
    water_level_thresholds: WarningThresholds | None = None
    wave_thresholds: WarningThresholds | None = None
    extrema: ExtremaParams = field(default_factory=ExtremaParams)
    horizon_s: int = 48 * 3600
    max_cycle_s: int = 30 * 3600
    tide_quality: QualityBar = field(default_factory=QualityBar)
    # The station zero's levelling history: tide predictions follow a re-levelling (tide.predict_on_zeros).
    zeros: DatumHistory = field(default_factory=DatumHistory)

    @classmethod
    def from_station(cls, station: Any, **overrides: Any) -> SeaLevelConfig:
        """From a registry ``Station``; validates its thresholds (errors name station and field)."""
        thresholds: Mapping[str, Any] = station.thresholds or {}
        return cls(
            station=station.id,
            sampling_interval_s=station.sampling_interval_s,
            water_level_thresholds=station_thresholds(station.id, thresholds, WATER_LEVEL_FIELD),
            wave_thresholds=station_thresholds(station.id, thresholds, WAVE_FIELD),
            zeros=station.datum.history,
            **overrides,
        )


@dataclass(frozen=True, slots=True)
class CycleMax:
    """Largest surge of the tidal cycle between the low waters anchored at ``anchor_us``/``end_anchor_us``."""

    anchor_us: int
    end_anchor_us: int
    time_us: int
    surge_m: float


def unique_sorted(times_us: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sort by time; of readings with the same time the last one given wins (an upsert)."""
    times_us = np.asarray(times_us, dtype=np.int64)
    values = np.asarray(values)
    rev_t, rev_v = times_us[::-1], values[::-1]
    uniq, first = np.unique(rev_t, return_index=True)
    return uniq, rev_v[first]


def latest_results(
    times_us: np.ndarray, values: np.ndarray, flags: Sequence[int] | np.ndarray | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The latest QC result per time, sorted: times, values and whether each reading is usable.

    Usable means QC flag 1 (GOOD) and a finite value; ``flags`` None means every reading is good.
    Of results with the same time the last one given wins, flag and value together.
    """
    values = np.asarray(values, dtype=float)
    times_us, last = unique_sorted(times_us, np.arange(values.size))
    values = values[last]
    usable = np.isfinite(values)
    if flags is not None:
        usable &= np.asarray(flags)[last] == QC_GOOD
    return times_us, values, usable


def sealevel_station(station: Any) -> bool:
    """Whether the stream keeps a sea-level state for a registry ``Station``: a tide gauge's water
    levels, or any station's wave heights."""
    variables = station.variables
    return ("water_level_m" in variables and station.kind == "tide_gauge") or "wave_height_m" in variables


def retracted(records: list[Indicator]) -> list[Indicator]:
    """The same keys with value None: what a consumer deletes once the readings behind them are gone."""
    return [msgspec.structs.replace(rec, value=None) for rec in records]


def surge_m(level_um: np.ndarray, predicted_m: np.ndarray) -> np.ndarray:
    surge: np.ndarray = np.asarray(level_um, dtype=np.int64) / 1e6 - predicted_m
    return surge


def provisional_with(models: list[TideModel], times_us: np.ndarray, bar: QualityBar) -> np.ndarray:
    """Whether the model in effect at each time is below the quality bar (False where none is)."""
    out = np.zeros(np.shape(times_us), dtype=bool)
    for model, sel in in_effect(models, times_us):
        out[sel] = is_provisional(model, bar)
    return out


def reading_indicators(
    cfg: SeaLevelConfig,
    times_us: np.ndarray,
    level_um: np.ndarray,
    predicted_m: np.ndarray,
    provisional: np.ndarray | None = None,
) -> list[Indicator]:
    """Predicted tide and surge at each water-level reading that has a tide model; the surge of a
    reading whose model is below the quality bar goes out as ``surge_provisional_m``."""
    out = []
    surge = surge_m(level_um, predicted_m)
    if provisional is None:
        provisional = np.zeros(surge.shape, dtype=bool)
    rows = zip(times_us.tolist(), predicted_m.tolist(), surge.tolist(), provisional.tolist(), strict=True)
    for t, p, s, prov in rows:
        if np.isfinite(p):
            out.append(indicator(cfg.station, r.TIDE_PREDICTED, t, p))
            out.append(indicator(cfg.station, r.SURGE_PROVISIONAL if prov else r.SURGE, t, s))
    return out


def trusted_surge_m(level_um: np.ndarray, predicted_m: np.ndarray, provisional: np.ndarray) -> np.ndarray:
    """Surge where the model passes the quality bar, NaN elsewhere (what cycle maxima are made of)."""
    return np.where(provisional, np.nan, surge_m(level_um, predicted_m))


def mean_indicators(cfg: SeaLevelConfig, period: str, start_us: int, n: int, sum_um: int) -> list[Indicator]:
    """Mean of an interval (and a month's completeness); None once every reading of it was withdrawn."""
    out = [indicator(cfg.station, MEAN_IDS[period], start_us, mean_m(n, sum_um) if n else None)]
    if period == "month":
        end_us = period_end_us(start_us, period)
        pct = completeness_pct(n, start_us, end_us, cfg.sampling_interval_s) if n else None
        out.append(indicator(cfg.station, r.MSL_MONTHLY_COMPLETENESS, start_us, pct))
    return out


def extremum_indicators(cfg: SeaLevelConfig, e: Extremum, retract: bool = False) -> list[Indicator]:
    """High or low water; a high water also carries its warning level (when thresholds exist)."""
    value = None if retract else e.height_m
    if e.kind == LOW:
        return [indicator(cfg.station, r.LOW_WATER, e.time_us, value)]
    out = [indicator(cfg.station, r.HIGH_WATER, e.time_us, value)]
    if cfg.water_level_thresholds is not None:
        level = None if retract else float(classify(e.height_m, cfg.water_level_thresholds))
        out.append(indicator(cfg.station, r.WATER_LEVEL_WARNING, e.time_us, level))
    return out


def cycle_indicators(cfg: SeaLevelConfig, c: CycleMax, retract: bool = False) -> list[Indicator]:
    return [indicator(cfg.station, r.SURGE_MAX_CYCLE, c.time_us, None if retract else c.surge_m)]


def cycle_maxima(
    extrema: list[Extremum], times_us: np.ndarray, surge: np.ndarray, max_cycle_s: int
) -> list[CycleMax]:
    """Largest surge per tidal cycle [LW_i, LW_i+1) (ties: earliest reading), cycles with surge only."""
    lows = [e for e in extrema if e.kind == LOW]
    out = []
    for a, b in itertools.pairwise(lows):
        if b.time_us - a.time_us > max_cycle_s * US_PER_S:
            continue
        i0 = np.searchsorted(times_us, a.time_us, side="left")
        i1 = np.searchsorted(times_us, b.time_us, side="left")
        part = surge[i0:i1]
        if part.size == 0 or not np.isfinite(part).any():
            continue
        k = int(np.nanargmax(part))
        out.append(CycleMax(a.anchor_us, b.anchor_us, int(times_us[i0 + k]), float(part[k])))
    return out


def wave_indicators(cfg: SeaLevelConfig, times_us: np.ndarray, heights_m: np.ndarray) -> list[Indicator]:
    if cfg.wave_thresholds is None:
        return []
    levels = classify(heights_m, cfg.wave_thresholds)
    return [
        indicator(cfg.station, r.WAVE_WARNING, t, float(v))
        for t, v in zip(np.asarray(times_us).tolist(), levels.tolist(), strict=True)
    ]


def compute_indicators(
    cfg: SeaLevelConfig,
    times_us: np.ndarray,
    levels_m: np.ndarray,
    models: list[TideModel] | None = None,
    wave_times_us: np.ndarray | None = None,
    wave_heights_m: np.ndarray | None = None,
) -> list[Indicator]:
    """Every sea-level indicator over a station's QC-good series (any order, duplicates upserted)."""
    times_us, levels = unique_sorted(times_us, np.asarray(levels_m, dtype=float))
    keep = np.isfinite(levels)
    times_us, level_um = times_us[keep], to_um(levels[keep])
    predicted = predict_with(models or [], times_us, cfg.zeros)
    provisional = provisional_with(models or [], times_us, cfg.tide_quality)
    out = reading_indicators(cfg, times_us, level_um, predicted, provisional)
    for period in PERIODS:
        for start, (n, s) in partial_sums(times_us, level_um, period).items():
            out.extend(mean_indicators(cfg, period, start, n, s))
    extrema = find_extrema(times_us, level_um, cfg.extrema)
    for e in extrema:
        out.extend(extremum_indicators(cfg, e))
    trusted = trusted_surge_m(level_um, predicted, provisional)
    for c in cycle_maxima(extrema, times_us, trusted, cfg.max_cycle_s):
        out.extend(cycle_indicators(cfg, c))
    if wave_times_us is not None and wave_heights_m is not None:
        wt, wh = unique_sorted(wave_times_us, np.asarray(wave_heights_m, dtype=float))
        good = np.isfinite(wh)
        out.extend(wave_indicators(cfg, wt[good], wh[good]))
    return out


__all__ = ["HIGH", "LOW", "CycleMax", "SeaLevelConfig", "compute_indicators"]
