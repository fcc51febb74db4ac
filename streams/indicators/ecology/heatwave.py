"""Marine heatwaves (Hobday et al. 2016) with categories (Hobday et al. 2018) over daily mean SST.

A heatwave is a run of at least `min_duration_d` days with SST above the threshold; two such runs
separated by at most `max_gap_d` days are one event (shorter runs in between do not count on their
own). Missing days count as the climatology: they never exceed but can lie inside a joined event.
Intensity is SST minus climatology; a day's category is floor(1 + (SST - threshold) / (threshold -
climatology)), so 1 moderate, 2 strong, 3 severe, 4 extreme (capped); an event's category is the
highest daily category it reached.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from streams.indicators.ecology.calendar import DAY_US, day_start_us
from streams.indicators.ecology.climatology import Climatology
from streams.indicators.ecology.frame import (
    NEVER_US,
    UNCHANGED,
    DayReadings,
    JsonRows,
    Outputs,
    Row,
    Rows,
    live_days,
    mean_of,
    recompute_from,
    scope_start_us,
)
from streams.indicators.ecology.params import EcologyParams

TEMPERATURE = "water_temperature_degC"
SST_DAILY = "sst_daily_mean_degC"
CLIMATOLOGY = "mhw_climatology_degC"
THRESHOLD = "mhw_threshold_degC"
INTENSITY = "mhw_intensity_degC"
DAY_N = "mhw_day"
CATEGORY = "mhw_category"
EVENT_DURATION = "mhw_event_duration_d"
EVENT_MAX = "mhw_event_intensity_max_degC"
EVENT_MEAN = "mhw_event_intensity_mean_degC"
EVENT_CUMULATIVE = "mhw_event_intensity_cumulative_degC_d"
EVENT_CATEGORY = "mhw_event_category"
PER_DAY_IDS = (CLIMATOLOGY, THRESHOLD, INTENSITY, DAY_N, CATEGORY)
EVENT_IDS = (EVENT_DURATION, EVENT_MAX, EVENT_MEAN, EVENT_CUMULATIVE, EVENT_CATEGORY)
MAX_CATEGORY = 4


@dataclass(frozen=True, slots=True)
class Event:
    """One heatwave over index positions start..end (inclusive) of a daily series."""

    start: int
    end: int
    peak: int
    duration_d: int
    intensity_max_degC: float
    intensity_mean_degC: float
    intensity_cumulative_degC_d: float
    category: int


def exceedance_runs(exceeds: np.ndarray) -> list[tuple[int, int]]:
    """(start, end) inclusive index pairs of the runs of True."""
    edges = np.diff(np.concatenate([[0], exceeds.astype(np.int8), [0]]))
    return list(
        zip(np.flatnonzero(edges == 1).tolist(), (np.flatnonzero(edges == -1) - 1).tolist(), strict=True)
    )


def daily_categories(sst: np.ndarray, seas: np.ndarray, thresh: np.ndarray) -> np.ndarray:
    """floor(1 + (SST - threshold) / (threshold - climatology)); missing SST counts as climatology."""
    filled = np.where(np.isnan(sst), seas, sst)
    categories: np.ndarray = np.floor(1.0 + (filled - thresh) / (thresh - seas))
    return categories


def detect_events(
    sst: np.ndarray, seas: np.ndarray, thresh: np.ndarray, *, min_duration_d: int = 5, max_gap_d: int = 2
) -> list[Event]:
    """Events of a contiguous daily series (NaN = missing day)."""
    runs = [
        (a, b)
        for a, b in exceedance_runs(np.nan_to_num(sst, nan=-np.inf) > thresh)
        if b - a + 1 >= min_duration_d
    ]
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] - 1 <= max_gap_d:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    anomaly = np.where(np.isnan(sst), 0.0, sst - seas)
    categories = daily_categories(sst, seas, thresh)
    events = []
    for start, end in joined:
        part = anomaly[start : end + 1]
        peak = int(np.argmax(part))
        events.append(
            Event(
                start=start,
                end=end,
                peak=start + peak,
                duration_d=end - start + 1,
                intensity_max_degC=float(part[peak]),
                intensity_mean_degC=float(part.mean()),
                intensity_cumulative_degC_d=float(part.sum()),
                category=int(min(MAX_CATEGORY, categories[start : end + 1].max())),
            )
        )
    return events


def event_day_state(
    n_days: int, events: list[Event], categories: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per day: day N of the event it belongs to (0 outside) and the event's category so far (0 outside)."""
    day_n = np.zeros(n_days, dtype=np.int64)
    category = np.zeros(n_days, dtype=np.int64)
    for ev in events:
        span = slice(ev.start, ev.end + 1)
        day_n[span] = np.arange(1, ev.duration_d + 1)
        category[span] = np.minimum(MAX_CATEGORY, np.maximum.accumulate(np.maximum(categories[span], 1)))
    return day_n, category


