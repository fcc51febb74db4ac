"""Dissolved oxygen: saturation (TEOS-10 via gsw), hours below the seawater-quality class limits,
hypoxia episodes.

Saturation compares the measured concentration with the solubility of oxygen in air-saturated
water of the same temperature and salinity at one standard atmosphere (gsw.O2sol_SP_pt, Garcia and
Gordon 1992 as used in TEOS-10). The sensor is assumed at the surface (0 dbar) unless the station
sets `sensor_pressure_dbar`.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gsw
import numpy as np

from streams.indicators.ecology.calendar import day_of, day_start_us
from streams.indicators.ecology.frame import (
    NEVER_US,
    UNCHANGED,
    DayReadings,
    Outputs,
    Row,
    Rows,
    live_days,
    recompute_from,
    scope_start_us,
)
from streams.indicators.ecology.params import EcologyParams

O2_G_MOL = 31.9988  # so 1 mg/L = 31.25 µmol/L
TEMPERATURE = "water_temperature_degC"
SALINITY = "salinity_psu"
OXYGEN = "dissolved_oxygen_mg_l"

# China GB 3097-1997 seawater quality classes I-IV need DO > 6, > 5, > 4, > 3 mg/L.
CLASS_LIMITS_MG_L = (6, 5, 4, 3)
HOURS_BELOW = tuple(f"do_hours_below_{limit}_mg_l" for limit in CLASS_LIMITS_MG_L)
SATURATION = "do_saturation_pct"
DAILY_MIN = "do_daily_min_mg_l"
HOURS_MEASURED = "do_hours_measured_h"
HYPOXIA_DURATION = "hypoxia_duration_h"
HYPOXIA_MIN = "hypoxia_min_mg_l"
DAILY_IDS = (DAILY_MIN, HOURS_MEASURED, *HOURS_BELOW)


def do_saturation_pct(
    do_mg_l: np.ndarray,
    temperature_degC: np.ndarray,
    salinity_psu: np.ndarray,
    *,
    longitude_deg: float,
    latitude_deg: float,
    pressure_dbar: float = 0.0,
) -> np.ndarray:
    """Percent of the oxygen solubility; mg/L become µmol/kg with the in-situ density from gsw."""
    sp = np.asarray(salinity_psu, dtype=float)
    t = np.asarray(temperature_degC, dtype=float)
    sa = gsw.SA_from_SP(sp, pressure_dbar, longitude_deg, latitude_deg)
    ct = gsw.CT_from_t(sa, t, pressure_dbar)
    density_kg_l = gsw.rho(sa, ct, pressure_dbar) / 1000.0
    solubility_umol_kg = gsw.O2sol_SP_pt(sp, gsw.pt0_from_t(sa, t, pressure_dbar))
    do_umol_kg = np.asarray(do_mg_l, dtype=float) * (1000.0 / O2_G_MOL) / density_kg_l
    pct: np.ndarray = 100.0 * do_umol_kg / solubility_umol_kg
    return pct


def matched_saturation(readings: DayReadings, params: EcologyParams) -> tuple[np.ndarray, np.ndarray]:
    """Saturation at the sample times where oxygen, temperature and salinity were all measured
    (computed once per day's readings when they carry a memo: oxygen and bloom rows both use it)."""
    derived: dict[str, Any] | None = getattr(readings, "derived", None)
    if derived is not None and "saturation" in derived:
        found: tuple[np.ndarray, np.ndarray] = derived["saturation"]
        return found
    result = _saturation(readings, params, getattr(readings, "kept", None))
    if derived is not None:
        derived["saturation"] = result
    return result


def _saturation(
    readings: DayReadings, params: EcologyParams, kept: dict[str, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    oxygen, temperature, salinity = (readings.get(v) for v in (OXYGEN, TEMPERATURE, SALINITY))
    if oxygen is None or temperature is None or salinity is None:
        return np.empty(0, dtype=np.int64), np.empty(0)
    inputs: tuple[np.ndarray, np.ndarray, np.ndarray]
    if np.array_equal(oxygen.times_us, temperature.times_us) and np.array_equal(
        oxygen.times_us, salinity.times_us
    ):  # the usual day: every sample carries all three
        times, inputs = oxygen.times_us, (oxygen.values, temperature.values, salinity.values)
    else:
        times, i_o, i_t = np.intersect1d(oxygen.times_us, temperature.times_us, return_indices=True)
        times, j, i_s = np.intersect1d(times, salinity.times_us, return_indices=True)
        inputs = (oxygen.values[i_o[j]], temperature.values[i_t[j]], salinity.values[i_s])
    if kept is None:
        return times, _pct(inputs, params)
    # Saturation is per reading: the readings the day had before, unchanged, keep theirs (a day
    # grows at its end), the others are computed.
    same = _same_prefix(kept.get("saturation"), times, inputs)
    pct = _pct(tuple(x[same:] for x in inputs), params)
    if same:
        pct = np.concatenate([kept["saturation"][-1][:same], pct])
    kept["saturation"] = (times, *inputs, pct)
    return times, pct


def _same_prefix(
    previous: tuple[np.ndarray, ...] | None, times: np.ndarray, inputs: tuple[np.ndarray, ...]
) -> int:
    """How many of the first readings are those of `previous`, bit for bit (all or none of them: 0
    if any of its readings changed or left)."""
    if previous is None:
        return 0
    n = previous[0].size
    if n == 0 or n > times.size:
        return 0
    arrays = (times, *inputs)
    if all(old.tobytes() == new[:n].tobytes() for old, new in zip(previous[:-1], arrays, strict=True)):
        return n
    return 0


def _pct(inputs: tuple[np.ndarray, ...], params: EcologyParams) -> np.ndarray:
    o_values, t_values, s_values = inputs
    if o_values.size == 0:
        return np.empty(0)
    return do_saturation_pct(
        o_values,
        t_values,
        s_values,
        longitude_deg=params.longitude_deg,
        latitude_deg=params.latitude_deg,
        pressure_dbar=params.sensor_pressure_dbar,
    )


def hours_at_or_below(do_mg_l: np.ndarray, limit_mg_l: float, interval_s: float) -> float:
    """Hours a day's readings spent at or below a class limit: each reading stands for one interval."""
    return min(24.0, int(np.count_nonzero(do_mg_l <= limit_mg_l)) * interval_s / 3600.0)


@dataclass(frozen=True, slots=True)
class Episode:
    start_us: int
    last_us: int
    duration_h: float
    min_mg_l: float


def hypoxia_episodes(
    times_us: np.ndarray, do_mg_l: np.ndarray, limit_mg_l: float, max_gap_us: int, interval_us: int
) -> list[Episode]:
    """Runs of consecutive readings below the limit; a reading at or above it, or a data gap longer
    than `max_gap_us`, ends a run. Duration = last - first reading time + one sampling interval."""
    below = do_mg_l < limit_mg_l
    if not below.any():
        return []
    gap = np.zeros(times_us.size, dtype=bool)  # the first reading follows no gap
    gap[1:] = times_us[1:] - times_us[:-1] > max_gap_us
    starts = below & (~np.roll(below, 1) | gap)
    starts[0] = below[0]
    run_id = np.cumsum(starts)[below]
    idx = np.flatnonzero(below)
    bounds = np.flatnonzero(np.diff(run_id, prepend=0, append=run_id[-1] + 1))
    first_us = times_us[idx[bounds[:-1]]]
    last_us = times_us[idx[bounds[1:] - 1]]
    hours = (last_us - first_us + interval_us) / 3.6e9
    minima = np.minimum.reduceat(do_mg_l[idx], bounds[:-1])
    return [
        Episode(*episode)
        for episode in zip(first_us.tolist(), last_us.tolist(), hours.tolist(), minima.tolist(), strict=True)
    ]


def _concatenated(rows: Mapping[int, Row]) -> tuple[np.ndarray, np.ndarray]:
    times = [np.asarray(row["t"], dtype=np.int64) for row in rows.values()]
    values = [np.asarray(row["do"], dtype=float) for row in rows.values()]
    return np.concatenate([np.empty(0, np.int64), *times]), np.concatenate([np.empty(0), *values])


@dataclass(frozen=True, slots=True)
class OxygenFamily:
    """Per reading: saturation. Per UTC day: minimum, hours measured and below classes. Per episode
    (keyed by its first reading): hypoxia duration and minimum. A row holds the day's readings and
    saturations in compact arrays (its JSON form: lists, saturations as [time, value] pairs)."""

    params: EcologyParams
    name: str = "oxygen"

    def day_row(self, day: int, readings: DayReadings) -> Row | None:
        oxygen = readings.get(OXYGEN)
        if oxygen is None:
            return None
        sat_times, sat = matched_saturation(readings, self.params)
        return {
            "t": array("q", oxygen.times_us.astype(np.int64).tobytes()),
            "do": array("d", oxygen.values.astype(np.float64).tobytes()),
            "sat_t": array("q", sat_times.astype(np.int64).tobytes()),
            "sat": array("d", sat.astype(np.float64).tobytes()),
        }

    def encode_row(self, row: Row) -> Row:
        pairs = [[t, v] for t, v in zip(row["sat_t"], row["sat"], strict=True)]
        return {"t": list(row["t"]), "do": list(row["do"]), "sat": pairs}

    def decode_row(self, row: Row) -> Row:
        pairs = row["sat"]
        return {
            "t": array("q", row["t"]),
            "do": array("d", row["do"]),
            "sat_t": array("q", (int(t) for t, _ in pairs)),
            "sat": array("d", (float(v) for _, v in pairs)),
        }

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None:
        interval_s = self.params.sampling_interval_s
        start = recompute_from(first_open, since)
        out.scope((*DAILY_IDS, SATURATION), scope_start_us(first_open), scope_start_us(start))
        for day in live_days(rows, start):
            row = rows[day]
            do = np.asarray(row["do"], dtype=float)
            key = day_start_us(day)
            out.put(DAILY_MIN, key, do.min())
            out.put(HOURS_MEASURED, key, min(24.0, do.size * interval_s / 3600.0))
            for indicator, limit in zip(HOURS_BELOW, CLASS_LIMITS_MG_L, strict=True):
                out.put(indicator, key, hours_at_or_below(do, limit, interval_s))
            out.put_many(SATURATION, row["sat_t"], row["sat"])
        anchor_us = family_state.get("anchor_us")
        if start is not None and start >= UNCHANGED:  # no oxygen row changed: the episodes stand
            out.scope((HYPOXIA_DURATION, HYPOXIA_MIN), anchor_us, NEVER_US)
            return
        times, values = rows.joined("t", np.int64), rows.joined("do", float)
        from_us = anchor_us
        if since is not None and start is not None and times.size:
            # Readings before the first changed day are as they were: the episodes that ended before
            # its last reading at or above the limit (or a gap) stand, the rest are recomputed.
            cut = self._cut(times, values, day_start_us(start))
            if cut:
                times, values = times[cut:], values[cut:]
                from_us = int(times[0]) if anchor_us is None else max(int(times[0]), anchor_us)
        out.scope((HYPOXIA_DURATION, HYPOXIA_MIN), anchor_us, from_us)
        if times.size == 0:
            return
        for ep in hypoxia_episodes(
            times, values, self.params.hypoxia_mg_l, self.params.hypoxia_gap_us, self.params.interval_us
        ):
            if anchor_us is None or ep.start_us >= anchor_us:
                out.put(HYPOXIA_DURATION, ep.start_us, ep.duration_h)
                out.put(HYPOXIA_MIN, ep.start_us, ep.min_mg_l)

    def _cut(self, times: np.ndarray, values: np.ndarray, changed_us: int) -> int:
        """The index of the last reading before `changed_us` that no episode runs through: at or
        above the limit, or after a gap that ends a run (0: none). Episodes from it on are those of
        the readings from it on; the ones before ended earlier."""
        k = int(np.searchsorted(times, changed_us))
        normal = np.flatnonzero(values[:k] >= self.params.hypoxia_mg_l)
        cut = int(normal[-1]) if normal.size else 0
        span = times[cut:k]
        gaps = np.flatnonzero(span[1:] - span[:-1] > self.params.hypoxia_gap_us)
        return cut + int(gaps[-1]) + 1 if gaps.size else cut

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int:
        """Move the anchor past every episode that closed data have ended: the last closed reading
        at or above the limit, or the open boundary if the closed data end in a run followed by a gap."""
        boundary_us = day_start_us(first_open)
        times, values = _concatenated(rows)
        previous: int | None = family_state.get("anchor_us")
        anchor: int | None
        if times.size == 0 or boundary_us - times[-1] > self.params.hypoxia_gap_us:
            anchor = boundary_us
        else:
            normal = np.flatnonzero(values >= self.params.hypoxia_mg_l)
            anchor = int(times[normal[-1]]) if normal.size else previous
        if anchor is not None and previous is not None:
            anchor = max(anchor, previous)
        family_state["anchor_us"] = anchor
        if anchor is None:
            return min(rows)
        return min(day_of(anchor), first_open)
