"""Observation and indicator listings: the query plan, the output columns, and rows → chunks.

Raw rows carry their unit, (observations) their QC flag number and name and their data status
(``preliminary``, or ``verified`` where an operator's newest review covering the reading says so), and
the configuration version that produced them (``qc_version`` / ``version``: GET /api/v1/config-versions);
bucket rows carry the unit, the aggregates asked for (``p90``-style percentile columns) and the QC
flags that were counted (``meta.data_status`` lists the reviews instead).
Aggregates of a variable with a resolution in the vocabulary are rounded to it (a mean of millimetre
readings is not 2.0389999999999997 m), as are levels converted to another datum; raw readings are
returned as stored.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from services.api.data_status import StatusLookup
from services.api.db import Backend
from services.api.flags import QC_FLAG_NAMES, describe_flags
from services.api.params import SECOND_US, Bucket, CursorKey, format_time, percentile_name
from services.api.respond import Convert
from services.api.sql import SeriesQuery, SeriesTable, bucket_method, bucket_series_sql, raw_series_sql
from services.api.tables import Chunk, Column

METHOD_NOTES = {
    "raw": "raw readings",
    "date_bin": "date_bin over raw readings (PostgreSQL)",
    "calendar_months": "UTC calendar months (month arithmetic on time AT TIME ZONE 'UTC') over raw readings "
    "(PostgreSQL)",
    "time_bucket": "time_bucket over raw readings (TimescaleDB)",
    "hourly_rollup": "observations_hourly continuous aggregate, re-bucketed with time_bucket (TimescaleDB)",
}


@dataclass(frozen=True, slots=True)
class SeriesPlan:
    sql: str
    args: list[Any]
    columns: tuple[Column, ...]
    convert: Convert
    method: str  # a METHOD_NOTES key
    meta: dict[str, Any]

    @staticmethod
    def key_of(row: Any) -> CursorKey:
        """The (station, series, time) sort key of a row: the next page starts there."""
        return (row[1], row[2], row[0])


def _rounded(values: list[Any], series: list[Any], decimals: Mapping[str, int]) -> list[Any]:
    """Each value rounded to its series' resolution (None stays None; a series without one as is)."""
    return [
        v if v is None or (d := decimals.get(s)) is None else round(v, d)
        for v, s in zip(values, series, strict=True)
    ]


def _transpose(rows: Sequence[Any], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _raw_plan(
    table: SeriesTable,
    query: SeriesQuery,
    units: Mapping[str, str],
    decimals: Mapping[str, int],
    status: StatusLookup,
) -> tuple:
    columns = [Column("time", "time"), Column("station_id", "text"), Column(table.key, "text")]
    columns += [Column("value", "float"), Column("unit", "text")]
    if table.qc:
        columns += [Column("qc_flag", "int"), Column("qc_flag_name", "text"), Column("data_status", "text")]
    columns.append(Column(table.version_column, "int"))
    width = 6 if table.qc or table.unit_column else 5

    def convert(rows: Sequence[Any]) -> Chunk:
        time, station, series, value, *rest = _transpose(rows, width)
        if query.datum is not None:  # reading + offset: back to the reading's resolution
            shifted = {v: d for v, d in decimals.items() if v in query.datum.variables}
            value = _rounded(value, series, shifted)
        if table.qc:
            flags = rest[0]
            out = [time, station, series, value, [units.get(s) for s in series], flags]
            out += [[QC_FLAG_NAMES.get(f) for f in flags], status.names(station, series, time)]
        else:
            out = [time, station, series, value, rest[0]]
        out.append(rest[-1])
        return Chunk(columns, out)

    sql, args = raw_series_sql(table, query)
    return sql, args, tuple(columns), convert


def _bucket_plan(
    table: SeriesTable,
    query: SeriesQuery,
    units: Mapping[str, str],
    method: str,
    decimals: Mapping[str, int],
) -> tuple:
    columns = [Column("time", "time"), Column("station_id", "text"), Column(table.key, "text")]
    columns.append(Column("unit", "text"))
    columns += [Column(a, "int" if a == "count" else "float") for a in query.aggregates]
    columns += [Column(percentile_name(q), "float") for q in query.percentiles]
    flags_text = "+".join(QC_FLAG_NAMES[f] for f in query.flags or ()) if table.qc else None
    if table.qc:
        columns.append(Column("qc_flags", "text"))
    n_plain = len(query.aggregates)
    width = 3 + (1 if table.unit_column else 0) + n_plain + (1 if query.percentiles else 0)

    def convert(rows: Sequence[Any]) -> Chunk:
        cols = _transpose(rows, width)
        time, station, series = cols[:3]
        rest = cols[3:]
        unit = rest.pop(0) if table.unit_column else [units.get(s) for s in series]
        plain = [
            c if a == "count" else _rounded(c, series, decimals)
            for a, c in zip(query.aggregates, rest[:n_plain], strict=True)
        ]
        out = [time, station, series, unit, *plain]
        if query.percentiles:
            arrays = rest[n_plain]
            for i in range(len(query.percentiles)):
                out.append(_rounded([None if a is None else a[i] for a in arrays], series, decimals))
        if table.qc:
            out.append([flags_text] * len(time))
        return Chunk(columns, out)

    sql, args = bucket_series_sql(table, query, method)
    return sql, args, tuple(columns), convert


def _bucket_width(bucket: Bucket) -> dict[str, Any]:
    if bucket.calendar:
        return {"months": bucket.months, "calendar": "UTC calendar months counted from January 2000"}
    return {"width_s": bucket.width_us // SECOND_US}


def plan_series(
    table: SeriesTable,
    query: SeriesQuery,
    backend: Backend,
    units: Mapping[str, str],
    decimals: Mapping[str, int] | None = None,
    status: StatusLookup | None = None,
) -> SeriesPlan:
    """``decimals``: decimal places of each series' resolution (observations: the vocabulary's);
    ``status``: the reviews that decide each raw reading's data status (none: all preliminary)."""
    decimals = decimals or {}
    status = status or StatusLookup([])
    meta: dict[str, Any] = {
        "table": table.table,
        "stations": query.stations,
        f"{table.key}s": query.series,
        "start": format_time(query.span.start_us),
        "end": format_time(query.span.end_us),
        "order": f"station_id, {table.key}, time",
        "times": "UTC ISO 8601; the range is [start, end)",
    }
    if table.qc:
        meta["qc_flags"] = describe_flags(tuple(query.flags or QC_FLAG_NAMES))
    if query.bucket is None:
        method = "raw"
        sql, args, columns, convert = _raw_plan(table, query, units, decimals, status)
    else:
        method = bucket_method(table, query, bool(backend.timescaledb), backend.hourly_rollup)
        sql, args, columns, convert = _bucket_plan(table, query, units, method, decimals)
        meta["bucket"] = {
            **_bucket_width(query.bucket),
            "origin": format_time(query.bucket.origin_us),
            "time": "UTC bucket start; the range is widened to whole buckets; empty buckets are omitted",
            "aggregates": [*query.aggregates, *(percentile_name(q) for q in query.percentiles)],
            "rounding": "to each variable's resolution (GET /api/v1/variables)"
            if decimals
            else "none (indicators carry no resolution)",
        }
    meta["method"] = METHOD_NOTES[method]
    return SeriesPlan(sql, args, columns, convert, method, meta)
