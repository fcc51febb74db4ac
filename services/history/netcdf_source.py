"""NetCDF-CF ``featureType = timeSeries`` → readings (CF 1.6+ discrete sampling geometries).

Layouts read: incomplete multidimensional (``time(station, obs)``, what tidewatch exports),
orthogonal multidimensional (``time(time)``, data ``(station, time)``), contiguous ragged
(a ``rowSize`` variable with ``sample_dimension``, what ERDDAP's ``.ncCF`` writes), indexed ragged
(a station index with ``instance_dimension``) and a single station (scalar id or ``--station``).
Times from ``<unit> since <reference>`` in the standard calendar; the stations come from the
variable with ``cf_role = timeseries_id``. A variable is a reading if its name (or its ``--map``
name) is a vocabulary id; flags, coordinates and others are listed as ignored. Fill = no reading.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path

import netCDF4
import numpy as np

from services.history.file_readings import FileFormatError, FileReadings

_UNIT_US = {
    "microsecond": 1,
    "millisecond": 1_000,
    "second": 1_000_000,
    "minute": 60_000_000,
    "hour": 3_600_000_000,
    "day": 86_400_000_000,
}
_ALIASES = dict(us="microsecond", ms="millisecond", s="second", sec="second", secs="second")
_ALIASES.update(min="minute", mins="minute", h="hour", hr="hour", hrs="hour", d="day")
_UNITS = {**_UNIT_US, **{k + "s": v for k, v in _UNIT_US.items()}}
_UNITS.update({k: _UNIT_US[v] for k, v in _ALIASES.items()})
_SINCE = re.compile(r"\s*(\w+)\s+since\s+(.+?)\s*$", re.IGNORECASE)
_CALENDARS = {"standard", "gregorian", "proleptic_gregorian", ""}


def time_scale(units: str, calendar: str = "standard") -> tuple[int, int]:
    """(µs per unit, reference as µs since 1970) of CF time units such as 'seconds since 1970-01-01'."""
    match = _SINCE.fullmatch(units or "")
    if match is None or match.group(1).lower() not in _UNITS:
        raise FileFormatError(f"time units {units!r} are not '<unit> since <reference time>'")
    if calendar.lower() not in _CALENDARS:
        raise FileFormatError(f"time calendar {calendar!r}: only the standard (Gregorian) calendar")
    text = match.group(2).strip().replace(" UTC", "Z").replace(" ", "T", 1)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise FileFormatError(f"time reference in {units!r} is not an ISO time") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
    return _UNITS[match.group(1).lower()], (
        delta.days * 86_400 + delta.seconds
    ) * 1_000_000 + delta.microseconds


def _text(values: np.ndarray) -> list[str]:
    if getattr(values.dtype, "kind", "O") == "S":
        values = netCDF4.chartostring(values) if values.ndim > 1 else values.astype(str)
    return [str(v).strip() for v in np.atleast_1d(values).tolist()]


def _find(ds: netCDF4.Dataset, test: Callable[[netCDF4.Variable], bool]) -> list[netCDF4.Variable]:
    return [v for v in ds.variables.values() if test(v)]


def _attr(var: netCDF4.Variable | netCDF4.Dataset, name: str) -> str:
    return str(getattr(var, name, "") or "")


def _time_variable(ds: netCDF4.Dataset) -> netCDF4.Variable:
    found = _find(ds, lambda v: _attr(v, "standard_name") == "time" or _attr(v, "axis") == "T")
    found = found or [ds.variables[n] for n in ("time",) if n in ds.variables]
    if len(found) != 1:
        raise FileFormatError("no single time variable (standard_name = time)")
    return found[0]


def _stations(ds: netCDF4.Dataset, given: str | None) -> tuple[list[str], tuple[str, ...]]:
    """The station ids and the instance dimension (empty for one station)."""
    ids = _find(ds, lambda v: _attr(v, "cf_role") == "timeseries_id")
    if not ids:
        if not given:
            raise FileFormatError("no station id variable (cf_role = timeseries_id): give --station")
        return [given], ()
    var = ids[0]
    var.set_auto_mask(False)
    names = _text(var[...])
    chars = getattr(var.dtype, "kind", "O") == "S"  # a char array: its last dimension is the string length
    one = var.ndim == 0 or (chars and var.ndim == 1)
    return names, () if one else tuple(var.dimensions[:1])


def netcdf_stations(path: Path, station: str | None = None) -> set[str]:
    """The station ids a file names (its station id variable only), or ``station`` for a file of one
    that names none."""
    with netCDF4.Dataset(path) as ds:
        try:
            return set(_stations(ds, station)[0])
        except FileFormatError as exc:
            raise FileFormatError(f"{path}: {exc}") from exc


def _masked(values: np.ma.MaskedArray | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    data = np.ma.getdata(values)
    mask = np.ma.getmaskarray(values)
    return data, mask


def read_netcdf(
    path: Path, names: Mapping[str, str], vocabulary: frozenset[str], station: str | None = None
) -> FileReadings:
    try:
        return _read(path, names, vocabulary, station)
    except FileFormatError as exc:
        message = str(exc)
        raise FileFormatError(message if message.startswith(str(path)) else f"{path}: {message}") from exc


def _read(
    path: Path, names: Mapping[str, str], vocabulary: frozenset[str], station: str | None
) -> FileReadings:
    try:
        ds = netCDF4.Dataset(path)
    except OSError as exc:
        raise FileFormatError(f"{path}: not a NetCDF file ({exc})") from exc
    with ds:
        feature = _attr(ds, "featureType").lower()
        if feature and feature != "timeseries":
            raise FileFormatError(f"{path}: featureType {feature!r}; only timeSeries is imported")
        tvar = _time_variable(ds)
        scale, reference = time_scale(_attr(tvar, "units"), _attr(tvar, "calendar") or "standard")
        raw_time, time_mask = _masked(tvar[...])
        stations, instance = _stations(ds, station)
        row_size = _find(ds, lambda v: bool(_attr(v, "sample_dimension")))
        index_var = _find(ds, lambda v: bool(_attr(v, "instance_dimension")))
        time_dims = tvar.dimensions
        skip = {tvar.name, *(v.name for v in row_size + index_var)}
        skip |= {v.name for v in _find(ds, lambda v: _attr(v, "cf_role") == "timeseries_id")}
        parts: dict[str, list[np.ndarray]] = {
            k: [] for k in ("station", "variable", "time", "value", "row", "unit")
        }
        ignored: list[str] = []
        for var in ds.variables.values():
            if var.name in skip:
                continue
            vid = names.get(var.name, var.name)
            if vid not in vocabulary or hasattr(var, "flag_values") or var.ndim == 0:
                ignored.append(var.name)
                continue
            data, mask = _masked(var[...])
            data = data.astype(np.float64)
            if var.dimensions == time_dims:
                times, tmask = raw_time, time_mask
            elif len(time_dims) == 1 and var.dimensions[-1:] == time_dims:  # orthogonal
                times = np.broadcast_to(raw_time, data.shape)
                tmask = np.broadcast_to(time_mask, data.shape)
            else:
                ignored.append(var.name)
                continue
            if row_size:
                sizes = np.ma.getdata(row_size[0][...]).astype(np.int64)
                owner = np.repeat(np.arange(len(sizes)), sizes)
                owner = np.concatenate([owner, np.full(max(data.size - owner.size, 0), -1)])[: data.size]
            elif index_var:
                owner = np.ma.getdata(index_var[0][...]).astype(np.int64).ravel()
            elif instance and var.dimensions[:1] == instance:
                owner = np.repeat(np.arange(data.shape[0]), data.size // max(data.shape[0], 1))
            else:
                owner = np.zeros(data.size, dtype=np.int64)
            flat_time = np.asarray(times, dtype=np.float64).ravel()
            keep = ~(mask.ravel() | np.asarray(tmask).ravel()) & (owner >= 0) & (owner < len(stations))
            where = np.flatnonzero(keep)
            micro = np.rint(flat_time[where] * scale).astype(np.int64) + reference
            parts["station"].append(np.array(stations, dtype=object)[owner[where]])
            parts["variable"].append(np.full(len(where), vid, dtype=object))
            parts["time"].append(micro)
            parts["value"].append(data.ravel()[where])
            parts["row"].append(where.astype(np.int64))
            parts["unit"].append(np.full(len(where), _attr(var, "units"), dtype=object))
    if not parts["time"]:
        raise FileFormatError(
            f"{path}: no variable named by a vocabulary id (ignored: {', '.join(ignored)}); use --map NAME=ID"
        )
    return FileReadings(
        str(path),
        "sample",
        np.concatenate(parts["station"]),
        np.concatenate(parts["variable"]),
        np.concatenate(parts["time"]),
        np.concatenate(parts["value"]),
        np.concatenate(parts["row"]),
        np.concatenate(parts["unit"]),
        [],
        ignored,
    )
