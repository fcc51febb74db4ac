"""The message contract's rules applied to a file's readings column-wise (pure).

The same registry, vocabulary, reason codes and limits as ingest's ``schemas.contract.Validator``,
judged per (station, variable) pair and vectorised over the readings instead of one JSON message
at a time (a file of millions of readings would otherwise spend most of its time building
messages): unknown station, unit other than the contract's, time in the future or before 1990,
variable not measured at the station, value outside the physical range. Each refused reading
gets the first reason that applies, in the validator's order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd

from schemas.contract import (
    EARLIEST_TIME_US,
    FUTURE_TIME,
    MAX_FUTURE_S,
    OUT_OF_RANGE,
    TOO_OLD,
    UNKNOWN_STATION,
    UNKNOWN_VARIABLE,
    WRONG_UNIT,
)
from schemas.records import storable_text
from schemas.registry import Registry
from services.api.cf import cf_units
from services.history.file_readings import FileReadings, RowRefusal

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_OK = 0


def iso(time_us: int) -> str:
    moment = _EPOCH + timedelta(microseconds=int(time_us))
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f").removesuffix(".000000")
    return text + "Z"


@dataclass(frozen=True, slots=True)
class Checked:
    accepted: np.ndarray  # indices of the readings that pass
    refused: list[RowRefusal]


def _units_of(registry: Registry, variable: str) -> set[str]:
    unit = registry.variables[variable].unit
    return {unit, cf_units(unit)[0]}


def check(registry: Registry, readings: FileReadings, received_us: int) -> Checked:
    """Which readings the contract accepts, and a refusal (with row and reason) for each other one."""
    n = len(readings)
    if n == 0:
        return Checked(np.zeros(0, dtype=np.int64), [])
    station_code, stations = pd.factorize(readings.station)
    variable_code, variables = pd.factorize(readings.variable)
    units = readings.unit if readings.unit is not None else np.full(n, "", dtype=object)
    unit_code, unit_names = pd.factorize(units)
    nv, nu = len(variables), len(unit_names)
    triple = (station_code.astype(np.int64) * nv + variable_code) * nu + unit_code
    found, inverse = np.unique(triple, return_inverse=True)
    reason = np.zeros(len(found), dtype=object)
    low = np.full(len(found), -np.inf)
    high = np.full(len(found), np.inf)
    for k, code in enumerate(found.tolist()):
        s, rest = divmod(code, nv * nu)
        v, u = divmod(rest, nu)
        station = registry.get(stations[s])
        variable, unit = variables[v], unit_names[u]
        if station is None:
            reason[k] = UNKNOWN_STATION
        elif variable in registry.variables and unit and unit not in _units_of(registry, variable):
            reason[k] = WRONG_UNIT
        elif variable not in station.variables:
            reason[k] = UNKNOWN_VARIABLE
        else:
            reason[k] = _OK
            low[k] = registry.variables[variable].physical_min
            high[k] = registry.variables[variable].physical_max
    row_reason = reason[inverse]
    ok = row_reason == _OK
    times = readings.time_us
    future = times > received_us + int(MAX_FUTURE_S * 1_000_000)
    old = times < EARLIEST_TIME_US
    with np.errstate(invalid="ignore"):
        outside = (readings.value < low[inverse]) | (readings.value > high[inverse])
    refused_rows = np.flatnonzero(~ok | future | old | outside)
    refusals = [_refusal(registry, readings, int(i), row_reason[i], future[i], old[i]) for i in refused_rows]
    return Checked(np.flatnonzero(ok & ~future & ~old & ~outside), refusals)


def _refusal(
    registry: Registry, readings: FileReadings, i: int, pair_reason: object, future: bool, old: bool
) -> RowRefusal:
    station, variable = str(readings.station[i]), str(readings.variable[i])
    at, value = iso(readings.time_us[i]), float(readings.value[i])
    if pair_reason == UNKNOWN_STATION:
        reason, detail = UNKNOWN_STATION, f"station {station!r} is not in the registry"
    elif pair_reason == WRONG_UNIT:
        assert readings.unit is not None  # a wrong unit is one the file gave
        unit = registry.variables[variable].unit
        reason, detail = WRONG_UNIT, f"{variable} in {readings.unit[i]!r}; the contract unit is {unit!r}"
    elif future:
        reason, detail = FUTURE_TIME, f"sample time {at} is in the future"
    elif old:
        reason, detail = TOO_OLD, f"sample time {at} is before 1990-01-01"
    elif pair_reason == UNKNOWN_VARIABLE:
        where = "in the vocabulary" if variable not in registry.variables else "measured at this station"
        reason, detail = UNKNOWN_VARIABLE, f"{variable!r} is not {where} ({at})"
    else:
        spec = registry.variables[variable]
        reason = OUT_OF_RANGE
        detail = (
            f"{variable}={value} at {at} outside physical range [{spec.physical_min}, {spec.physical_max}]"
        )
    return RowRefusal(
        int(readings.row[i]),
        reason,
        storable_text(detail),
        readings.payload(i),
        storable_text(station),
    )
