"""``format=netcdf`` on the export endpoints: a CF-1.8 discrete-sampling-geometry file (``timeSeries``).

Layout (CF §9.3.2, incomplete multidimensional array, which xarray reads as a plain 2-D table): a
``station`` instance dimension (id, name, position, datum) and an ``obs`` element dimension as long as
the station with most samples; every variable is (station, obs), one sample per station and time, fill
after a station's last sample and where a variable has no reading then. Each reading variable has its
QARTOD aggregate flag as ``{variable}_qc`` and each test's flag as ``{variable}_qc_{test}``. Rows come
from one read-only snapshot through a server-side cursor and are written chunk by chunk to a temporary
file (a netCDF file cannot be sent before it is complete), so memory stays flat; it is sent, then
deleted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any

import netCDF4
import numpy as np
import yaml
from fastapi import Request, Response
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from schemas.datums import DATUMS
from schemas.quality import TESTS as QC_TESTS
from services.api import metrics
from services.api.cf import (
    FILL_VALUE,
    QC_FILL,
    TIME_UNITS,
    Coverage,
    Series,
    Station,
    created_now_us,
    global_attributes,
    in_default_export,
    qc_attributes,
    qc_name,
    status_attributes,
    status_name,
    test_qc_name,
    variable_attributes,
)
from services.api.data_status import StatusLookup
from services.api.db import Database
from services.api.errors import ApiError
from services.api.history import reviews_in, status_lookup
from services.api.params import SECOND_US
from services.api.respond import EXTENSIONS, MEDIA_TYPES
from services.api.sql import (
    INDICATOR_CATALOGUE_SQL,
    OBSERVATIONS,
    VARIABLES_SQL,
    DatumShift,
    SeriesQuery,
    SeriesTable,
    wide_series_sql,
)

ATTRIBUTES_ENV = "TIDEWATCH_NETCDF_ATTRIBUTES"  # named in errors; read by services/config.py
STATIONS_META_SQL = (
    "SELECT id, name, latitude, longitude, datum_name, msl_above_datum_m, variables FROM stations ORDER BY id"
)
OBS_CHUNK = 4096  # netCDF chunk length along obs
DATUM_ATTRIBUTES = {
    "standard_name": "water_surface_reference_datum_altitude",
    "long_name": "altitude of the station datum (datum_name) above local mean sea level",
    "units": "m",
    "positive": "up",
    "coverage_content_type": "referenceInformation",
    "comment": "minus the registry's height of mean sea level above the datum; local mean sea level "
    "stands in for the geoid",
}


def attribute_overrides(path: str | None) -> dict[str, Any]:
    """The operator's global attributes (creator, publisher, licence …) from a YAML mapping file."""
    if not path:
        return {}
    try:
        with open(path, encoding="utf-8") as handle:
            loaded = yaml.safe_load(handle) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ApiError(f"{ATTRIBUTES_ENV}: cannot read {path}: {exc}", 500) from None
    if not isinstance(loaded, dict) or not all(
        isinstance(k, str) and isinstance(v, str | int | float) for k, v in loaded.items()
    ):
        raise ApiError(f"{ATTRIBUTES_ENV}: {path} must map attribute names to text or numbers", 500)
    return loaded


def _flag_attributes(attrs: dict[str, Any]) -> dict[str, Any]:
    """Flag values in the flag variable's own type (byte), as CF requires."""
    return {
        **attrs,
        "flag_values": np.array(attrs["flag_values"], dtype="i1"),
        "valid_range": np.array(attrs["valid_range"], dtype="i1"),
    }


