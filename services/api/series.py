"""Observation and indicator listings: the query plan, the output columns, and rows → chunks.

Raw rows carry their unit and (observations) their QC flag number and name; bucket rows carry the
unit, the aggregates asked for (``p90``-style percentile columns) and the QC flags that were counted.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

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


def _transpose(rows: Sequence[Any], width: int) -> list[list[Any]]:
    return [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(width)]


def _raw_plan(table: SeriesTable, query: SeriesQuery, units: Mapping[str, str]) -> tuple:
    columns = [Column("time", "time"), Column("station_id", "text"), Column(table.key, "text")]
    columns += [Column("value", "float"), Column("unit", "text")]
    if table.qc:
        columns += [Column("qc_flag", "int"), Column("qc_flag_name", "text")]
    width = 5 if table.qc or table.unit_column else 4

    def convert(rows: Sequence[Any]) -> Chunk:
        time, station, series, value, *rest = _transpose(rows, width)
        if table.qc:
            flags = rest[0]
            out = [time, station, series, value, [units.get(s) for s in series], flags]
            out.append([QC_FLAG_NAMES.get(f) for f in flags])
        else:
            out = [time, station, series, value, rest[0]]
        return Chunk(columns, out)

    sql, args = raw_series_sql(table, query)
    return sql, args, tuple(columns), convert


def _bucket_plan(table: SeriesTable, query: SeriesQuery, units: Mapping[str, str], method: str) -> tuple:
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
        out = [time, station, series, unit, *rest[:n_plain]]
        if query.percentiles:
            arrays = rest[n_plain]
            for i in range(len(query.percentiles)):
                out.append([None if a is None else a[i] for a in arrays])
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
    table: SeriesTable, query: SeriesQuery, backend: Backend, units: Mapping[str, str]
) -> SeriesPlan:
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
        sql, args, columns, convert = _raw_plan(table, query, units)
    else:
        method = bucket_method(table, query, bool(backend.timescaledb), backend.hourly_rollup)
        sql, args, columns, convert = _bucket_plan(table, query, units, method)
        meta["bucket"] = {
            **_bucket_width(query.bucket),
            "origin": format_time(query.bucket.origin_us),
            "time": "UTC bucket start; the range is widened to whole buckets; empty buckets are omitted",
            "aggregates": [*query.aggregates, *(percentile_name(q) for q in query.percentiles)],
        }
    meta["method"] = METHOD_NOTES[method]
    return SeriesPlan(sql, args, columns, convert, method, meta)
