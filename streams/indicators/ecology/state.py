"""Per-station streaming state for the ecological indicators, and the batch computation.

Readings are kept raw (keyed by time, so a replayed reading changes nothing) for the open UTC days:
the newest day seen and `allowed_lateness_days` before it. When a day closes, each indicator family
keeps a compact row of it for as long as it needs (baselines, the current year of carbon, an ongoing
heatwave) and readings that arrive for a closed day are dropped and counted. Every update recomputes
the values that can still change and emits those that differ from what was last emitted, with a None
value retracting a key that no longer exists; so the last value emitted per (station, indicator,
time) equals the batch result for any arrival order within the lateness, and across a restart from
the JSON state. `late_dropped` counts readings refused for closed days, replays of readings already
taken included. Two different values for the same station, variable and time: the last one wins.

QC revises flags after the fact, so the stream layer passes every QC result of the input variables,
mapping a flag other than 1 (GOOD) to None. A sample value that is None or not finite means "no
usable reading of this variable at this time": it withdraws a reading taken earlier, the day is
recomputed and every value it fed is re-emitted or retracted. A withdrawal for a closed day is
dropped and counted like a late reading; one for a reading never taken changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from streams.indicators.ecology.bloom import BloomFamily
from streams.indicators.ecology.calendar import day_of
from streams.indicators.ecology.carbon import CarbonFamily
from streams.indicators.ecology.chemistry import ChemistryFamily
from streams.indicators.ecology.climatology import Climatology
from streams.indicators.ecology.frame import Family, Outputs, Row, Series
from streams.indicators.ecology.heatwave import HeatwaveFamily
from streams.indicators.ecology.oxygen import OxygenFamily
from streams.indicators.ecology.params import EcologyParams
from streams.indicators.ecology.records import CATALOGUE
from streams.indicators.ecology.wetland import WetlandFamily
from streams.indicators.records import Indicator

STATE_FORMAT = "tidewatch.ecology.state/1"
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

    time_us: int
    values: Mapping[str, float | None]


def build_families(params: EcologyParams, climatology: Climatology | None) -> list[Family]:
    families: list[Family] = [
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
        self.raw: dict[int, dict[str, dict[int, float]]] = {}
        self.rows: dict[str, dict[int, Row]] = {f.name: {} for f in self.families}
        self.carry: dict[str, dict] = {f.name: {} for f in self.families}
        self.emitted: dict[str, dict[int, float]] = {}
        self._day_rows: dict[int, dict[str, Row | None]] = {}  # open days, rebuilt only when touched

    def update(self, samples: Iterable[SampleLike]) -> list[Indicator]:
        """Take the latest QC result of readings (any order, replays allowed); return new and corrected
        values. `values[var]` None or NaN withdraws the reading of `var` at that time (QC no longer
        rates it GOOD); any other value adds or replaces it."""
        if not self._ingest(samples):
            return []
        open_rows = self._open_rows()
        records = self._emit(open_rows)
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
                    continue
                if value is None or not math.isfinite(value):
                    changed |= self._withdraw(day, variable, sample.time_us)
                    continue
                readings = self.raw.setdefault(day, {}).setdefault(variable, {})
                if readings.get(sample.time_us) != value:
                    readings[sample.time_us] = float(value)
                    self._day_rows.pop(day, None)
                    changed = True
        return changed

    def _withdraw(self, day: int, variable: str, time_us: int) -> bool:
        """Forget a reading QC no longer rates good; a variable left without readings leaves the day
        (the day itself stays: it still marks how far the station's data have come)."""
        variables = self.raw.get(day, {})
        readings = variables.get(variable, {})
        if readings.pop(time_us, None) is None:
            return False
        if not readings:
            del variables[variable]
        self._day_rows.pop(day, None)
        return True

    def _open_rows(self) -> dict[str, dict[int, Row]]:
        rows: dict[str, dict[int, Row]] = {f.name: {} for f in self.families}
        for day in sorted(self.raw):
            if day not in self._day_rows:
                readings = {name: Series.from_mapping(values) for name, values in self.raw[day].items()}
                self._day_rows[day] = {f.name: f.day_row(day, readings) for f in self.families}
            for name, row in self._day_rows[day].items():
                if row is not None:
                    rows[name][day] = row
        return rows

    def _emit(self, open_rows: dict[str, dict[int, Row]]) -> list[Indicator]:
        out = Outputs()
        for family in self.families:
            rows = dict(sorted({**self.rows[family.name], **open_rows[family.name]}.items()))
            family.outputs(rows, self.first_open, self.carry[family.name], out)
        records = []
        for indicator, from_us in out.scopes.items():
            new, old = out.values[indicator], self.emitted.get(indicator, {})
            unit = CATALOGUE[indicator].unit
            records += [
                Indicator(self.station, indicator, t, v, unit) for t, v in new.items() if old.get(t) != v
            ]
            records += [
                Indicator(self.station, indicator, t, None, unit)
                for t in old
                if t not in new and (from_us is None or t >= from_us)
            ]
            self.emitted[indicator] = new
        records.sort(key=lambda r: (r.time_us, r.indicator))
        return records

    def _close(self, open_rows: dict[str, dict[int, Row]]) -> None:
        first_open = max(self.raw) - self.params.allowed_lateness_days
        if self.first_open is not None and first_open <= self.first_open:
            return
        for family in self.families:
            rows = self.rows[family.name]
            rows.update((day, row) for day, row in open_rows[family.name].items() if day < first_open)
            keep_from = family.close(dict(sorted(rows.items())), first_open, self.carry[family.name])
            self.rows[family.name] = {day: row for day, row in sorted(rows.items()) if day >= keep_from}
        self.raw = {day: readings for day, readings in self.raw.items() if day >= first_open}
        self._day_rows = {day: rows for day, rows in self._day_rows.items() if day >= first_open}
        self.first_open = first_open

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable state (dict keys become strings; floats round-trip exactly).

        Written to the changelog after every batch that touched the station, so it is built cheaply:
        (time, value) pairs are the dicts' item tuples (a JSON array each, as a list would be). Every
        mutable part is copied: the table keeps this object (a rebalance reloads the state from it),
        so later updates must not change it.
        """
        return {
            "format": STATE_FORMAT,
            "station": self.station,
            "first_open": self.first_open,
            "late_dropped": self.late_dropped,
            "raw": {
                str(day): {v: list(readings.items()) for v, readings in variables.items()}
                for day, variables in self.raw.items()
            },
            "rows": {name: {str(day): row for day, row in rows.items()} for name, rows in self.rows.items()},
            "carry": {name: dict(carry) for name, carry in self.carry.items()},
            "emitted": {name: list(values.items()) for name, values in self.emitted.items()},
        }

    @classmethod
    def from_json(
        cls, data: Mapping[str, Any], params: EcologyParams, climatology: Climatology | None = None
    ) -> EcologyState:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"ecology state: unknown format {data.get('format')!r}")
        state = cls(str(data["station"]), params, climatology)
        state.first_open = data["first_open"]
        state.late_dropped = int(data["late_dropped"])
        state.raw = {
            int(day): {v: {int(t): float(x) for t, x in pairs} for v, pairs in variables.items()}
            for day, variables in data["raw"].items()
        }
        for name, rows in data["rows"].items():
            if name in state.rows:
                state.rows[name] = {int(day): row for day, row in rows.items()}
        for name, carry in data["carry"].items():
            if name in state.carry:
                state.carry[name] = dict(carry)
        state.emitted = {name: {int(t): v for t, v in pairs} for name, pairs in data["emitted"].items()}
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