@dataclass
class TimeSeriesWriter:
    """Writes (station, time) samples into an open netCDF file, station by station as they arrive; the
    station table is written at the end, in the order stations appeared (the database's text order need
    not be Python's), then the stations without a sample."""

    dataset: netCDF4.Dataset
    stations: Sequence[Station]
    series: Sequence[Series]
    written: int = 0
    counts: dict[str, int] = field(default_factory=dict)  # samples so far per station, in arrival order
    first_us: int | None = None
    last_us: int | None = None
    lookup: StatusLookup = field(default_factory=lambda: StatusLookup([]))  # each reading's data status

    def __post_init__(self) -> None:
        self._column = {s.name: i for i, s in enumerate(self.series)}
        ds = self.dataset
        ds.createDimension("station", len(self.stations))
        ds.createDimension("obs", None)
        time = self._variable("time", "f8", FILL_VALUE)
        time.setncatts(
            {
                "standard_name": "time",
                "long_name": "time of the sample (UTC)",
                "units": TIME_UNITS,
                "calendar": "standard",
                "axis": "T",
            }
        )
        for s in self.series:
            self._variable(s.name, "f8", FILL_VALUE).setncatts(variable_attributes(s))
            if s.qc:
                self._variable(qc_name(s), "i1", QC_FILL).setncatts(_flag_attributes(qc_attributes(s)))
                self._variable(status_name(s), "i1", QC_FILL).setncatts(
                    _flag_attributes(status_attributes(s))
                )

    def _variable(self, name: str, kind: str, fill: float) -> Any:
        return self.dataset.createVariable(
            name, kind, ("station", "obs"), fill_value=fill, chunksizes=(1, OBS_CHUNK), zlib=True
        )

    def _runs(self, rows: Sequence[Any]) -> list[tuple[int, int, int, int]]:
        """(first row, end row, station index, first obs position) of each station's rows in the chunk."""
        runs = []
        a = 0
        for b in range(1, len(rows) + 1):
            if b == len(rows) or rows[b][0] != rows[a][0]:
                station = rows[a][0]
                position = self.counts.setdefault(station, 0)
                runs.append((a, b, list(self.counts).index(station), position))
                self.counts[station] = position + (b - a)
                a = b
        return runs

    def append(self, rows: Sequence[Any]) -> None:
        """Rows of ``wide_series_sql``: (station_id, time µs, series[], value[], [qc_flag[], qc_tests[]])."""
        n = len(rows)
        if not n:
            return
        k = len(self.series)
        values = np.full((n, k), FILL_VALUE)
        flags = np.full((n, k), QC_FILL, dtype="i1")
        times = np.empty(n, dtype=np.int64)
        column = self._column
        for i, row in enumerate(rows):
            times[i] = row[1]
            row_flags = row[4] if len(row) > 4 else None
            for j, name in enumerate(row[2]):
                c = column.get(name)
                if c is None:
                    continue
                value = row[3][j]
                if value is not None:
                    values[i, c] = value
                if row_flags is not None:
                    flags[i, c] = row_flags[j]

        tests = self._test_flags(rows)
        ds = self.dataset
        for a, b, station, position in self._runs(rows):
            where = (station, slice(position, position + b - a))
            ds["time"][where] = times[a:b] / SECOND_US
            for c, s in enumerate(self.series):
                ds[s.name][where] = values[a:b, c]
                if s.qc:
                    ds[qc_name(s)][where] = flags[a:b, c]
                    codes = self.lookup.codes(rows[a][0], s.name, times[a:b])
                    ds[status_name(s)][where] = np.where(flags[a:b, c] == QC_FILL, QC_FILL, codes)
            for (c, test), flag_column in tests.items():
                self._test_variable(self.series[c], test)[where] = flag_column[a:b]
        self.written += n
        low, high = int(times.min()), int(times.max())
        self.first_us = low if self.first_us is None else min(self.first_us, low)
        self.last_us = high if self.last_us is None else max(self.last_us, high)

    def _test_flags(self, rows: Sequence[Any]) -> dict[tuple[int, str], np.ndarray]:
        """Each QARTOD test's flags of this chunk, per (series column, test); only tests that ran."""
        columns: dict[tuple[int, str], np.ndarray] = {}
        for i, row in enumerate(rows):
            if len(row) < 6:
                return columns
            for name, tests in zip(row[2], row[5], strict=True):
                c = self._column.get(name)
                for test, flag in (tests or {}).items():
                    if c is None or test not in QC_TESTS or not flag:
                        continue
                    column = columns.get((c, test))
                    if column is None:
                        column = columns[(c, test)] = np.full(len(rows), QC_FILL, dtype="i1")
                    column[i] = flag
        return columns

    def _test_variable(self, series: Series, test: str) -> Any:
        """Created when a test first appears (earlier samples read as fill) and named as ancillary."""
        name = test_qc_name(series, test)
        if name in self.dataset.variables:
            return self.dataset[name]
        flag = self._variable(name, "i1", QC_FILL)
        flag.setncatts(_flag_attributes(qc_attributes(series, test)))
        parent = self.dataset[series.name]
        parent.ancillary_variables = f"{parent.ancillary_variables} {name}"
        return flag

    def finish(self, globals_: dict[str, Any]) -> None:
        ds = self.dataset
        by_id = {s.id: s for s in self.stations}
        order = [by_id[i] for i in self.counts] + [s for s in self.stations if s.id not in self.counts]
        text = {
            "station_id": ({"long_name": "station identifier", "cf_role": "timeseries_id"}, "id"),
            "station_name": ({"long_name": "station name"}, "name"),
            "datum_name": ({"long_name": "vertical datum of the station's water levels"}, "datum_name"),
        }
        for name, (attrs, source) in text.items():
            var = ds.createVariable(name, str, ("station",))
            var.setncatts(attrs)
            var[:] = np.array([getattr(s, source) for s in order], dtype=object)
        for name, attrs, values in (
            ("latitude", {"standard_name": "latitude", "long_name": "station latitude (WGS84)",
                          "units": "degrees_north", "axis": "Y"}, [s.latitude for s in order]),
            ("longitude", {"standard_name": "longitude", "long_name": "station longitude (WGS84)",
                           "units": "degrees_east", "axis": "X"}, [s.longitude for s in order]),
            ("datum_altitude", DATUM_ATTRIBUTES, [-s.msl_above_datum_m for s in order]),
        ):  # fmt: skip
            var = ds.createVariable(name, "f8", ("station",))
            var.setncatts(attrs)
            var[:] = np.array(values, dtype="f8")
        ds.setncatts(globals_)


