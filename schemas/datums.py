"""Vertical datums of water levels: a station's levelling history, and the one conversion between datums.

Readings are heights above the **station zero** (水尺零点), the zero the gauge reports in. A station's
levelling history says how high that zero stood above the other datums — the China 1985 National Height
Datum (1985国家高程基准) and chart datum (理论最低潮面) — from each levelling (a UTC date) until the next
one. A level in datum D is the reading plus the zero's height above D valid at the reading's time, so a
re-levelling (a reset gauge, a subsided benchmark) changes the offset from that date on, and levels in the
national datum stay comparable across it. Where the history does not say (before the first levelling, a
period without that datum) there is no conversion: NaN here, a refusal at the API.

Pure: the registry and the API's catalogue parse the same history shape (``parse_levellings``); the API
adds the offsets in SQL per ``segments``, the report through ``offsets_m``.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import msgspec
import numpy as np

from schemas.documents import Problem, convert

STATION = "station"
NATIONAL_1985 = "national_1985"
CHART = "chart"
DATUMS = {
    STATION: "station zero (the readings as stored)",
    NATIONAL_1985: "China 1985 National Height Datum",
    CHART: "chart datum (theoretical lowest tide)",
}
DATUMS_ZH = {STATION: "测站零点", NATIONAL_1985: "1985国家高程基准", CHART: "理论最低潮面"}
# The field of a levelling that gives the station zero's height above each other datum (m).
ZERO_ABOVE = {NATIONAL_1985: "zero_above_national_1985_m", CHART: "zero_above_chart_m"}
# Variables stored as heights above the station zero: the ones a datum conversion changes.
LEVEL_VARIABLES = frozenset({"water_level_m"})
# Indicators that are heights above the station zero (sea-level means, tide, high and low waters; not
# surge, a difference of two levels). A mean over a period takes the offset at the period's start.
LEVEL_INDICATORS = frozenset(
    {"tide_predicted_m", "high_water_m", "low_water_m", "msl_hourly_m", "msl_daily_m", "msl_monthly_m"}
)
_EPOCH = dt.date(1970, 1, 1)
DAY_US = 86_400_000_000
END_OF_TIME_US = (dt.date(9999, 12, 31) - _EPOCH).days * DAY_US  # the last levelling holds until then


class DatumError(ValueError):
    """A conversion the history cannot make (unknown datum, a time it does not cover)."""


@dataclass(frozen=True, slots=True)
class Levelling:
    """From ``valid_from`` (00:00 UTC) until the next levelling: the zero's height above each datum (m)."""

    valid_from: dt.date
    zero_above_m: Mapping[str, float]

    @property
    def valid_from_us(self) -> int:
        return (self.valid_from - _EPOCH).days * DAY_US


@dataclass(frozen=True, slots=True)
class Segment:
    """``[start_us, end_us)`` in which levels in a datum are the reading plus ``offset_m``."""

    start_us: int
    end_us: int
    offset_m: float


@dataclass(frozen=True, slots=True)
class DatumHistory:
    levellings: tuple[Levelling, ...] = ()  # in date order, each date once

    def datums(self) -> tuple[str, ...]:
        """The datums some period of the history converts to, in ``DATUMS`` order (station always)."""
        known = {d for lev in self.levellings for d in lev.zero_above_m}
        return tuple(d for d in DATUMS if d == STATION or d in known)

    def segments(self, datum: str) -> list[Segment]:
        """The periods with a known offset to ``datum`` (station zero: one period, offset 0)."""
        if datum not in DATUMS:
            raise DatumError(f"unknown datum {datum!r}; use one of {', '.join(DATUMS)}")
        if datum == STATION:
            return [Segment(-END_OF_TIME_US, END_OF_TIME_US, 0.0)]
        ends = [lev.valid_from_us for lev in self.levellings[1:]] + [END_OF_TIME_US]
        return (
            []
            if not self.levellings
            else [
                Segment(lev.valid_from_us, end, lev.zero_above_m[datum])
                for lev, end in zip(self.levellings, ends, strict=True)
                if datum in lev.zero_above_m
            ]
        )

    def uncovered(self, datum: str, start_us: int, end_us: int) -> list[tuple[int, int]]:
        """The parts of ``[start_us, end_us)`` no segment of ``datum`` covers."""
        gaps, at = [], start_us
        for seg in self.segments(datum):
            if seg.end_us <= at:
                continue
            if seg.start_us >= end_us:
                break
            if seg.start_us > at:
                gaps.append((at, seg.start_us))
            at = max(at, seg.end_us)
        if at < end_us:
            gaps.append((at, end_us))
        return gaps

    def mean_offsets_m(self, datum: str, starts_us: np.ndarray, ends_us: np.ndarray) -> np.ndarray:
        """The time-weighted mean offset over each ``[start, end)`` (a month's mean level spans a
        re-levelling in the middle of it); NaN where part of the interval has no offset."""
        starts = np.asarray(starts_us, dtype=np.int64)
        ends = np.asarray(ends_us, dtype=np.int64)
        weighted, covered = np.zeros(starts.shape), np.zeros(starts.shape, dtype=np.int64)
        for seg in self.segments(datum):
            overlap = np.clip(np.minimum(ends, seg.end_us) - np.maximum(starts, seg.start_us), 0, None)
            weighted += overlap * seg.offset_m
            covered += overlap
        full = (covered == ends - starts) & (ends > starts)
        return np.where(full, weighted / np.where(full, covered, 1), np.nan)

    def offsets_m(self, datum: str, times_us: np.ndarray) -> np.ndarray:
        """The offset to add to a reading at each time to get ``datum``; NaN where none is known."""
        times = np.asarray(times_us, dtype=np.int64)
        out = np.full(times.shape, np.nan)
        for seg in self.segments(datum):
            out[(times >= seg.start_us) & (times < seg.end_us)] = seg.offset_m
        return out