@dataclass(frozen=True, slots=True)
class HeatwaveFamily(JsonRows):
    """Daily mean SST; with a climatology also the heatwave state per day and per event (keyed by its
    first day)."""

    params: EcologyParams
    climatology: Climatology | None
    name: str = "heatwave"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        sst = mean_of(readings, TEMPERATURE)
        return None if sst is None else {"sst": sst}

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None:
        start = recompute_from(first_open, since)
        out.scope((SST_DAILY,), scope_start_us(first_open), scope_start_us(start))
        for day in live_days(rows, start):
            out.put(SST_DAILY, day_start_us(day), rows[day]["sst"])
        if self.climatology is None:
            return
        anchor = family_state.get("anchor_day")
        if start is not None and start >= UNCHANGED:  # no SST changed: the heatwave state stands
            out.scope((*PER_DAY_IDS, *EVENT_IDS), scope_start_us(anchor), NEVER_US)
            return
        days_kept = rows.days_from(None)
        if not days_kept:
            out.scope((*PER_DAY_IDS, *EVENT_IDS), scope_start_us(anchor), scope_start_us(anchor))
            return
        # A day's heatwave state looks forward too (a run becomes an event when it lasts): it is
        # recomputed from the anchor, or from the last day before the first changed one that no
        # change can reach back past.
        first = days_kept[0] if anchor is None else anchor
        cut = first if since is None or start is None else self._cut(rows, first, start)
        from_us = scope_start_us(anchor) if cut == first else day_start_us(cut)
        out.scope((*PER_DAY_IDS, *EVENT_IDS), scope_start_us(anchor), from_us)
        if cut > days_kept[-1] or (cut > first and self._put_quiet(rows, cut, days_kept[-1], out)):
            return
        self._put_from(rows, cut, days_kept[-1], out)

    def _cut(self, rows: Rows, first: int, changed: int) -> int:
        """The last day at or before `changed` that follows max_gap + 1 quiet days (no exceedance, or
        no SST) from `first` on, else `first`: no run from it on can join an event before it, so the
        days and events before it keep their state."""
        need = self.params.mhw_max_gap_d + 1
        thresholds = self._curves(rows, first, changed)
        quiet = 0
        for day in range(changed - 1, first - 1, -1):
            row = rows.get(day)
            if row is None or not row["sst"] > thresholds[day - first][1]:
                quiet += 1
                if quiet == need:
                    return day + need
            else:
                quiet = 0
        return first

    def _curves(self, rows: Rows, first: int, last: int) -> list[tuple[float, float]]:
        """The climatology and threshold of the days first..last-1, kept between updates (in the
        rows' memo, emptied once a day)."""
        assert self.climatology is not None
        kept: dict[int, tuple[float, float]] = rows.memoized("curves", dict)
        missing = [day for day in range(first, last) if day not in kept]
        if missing:
            seas, thresh = self.climatology.at(np.array(missing, dtype=np.int64))
            kept.update(zip(missing, zip(seas.tolist(), thresh.tolist(), strict=True), strict=True))
        return [kept[day] for day in range(first, last)]

    def _put_quiet(self, rows: Rows, first: int, last: int, out: Outputs) -> bool:
        """`_put_from` of days first..last after a cut when none of them exceeds its threshold (the
        usual update): no event in them, so each day with SST has day 0 and category 0. False if
        one exceeds."""
        curves = self._curves(rows, first, last + 1)
        shown = []
        for day, (seas, thresh) in zip(range(first, last + 1), curves, strict=True):
            row = rows.get(day)
            if row is not None:
                if row["sst"] > thresh:
                    return False
                shown.append((day_start_us(day), row["sst"], seas, thresh))
        for key, sst, seas, thresh in shown:
            out.put(CLIMATOLOGY, key, seas)
            out.put(THRESHOLD, key, thresh)
            out.put(INTENSITY, key, sst - seas)
            out.put(DAY_N, key, 0)
            out.put(CATEGORY, key, 0)
        return True

    def _put_from(self, rows: Rows, first: int, last: int, out: Outputs) -> None:
        """The heatwave state of the days first..last and the events that start in them."""
        days, sst, seas, thresh = self._series(rows, first, last)
        events = detect_events(
            sst,
            seas,
            thresh,
            min_duration_d=self.params.mhw_min_duration_d,
            max_gap_d=self.params.mhw_max_gap_d,
        )
        day_n, category = event_day_state(days.size, events, daily_categories(sst, seas, thresh))
        shown = np.flatnonzero(~np.isnan(sst) | (day_n > 0))
        keys = days[shown].astype(np.int64) * DAY_US
        out.put_many(CLIMATOLOGY, keys, seas[shown])
        out.put_many(THRESHOLD, keys, thresh[shown])
        out.put_many(INTENSITY, keys, np.where(np.isnan(sst), 0.0, sst - seas)[shown])
        out.put_many(DAY_N, keys, day_n[shown])
        out.put_many(CATEGORY, keys, category[shown])
        for ev in events:
            key = day_start_us(int(days[ev.start]))
            out.put(EVENT_DURATION, key, ev.duration_d)
            out.put(EVENT_MAX, key, ev.intensity_max_degC)
            out.put(EVENT_MEAN, key, ev.intensity_mean_degC)
            out.put(EVENT_CUMULATIVE, key, ev.intensity_cumulative_degC_d)
            out.put(EVENT_CATEGORY, key, ev.category)

    def _series(self, rows: Mapping[int, Row], first: int, last: int) -> tuple[np.ndarray, ...]:
        days = np.arange(first, last + 1)
        sst = np.array([rows[d]["sst"] if d in rows else np.nan for d in days.tolist()])
        assert self.climatology is not None  # the callers return early without one
        seas, thresh = self.climatology.at(days)
        return days, sst, seas, thresh

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        """Cut the history after max_gap + 1 closed days without exceedance: no later event can join
        or extend an event before them, so those days' values are final."""
        if self.climatology is None:
            return first_open
        anchor = family_state.get("anchor_day")
        first = anchor if anchor is not None else min(rows, default=first_open)
        _, sst, _, thresh = self._series(rows, first, first_open - 1)
        quiet = ~(np.nan_to_num(sst, nan=-np.inf) > thresh)
        need = self.params.mhw_max_gap_d + 1
        for cut in range(first_open, first + need - 1, -1):
            if quiet[cut - need - first : cut - first].all():
                family_state["anchor_day"] = cut
                return cut
        return first