def on_datum(station: Station, shift: DatumShift | None) -> Station:
    """The station as its levels are written: in another datum (``datum=``) the datum's name, and mean sea
    level above it through the zero's height in force now (its last levelling)."""
    if shift is None or not shift.segments.get(station.id):
        return station
    zero_above_m = shift.segments[station.id][-1].offset_m
    return dataclasses.replace(
        station, datum_name=DATUMS[shift.datum], msl_above_datum_m=station.msl_above_datum_m + zero_above_m
    )


async def _choose_series(
    conn: Any,
    table: SeriesTable,
    query: SeriesQuery,
    stations: Sequence[Station],
    measured: dict[str, tuple[str, ...]],
) -> list[Series]:
    """Readings: the asked variables, or those the chosen stations measure that ``in_default_export``
    keeps. Indicators: the
    asked ones, or those with a value in the range (the catalogue is long and mostly sparse)."""
    if table is OBSERVATIONS:
        rows = {r["id"]: r for r in await conn.fetch(VARIABLES_SQL)}
        names = list(query.series or sorted({v for s in stations for v in measured[s.id] if v in rows}))
        series = [Series(n, rows[n]["description"], rows[n]["unit"], rows[n]["cf_name"], True) for n in names]
        # Unasked: not the CH4 flux or battery voltage (no CF name), nor a buoy's measured position.
        return series if query.series else [s for s in series if in_default_export(s)]
    catalogue = {r["id"]: r for r in await conn.fetch(INDICATOR_CATALOGUE_SQL)}
    names = list(query.series or ())
    if not names:
        found = await conn.fetch(
            "SELECT DISTINCT indicator FROM indicators WHERE station_id = ANY($1::text[]) "
            "AND time >= $2::timestamptz AND time < $3::timestamptz ORDER BY indicator",
            [s.id for s in stations],
            query.span.start_us,
            query.span.end_us,
        )
        names = [r["indicator"] for r in found]
    series = []
    for n in names:
        entry = catalogue.get(n)
        description, unit = (entry["definition"], entry["unit"]) if entry else (n, "1")
        series.append(Series(n, description, unit))
    return series


async def netcdf_export(
    request: Request, db: Database, table: SeriesTable, query: SeriesQuery, *, filename: str
) -> Response:
    """Write the selection into a temporary NetCDF-4 file from one snapshot and send it."""
    if query.bucket is not None:
        raise ApiError("format: netcdf holds the stored values; leave out bucket and agg")
    overrides = attribute_overrides(request.app.state.settings.netcdf_attributes_path)
    handle, path = tempfile.mkstemp(prefix="tidewatch_", suffix=".nc")
    os.close(handle)
    try:
        async with db.snapshot() as conn:
            station_rows = await conn.fetch(STATIONS_META_SQL)
            chosen = set(query.stations or [r["id"] for r in station_rows])
            stations = [
                Station(r["id"], r["name"], r["latitude"], r["longitude"], r["datum_name"],
                        r["msl_above_datum_m"])
                for r in station_rows if r["id"] in chosen
            ]  # fmt: skip
            measured = {r["id"]: tuple(r["variables"]) for r in station_rows}
            series = await _choose_series(conn, table, query, stations, measured)
            if table is OBSERVATIONS:
                names = {s.name for s in series}
                stations = [s for s in stations if names & set(measured[s.id])]
            # Explicit stations, so rows of a station no longer in the registry cannot break the layout.
            scoped = SeriesQuery(
                stations=[s.id for s in stations],
                series=[s.name for s in series],
                span=query.span,
                flags=query.flags,
                versions=query.versions,
                datum=query.datum,
            )
            stations = [on_datum(s, query.datum) for s in stations]
            sql, args = wide_series_sql(table, scoped)
            reviews = []
            if table.qc:
                reviews = await reviews_in(
                    conn, scoped.stations, scoped.series, query.span.start_us, query.span.end_us
                )
            dataset = await asyncio.to_thread(netCDF4.Dataset, path, "w", format="NETCDF4")
            try:
                writer = await asyncio.to_thread(
                    TimeSeriesWriter, dataset, stations, series, lookup=status_lookup(reviews)
                )
                async for rows in db.chunks(conn, sql, args):
                    metrics.count_export_rows("netcdf", len(rows))
                    await asyncio.to_thread(writer.append, rows)
                attrs = global_attributes(
                    what=table.table,
                    stations=stations,
                    series=series,
                    requested=(query.span.start_us, query.span.end_us),
                    coverage=Coverage(writer.first_us, writer.last_us, writer.written),
                    created_us=created_now_us(),
                    request_url=str(request.url),
                    version=metadata.version("tidewatch"),
                    overrides=overrides,
                )
                await asyncio.to_thread(writer.finish, attrs)
            finally:
                await asyncio.to_thread(dataset.close)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(
        path,
        media_type=MEDIA_TYPES["netcdf"],
        filename=f"{filename}.{EXTENSIONS['netcdf']}",
        background=BackgroundTask(os.unlink, path),
    )
