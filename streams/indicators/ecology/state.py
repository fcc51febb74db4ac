"""Per-station streaming state for the ecological indicators, and the batch computation.

Readings are kept raw (keyed by time, so a replayed reading changes nothing) for the open UTC days:
the newest day seen and `allowed_lateness_days` before it. When a day closes, each indicator family
keeps a compact row of it for as long as it needs (baselines, the current year of carbon, an ongoing
heatwave) and readings that arrive for a closed day are dropped and counted. Every update recomputes
the values its changed day rows can have changed (each family from the first day whose row changed,
see `frame`) and emits those that differ from what was last emitted, with a None value retracting a
key that no longer exists; the first update after a restore recomputes every value that can still
change, as a torn write may have lost emitted values. So the last value emitted per (station,
indicator, time) equals the batch result for any arrival order within the lateness, and across a
restart from the JSON state. `late_dropped` counts readings refused for closed days, replays of
readings already taken included. Two different values for the same station, variable and time: the
last one wins.

The state is kept as keyed pieces (``export``): the closed days' rows per day, the days piece (the
first open day and each family's state between updates), the raw readings and the emitted values per
slot of ~16 sampling intervals (``streams.indicators.pieces``), and a head (counters). An update marks
the pieces it changed, so a batch writes a slot or two of readings and a few small pieces, whatever the
baselines hold; a restore from the pieces continues exactly as the uninterrupted state would. A worker killed
while writing leaves only a prefix of an export's records in the changelog, so the order is chosen
for that: a day's closed rows before the days piece that closes it, and that before the deletion of
the day's raw readings; a restore leaves out the raw readings of days the days piece has closed.

QC revises flags after the fact, so the stream layer passes every QC result of the input variables,
mapping a flag other than 1 (GOOD) to None. A sample value that is None or not finite means "no
usable reading of this variable at this time": it withdraws a reading taken earlier, the day is
recomputed and every value it fed is re-emitted or retracted. A withdrawal for a closed day is
dropped and counted like a late reading; one for a reading never taken changes nothing.
"""

from __future__ import annotations

import math
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

import numpy as np

from schemas.indicators import Indicator
from streams.indicators.ecology.bloom import BloomFamily
from streams.indicators.ecology.calendar import DAY_US, day_of
from streams.indicators.ecology.carbon import CarbonFamily
from streams.indicators.ecology.catalogue import CATALOGUE
from streams.indicators.ecology.chemistry import ChemistryFamily
from streams.indicators.ecology.climatology import Climatology
from streams.indicators.ecology.frame import (
    NEVER_US,
    UNCHANGED,
    Day,
    IndicatorFamily,
    Outputs,
    Row,
    Rows,
    Series,
)
from streams.indicators.ecology.heatwave import HeatwaveFamily
from streams.indicators.ecology.oxygen import OxygenFamily
from streams.indicators.ecology.params import EcologyParams
from streams.indicators.ecology.wetland import WetlandFamily
from streams.indicators.pieces import piece_width_us

STATE_FORMAT = "tidewatch.ecology.state/3"
_FORMAT_2 = "tidewatch.ecology.state/2"  # first open day and family states in the head; restored all the same
_FEW = 16  # emitted keys of an id up to which export scans them instead of sorting them
INPUT_VARIABLES = frozenset(
    {
        "water_temperature_degC",
        "salinity_psu",
        "dissolved_oxygen_mg_l",
        "ph_total",
        "chlorophyll_ug_l",
        "water_level_m",
        "porewater_salinity_psu",
        "co2_flux_umol_m2_s",
        "ch4_flux_nmol_m2_s",
    }
)


class SampleLike(Protocol):
    """A sample time with its values (schemas.records.Sample fits)."""

    @property
    def time_us(self) -> int: ...
    @property
    def values(self) -> Mapping[str, float | None]: ...


class Readings:
    """One variable's readings of one open day, sorted by time in two compact arrays: 16 bytes a
    reading instead of ~100 as a dict of Python ints and floats, and the day's series without a sort."""

    __slots__ = ("times", "values")

    def __init__(self) -> None:
        self.times = array("q")
        self.values = array("d")

    def put(self, time_us: int, value: float) -> bool:
        """Add or replace the reading at `time_us`; False if it was there with that value."""
        times = self.times
        if not times or time_us > times[-1]:
            times.append(time_us)
            self.values.append(value)
            return True
        i = bisect_left(times, time_us)
        if times[i] == time_us:
            if self.values[i] == value:
                return False
            self.values[i] = value
            return True
        times.insert(i, time_us)
        self.values.insert(i, value)
        return True

    def drop(self, time_us: int) -> bool:
        i = bisect_left(self.times, time_us)
        if i == len(self.times) or self.times[i] != time_us:
            return False
        del self.times[i]
        del self.values[i]
        return True

    def pairs(self, lo_us: int, hi_us: int) -> list[tuple[int, float]]:
        """(time, value) of the readings in [lo_us, hi_us)."""
        i = bisect_left(self.times, lo_us)
        j = bisect_left(self.times, hi_us, i)
        return list(zip(self.times[i:j], self.values[i:j], strict=True))

    def series(self) -> Series:
        return Series(np.array(self.times, dtype=np.int64), np.array(self.values, dtype=np.float64))

    def __len__(self) -> int:
        return len(self.times)

    def __iter__(self) -> Iterator[int]:
        return iter(self.times)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Readings) and (self.times, self.values) == (other.times, other.values)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"Readings({dict(zip(self.times, self.values, strict=True))})"