def convert_levels(
    values_m: np.ndarray, times_us: np.ndarray, history: DatumHistory, datum: str
) -> np.ndarray:
    """Levels above the station zero at ``times_us`` → above ``datum`` (NaN where not convertible)."""
    levels: np.ndarray = np.asarray(values_m, dtype=float) + history.offsets_m(datum, times_us)
    return levels


def consistent_levels(
    values_m: np.ndarray,
    times_us: np.ndarray,
    history: DatumHistory,
    at_us: int,
    ends_us: np.ndarray | None = None,
) -> tuple[np.ndarray, str | None]:
    """Levels above the station zero in force at each time → above the zero in force at ``at_us``.

    Each level goes to a fixed datum (the national one, else chart datum) with the offset of its own
    time and back with the offset at ``at_us``, so a re-levelling leaves no step in a long series (a
    trend, a baseline). With ``ends_us`` each value is a mean over ``[time, end)`` and takes the
    time-weighted offset of that interval. Returns the levels and the datum used; without a history that
    covers ``at_us`` the levels are returned as stored and the datum is None (no re-levelling known).
    Times the history does not cover are NaN.
    """
    values = np.asarray(values_m, dtype=float)
    for datum in (NATIONAL_1985, CHART):
        now = history.offsets_m(datum, np.array([at_us]))[0]
        if np.isfinite(now):
            then = (
                history.offsets_m(datum, times_us)
                if ends_us is None
                else history.mean_offsets_m(datum, times_us, ends_us)
            )
            return values + then - now, datum
    return values.copy(), None


def zero_shift_m(history: DatumHistory, times_us: np.ndarray, to_us: int) -> np.ndarray:
    """What to add to a level above the zero in force at each time to get it above the zero in force at
    ``to_us`` (m): how much higher the earlier zero stood. For the stream's tide model and refit, which
    must see one zero across a re-levelling; unlike ``consistent_levels`` a time the history does not
    cover shifts by 0 (the zero taken as unchanged), so a gauge without levellings keeps its surge.
    """
    times = np.asarray(times_us, dtype=np.int64)
    shift = np.zeros(times.shape)
    if not history.levellings:
        return shift
    done = np.zeros(times.shape, dtype=bool)
    for datum in (NATIONAL_1985, CHART):
        target = history.offsets_m(datum, np.array([to_us]))[0]
        if not np.isfinite(target):
            continue
        then = history.offsets_m(datum, times)
        use = ~done & np.isfinite(then)
        shift[use] = then[use] - target
        done |= use
    return shift


class _LevellingSpec(msgspec.Struct, forbid_unknown_fields=True):
    valid_from: dt.date = msgspec.field(name="from")
    zero_above_national_1985_m: float | None = None
    zero_above_chart_m: float | None = None


def parse_levellings(entries: Any, error: Callable[[str], Exception]) -> DatumHistory:
    """A levelling list as written in the registry (``from`` a UTC date, the zero's heights in m) or
    mirrored to the database as JSON; ``error(reason)`` names the entry and field."""
    specs = convert(entries if entries is not None else [], list[_LevellingSpec], _problem(error))
    levellings: list[Levelling] = []
    for index, spec in enumerate(specs):
        offsets = {d: getattr(spec, f) for d, f in ZERO_ABOVE.items() if getattr(spec, f) is not None}
        if not all(np.isfinite(v) and abs(v) < 100.0 for v in offsets.values()):
            raise error(f"levellings[{index}]: a zero's height above a datum must be finite and within 100 m")
        if levellings and spec.valid_from <= levellings[-1].valid_from:
            raise error(
                f"levellings[{index}]: 'from' {spec.valid_from} is not after the previous levelling's "
                f"{levellings[-1].valid_from} (list levellings in date order, each date once)"
            )
        levellings.append(Levelling(spec.valid_from, offsets))
    return DatumHistory(tuple(levellings))


def _problem(error: Callable[[str], Exception]) -> Callable[[Problem], Exception]:
    def word(problem: Problem) -> Exception:
        where = problem.within("levellings")
        what = problem.complaint()
        if problem.name == "from" and problem.kind == "type":
            what += " (a UTC date such as 2016-05-18)"
        return error(f"{where}: {what}")

    return word


def levellings_document(history: DatumHistory) -> list[dict[str, Any]]:
    """The history in the registry's shape (JSON-ready), for the database mirror and the catalogue."""
    return [
        {"from": lev.valid_from.isoformat(), **{ZERO_ABOVE[d]: v for d, v in lev.zero_above_m.items()}}
        for lev in history.levellings
    ]


def missing_datum(histories: Mapping[str, DatumHistory], stations: Sequence[str], datum: str) -> list[str]:
    """The stations whose history never converts to ``datum``."""
    return [s for s in stations if datum not in histories.get(s, DatumHistory()).datums()]