def build_families(params: EcologyParams, climatology: Climatology | None) -> list[IndicatorFamily]:
    families: list[IndicatorFamily] = [
        OxygenFamily(params),
        HeatwaveFamily(params, climatology),
        BloomFamily(params),
        ChemistryFamily(params),
        CarbonFamily(params),
    ]
    if params.marsh_platform_m is not None:
        families.append(WetlandFamily(params, params.marsh_platform_m))
    return families


class EcologyState:
    """Streaming ecological indicators of one station; `update` is order-independent and idempotent."""

    def __init__(self, station: str, params: EcologyParams, climatology: Climatology | None = None) -> None:
        self.station = station
        self.params = params
        self.climatology = climatology
        self.families = build_families(params, climatology)
        self.first_open: int | None = None
        self.late_dropped = 0
        self.raw: dict[int, dict[str, Readings]] = {}
        self.rows: dict[str, dict[int, Row]] = {f.name: {} for f in self.families}
        # What each family keeps between updates (IndicatorFamily.close): the heatwave's and oxygen's anchor.
        self.family_states: dict[str, dict[str, Any]] = {f.name: {} for f in self.families}
        self.emitted: dict[str, dict[int, float]] = {}
        self._day_rows: dict[int, dict[str, Row | None]] = {}  # open days, rebuilt only when touched
        # What families reuse of the newest day's previous readings (Day.kept): the day that grows.
        self._day_kept: dict[int, dict[str, Any]] = {}
        self._touched: set[int] = set()  # open days with readings changed since their rows were built
        self._stale = False  # recompute every open value at the next update (after a restore)
        self._memo: dict[str, dict[Any, Any]] = {f.name: {} for f in self.families}  # of closed rows
        self.width_us = piece_width_us(params.sampling_interval_s)  # of the raw and emitted pieces
        # Pieces changed since the last export: raw and emitted slots (of width_us), row days, the head.
        self._raw_slots: set[int] = set()
        self._row_days: set[int] = set()
        self._emitted_slots: set[int] = set()
        self._head = True

    def update(self, samples: Iterable[SampleLike]) -> list[Indicator]:
        """Take the latest QC result of readings (any order, replays allowed); return new and corrected
        values. `values[var]` None or NaN withdraws the reading of `var` at that time (QC no longer
        rates it GOOD); any other value adds or replaces it."""
        if not self._ingest(samples):
            return []
        open_rows, changed_from = self._open_rows()
        records = self._emit(open_rows, changed_from)
        self._close(open_rows)
        return records

    def _ingest(self, samples: Iterable[SampleLike]) -> bool:
        changed = False
        for sample in samples:
            day = day_of(sample.time_us)
            for variable, value in sample.values.items():
                if variable not in INPUT_VARIABLES:
                    continue
                if self.first_open is not None and day < self.first_open:
                    self.late_dropped += 1
                    self._head = True
                    continue
                if value is None or not math.isfinite(value):
                    changed |= self._withdraw(day, variable, sample.time_us)
                    continue
                variables = self.raw.setdefault(day, {})
                readings = variables.get(variable)
                if readings is None:
                    readings = variables[variable] = Readings()
                if readings.put(sample.time_us, float(value)):
                    self._touched.add(day)
                    self._raw_slots.add(sample.time_us // self.width_us)
                    changed = True
        return changed

    def _withdraw(self, day: int, variable: str, time_us: int) -> bool:
        """Forget a reading QC no longer rates good; a variable left without readings leaves the day
        (the day itself stays: it still marks how far the station's data have come)."""
        variables = self.raw.get(day, {})
        readings = variables.get(variable)
        if readings is None or not readings.drop(time_us):
            return False
        if not readings:
            del variables[variable]
        self._touched.add(day)
        self._raw_slots.add(time_us // self.width_us)
        return True

    def _open_rows(self) -> tuple[dict[str, dict[int, Row]], dict[str, int]]:
        """The open days' rows per family, and per family the first day whose row changed."""
        changed_from: dict[str, int] = {}
        newest = max(self.raw, default=None)
        if newest is not None and newest not in self._day_kept:
            self._day_kept = {newest: {}}
        for day in sorted(self._touched):
            if day not in self.raw:
                continue
            series = {name: values.series() for name, values in self.raw[day].items()}
            readings = Day(series, self._day_kept.get(day))
            before = self._day_rows.get(day, {})
            self._day_rows[day] = after = {f.name: f.day_row(day, readings) for f in self.families}
            for name, row in after.items():
                if row != before.get(name) and name not in changed_from:
                    changed_from[name] = day
        self._touched.clear()
        rows: dict[str, dict[int, Row]] = {f.name: {} for f in self.families}
        for day in sorted(self.raw):
            if day not in self._day_rows:  # not touched since a restore
                readings = Day({name: values.series() for name, values in self.raw[day].items()})
                self._day_rows[day] = {f.name: f.day_row(day, readings) for f in self.families}
            for name, row in self._day_rows[day].items():
                if row is not None:
                    rows[name][day] = row
        return rows, changed_from

    def _emit(self, open_rows: dict[str, dict[int, Row]], changed_from: dict[str, int]) -> list[Indicator]:
        out = Outputs()
        full = self._stale or self.first_open is None
        for family in self.families:
            since = None if full else changed_from.get(family.name, UNCHANGED)
            rows = Rows(self.rows[family.name], open_rows[family.name], self._memo[family.name])
            family.outputs(rows, self.first_open, since, self.family_states[family.name], out)
        self._stale = False
        records: list[Indicator] = []
        for indicator, (final_us, from_us) in out.scopes.items():
            new, old = out.values[indicator], self.emitted.get(indicator)
            if not old:
                if new or old is not None:
                    self.emitted[indicator] = new
                if new:
                    records += self._records(indicator, new.items())
                continue
            # Keys before `final_us` are forgotten without a retraction (their pieces rewritten all the
            # same), keys before `from_us` keep their values (their inputs did not change), the rest
            # are replaced by the new values, a key not among them retracted. (A dict's order does not
            # matter: the pieces and the bounds are cut from its sorted keys.)
            if (
                not new
                and from_us is not None
                and from_us >= NEVER_US
                and (final_us is None or min(old) >= final_us)
            ):
                continue  # nothing recomputed, nothing became final
            keys = sorted(old)
            lo = 0 if final_us is None or from_us is None else bisect_left(keys, final_us)
            hi = 0 if from_us is None else bisect_left(keys, from_us)
            forgotten, replaced = keys[:lo], keys[hi:]
            if not (new or forgotten or replaced):
                continue
            changed = [(t, v) for t, v in new.items() if old.get(t) != v]
            gone = [t for t in replaced if t not in new]
            if changed:
                records += self._records(indicator, changed)
            if gone:
                records += self._records(indicator, [(t, None) for t in gone])
            for t in gone:
                del old[t]
            for t in forgotten:
                del old[t]
            self._emitted_slots.update(t // self.width_us for t in forgotten)
            old.update(new)
        records.sort(key=lambda r: (r.time_us, r.indicator))
        return records

    def _records(self, indicator: str, values: Iterable[tuple[int, float | None]]) -> list[Indicator]:
        unit = CATALOGUE[indicator].unit
        records = [Indicator(self.station, indicator, t, v, unit) for t, v in values]
        self._emitted_slots.update(r.time_us // self.width_us for r in records)
        return records

    def _close(self, open_rows: dict[str, dict[int, Row]]) -> None:
        first_open = max(self.raw) - self.params.allowed_lateness_days
        if self.first_open is not None and first_open <= self.first_open:
            return
        for family in self.families:
            rows = self.rows[family.name]
            added = {day: row for day, row in open_rows[family.name].items() if day < first_open}
            rows.update(added)
            keep_from = family.close(dict(sorted(rows.items())), first_open, self.family_states[family.name])
            self.rows[family.name] = {day: row for day, row in sorted(rows.items()) if day >= keep_from}
            self._memo[family.name] = {}
            self._row_days.update(added)
            self._row_days.update(day for day in rows if day < keep_from)
        for day, variables in self.raw.items():
            if day < first_open:
                self._raw_slots.update(
                    t // self.width_us for readings in variables.values() for t in readings
                )
        self.raw = {day: readings for day, readings in self.raw.items() if day >= first_open}
        self._day_rows = {day: rows for day, rows in self._day_rows.items() if day >= first_open}
        self.first_open = first_open
        self._head = True

    def export(self, full: bool = False) -> dict[str, Any]:
        """Pieces changed since the last export (all with ``full``): {piece: JSON value, None to delete}.

        Every value is built fresh (the table keeps what it is given), with dict keys as strings and
        (time, value) pairs as arrays, so floats round-trip exactly through JSON.
        """
        if full:
            slots = {t // self.width_us for v in self.raw.values() for r in v.values() for t in r}
            days = {day for rows in self.rows.values() for day in rows}
            emitted = {t // self.width_us for values in self.emitted.values() for t in values}
        else:
            slots, days, emitted = self._raw_slots, self._row_days, self._emitted_slots
        pieces: dict[str, Any] = {}
        for day in sorted(days):
            value = {
                family.name: family.encode_row(self.rows[family.name][day])
                for family in self.families
                if day in self.rows[family.name]
            }
            pieces[f"rows/{day}"] = value or None
        if full or self._head:
            pieces["days"] = {
                "first_open": self.first_open,
                # Stored as "carry", the key of the states already written (formats 2 and 3).
                "carry": {name: dict(kept) for name, kept in self.family_states.items()},
            }
        for slot in sorted(slots):
            variables = self.raw.get(slot * self.width_us // DAY_US, {})
            lo, hi = slot * self.width_us, (slot + 1) * self.width_us
            in_slot = {v: readings.pairs(lo, hi) for v, readings in variables.items()}
            pieces[f"raw/{slot}"] = {v: pairs for v, pairs in in_slot.items() if pairs} or None
        if emitted:
            by_slot: dict[int, dict[str, list[tuple[int, float]]]] = {slot: {} for slot in sorted(emitted)}
            width = self.width_us
            for indicator, values in self.emitted.items():
                if len(values) <= _FEW:  # most ids: a few open days' keys; one pass, no sort
                    for t, x in values.items():
                        found = by_slot.get(t // width)
                        if found is not None:
                            found.setdefault(indicator, []).append((t, x))
                    continue
                times = sorted(values)
                for slot, in_slot in by_slot.items():
                    lo = bisect_left(times, slot * width)
                    hi = bisect_left(times, (slot + 1) * width, lo)
                    if hi > lo:
                        in_slot[indicator] = [(t, values[t]) for t in times[lo:hi]]
            for in_slot in by_slot.values():
                for pairs in in_slot.values():
                    pairs.sort()
            pieces.update((f"emitted/{slot}", value or None) for slot, value in by_slot.items())
        if full or self._head:
            pieces["head"] = {
                "format": STATE_FORMAT,
                "station": self.station,
                "late_dropped": self.late_dropped,
            }
        self._raw_slots, self._row_days, self._emitted_slots, self._head = set(), set(), set(), False
        return pieces

    @classmethod
    def from_pieces(
        cls, pieces: Mapping[str, Any], params: EcologyParams, climatology: Climatology | None = None
    ) -> EcologyState:
        """The state ``export`` wrote (any order of pieces; a piece given as None is absent)."""
        head = pieces.get("head")
        if not head or head.get("format") not in (STATE_FORMAT, _FORMAT_2):
            raise ValueError(f"ecology state: unknown format {head and head.get('format')!r}")
        state = cls(str(head["station"]), params, climatology)
        days = (
            head if head["format"] == _FORMAT_2 else pieces.get("days") or {"first_open": None, "carry": {}}
        )
        state.first_open = days["first_open"]
        state.late_dropped = int(head["late_dropped"])
        for name, kept in days["carry"].items():
            if name in state.family_states:
                state.family_states[name] = dict(kept)
        for key, value in sorted(pieces.items()):
            if value is None:
                continue
            kind, _, index = key.partition("/")
            if kind == "raw":
                for variable, pairs in value.items():
                    for t, x in pairs:
                        if state.first_open is not None and day_of(int(t)) < state.first_open:
                            # A closed day whose deletion did not reach the changelog: the next export
                            # deletes its slot.
                            state._raw_slots.add(int(t) // state.width_us)
                            continue
                        variables = state.raw.setdefault(day_of(int(t)), {})
                        variables.setdefault(variable, Readings()).put(int(t), float(x))
            elif kind == "rows":
                families = {family.name: family for family in state.families}
                for name, row in value.items():
                    if name in families:
                        state.rows[name][int(index)] = families[name].decode_row(row)
            elif kind == "emitted":
                for indicator, pairs in value.items():
                    state.emitted.setdefault(indicator, {}).update((int(t), x) for t, x in pairs)
        for name, rows in state.rows.items():
            state.rows[name] = dict(sorted(rows.items()))
        for indicator, values in state.emitted.items():
            state.emitted[indicator] = dict(sorted(values.items()))
        state.raw = dict(sorted(state.raw.items()))
        state._head = False
        state._stale = True
        return state


def compute_batch(
    station: str,
    samples: Iterable[SampleLike],
    params: EcologyParams,
    climatology: Climatology | None = None,
) -> dict[tuple[str, int], float]:
    """Every indicator value of a whole series at once: {(indicator, time_us): value}."""
    state = EcologyState(station, params, climatology)
    return {(r.indicator, r.time_us): r.value for r in state.update(samples) if r.value is not None}
