"""SQL text for every listing, built from whitelisted identifiers with every value a bind parameter.

Pure: no I/O. Each builder returns ``(sql, args)`` for asyncpg. Placeholders always carry a cast
(``$3::timestamptz``) so the statement means the same on PostgreSQL and TimescaleDB and a test can
render it with literals for the PGlite harness. Times are bound as int µs since epoch UTC (the API's
pool decodes and encodes timestamptz that way).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from schemas.datums import Segment
from services.api.params import Bucket, CursorKey, TimeRange

HOUR_US = 3_600_000_000


@dataclass
class Binds:
    """Collects bind values; ``bind(value, cast)`` returns the placeholder for the SQL text."""

    args: list[Any] = field(default_factory=list)

    def bind(self, value: Any, cast: str) -> str:
        assert cast in _CASTS, cast
        self.args.append(value)
        return f"${len(self.args)}::{cast}"


_CASTS = (
    "text", "text[]", "smallint[]", "timestamptz", "timestamptz[]", "interval", "float8", "float8[]",
    "bigint", "integer", "integer[]",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class SeriesTable:
    """A long-format time-series table: one row per station, series id and time."""

    table: str
    key: str  # the series column: variable or indicator
    qc: bool  # has a qc_flag column
    unit_column: str | None  # stores its unit per row (indicators) or not (observations: from variables)
    hourly_rollup: str | None  # a continuous aggregate with n/value_sum/value_min/value_max per qc_flag
    version_column: str  # the config_versions id of what produced the row (QC flags / indicator values)


OBSERVATIONS = SeriesTable("observations", "variable", True, None, "observations_hourly", "qc_version")
INDICATORS = SeriesTable("indicators", "indicator", False, "unit", None, "version")

BUCKET_FUNCTIONS = {
    "date_bin": "date_bin({width}, {time}, {origin})",
    "time_bucket": "time_bucket({width}, {time}, {origin})",
}
# Calendar months on plain PostgreSQL: whole UTC months from the origin's month, floored to a multiple of
# {months}, added back to the origin (a month start), as timestamptz again. date_part (float8, exact for
# these small whole numbers) rather than extract (numeric): half the time per row. TimescaleDB's
# time_bucket takes a month interval instead and counts months from the origin's month the same way.
CALENDAR_MONTHS = (
    "(({origin} AT TIME ZONE 'UTC') + make_interval(months => ({months} * floor(("
    "(date_part('year', {time} AT TIME ZONE 'UTC') - date_part('year', {origin} AT TIME ZONE 'UTC')) * 12 "
    "+ date_part('month', {time} AT TIME ZONE 'UTC') - date_part('month', {origin} AT TIME ZONE 'UTC')) "
    "/ {months}))::integer)) AT TIME ZONE 'UTC'"
)
TIME_BUCKET_MONTHS = "time_bucket(make_interval(months => {months}), {time}, {origin})"
# The bucket methods each kind of bucket can use (keyed by Bucket.calendar).
METHODS_FOR = {
    False: ("date_bin", "time_bucket", "hourly_rollup"),
    True: ("calendar_months", "time_bucket", "hourly_rollup"),
}
RAW_AGGREGATES = {
    "mean": "avg(value)",
    "std": "stddev_samp(value)",
    "min": "min(value)",
    "max": "max(value)",
    "count": "count(value)",
    "median": "percentile_cont(0.5) WITHIN GROUP (ORDER BY value)",
}
ROLLUP_AGGREGATES = {
    "mean": "sum(value_sum) / nullif(sum(n), 0)",
    "min": "min(value_min)",
    "max": "max(value_max)",
    "count": "sum(n)::bigint",
}


@dataclass(frozen=True, slots=True)
class DatumShift:
    """Levels asked in another datum: each station's periods and offsets (``schemas.datums``), added to the
    level variables' readings before anything is aggregated, so a bucket across a re-levelling is right."""

    datum: str
    variables: tuple[str, ...]  # the level variables converted; other variables pass unchanged
    segments: Mapping[str, Sequence[Segment]]  # station id → its periods with an offset to ``datum``


@dataclass(frozen=True, slots=True)
class SeriesQuery:
    stations: Sequence[str] | None  # None: every station
    series: Sequence[str] | None  # None: every variable / indicator
    span: TimeRange
    flags: Sequence[int] | None = None  # QC flags kept (observations only)
    versions: Sequence[int] | None = None  # config versions kept (rows produced by one of them)
    after: CursorKey | None = None  # (station_id, series, time_us): first row of this page
    limit: int | None = None  # None: everything (exports)
    bucket: Bucket | None = None  # None: raw rows
    aggregates: tuple[str, ...] = ()
    percentiles: tuple[float, ...] = ()
    datum: DatumShift | None = None  # None: levels as stored (station zero)


def bucket_method(table: SeriesTable, query: SeriesQuery, timescaledb: bool, rollup: bool) -> str:
    """Which SQL computes the buckets: the hourly rollup where exact (whole hours, or calendar months,
    which start on UTC hours), else time_bucket on TimescaleDB, else date_bin or month arithmetic."""
    bucket = query.bucket
    assert bucket is not None
    exact_from_rollup = (
        rollup
        and table.hourly_rollup is not None
        and (bucket.calendar or bucket.width_us % HOUR_US == 0)
        and not query.percentiles
        and set(query.aggregates) <= set(ROLLUP_AGGREGATES)
        and query.span.start_us % HOUR_US == 0
        and query.span.end_us % HOUR_US == 0
        and query.datum is None  # the rollup holds stored values; a shift applies per reading
        and query.versions is None  # nor does it know which version gave a row
    )
    if exact_from_rollup:
        return "hourly_rollup"
    if timescaledb:
        return "time_bucket"
    return "calendar_months" if bucket.calendar else "date_bin"


def _source(table: SeriesTable, query: SeriesQuery, binds: Binds) -> str:
    """The table, or with a datum shift a subquery of the same columns whose level values carry the
    offset of the period each reading falls in (NULL where no period holds; the API refuses those)."""
    shift = query.datum
    if shift is None:
        return table.table
    stored = "o.qc_flag, o.qc_tests" if table.qc else f"o.{table.unit_column}"
    stored += f", o.{table.version_column}"
    rows = [(station, seg) for station, segs in shift.segments.items() for seg in segs]
    levels = binds.bind(list(shift.variables), "text[]")
    periods = (
        f"unnest({binds.bind([st for st, _ in rows], 'text[]')}, "
        f"{binds.bind([seg.start_us for _, seg in rows], 'timestamptz[]')}, "
        f"{binds.bind([seg.end_us for _, seg in rows], 'timestamptz[]')}, "
        f"{binds.bind([seg.offset_m for _, seg in rows], 'float8[]')})"
        " AS d(station_id, valid_from, valid_to, offset_m)"
    )
    return (
        f"(SELECT o.time, o.station_id, o.{table.key}, {stored}, "
        f"CASE WHEN o.{table.key} = ANY({levels}) THEN o.value + d.offset_m ELSE o.value END AS value\n"
        f" FROM {table.table} o LEFT JOIN {periods}\n"
        f"   ON d.station_id = o.station_id AND o.{table.key} = ANY({levels}) AND o.time >= d.valid_from"
        f" AND o.time < d.valid_to) AS {table.table}"
    )


def _where(table: SeriesTable, query: SeriesQuery, time_column: str, binds: Binds) -> str:
    conditions = []
    if query.stations is not None:
        conditions.append(f"station_id = ANY({binds.bind(list(query.stations), 'text[]')})")
    if query.series is not None:
        conditions.append(f"{table.key} = ANY({binds.bind(list(query.series), 'text[]')})")
    conditions.append(f"{time_column} >= {binds.bind(query.span.start_us, 'timestamptz')}")
    conditions.append(f"{time_column} < {binds.bind(query.span.end_us, 'timestamptz')}")
    if table.qc and query.flags is not None:
        conditions.append(f"qc_flag = ANY({binds.bind(list(query.flags), 'smallint[]')})")
    if query.versions is not None:
        conditions.append(f"{table.version_column} = ANY({binds.bind(list(query.versions), 'integer[]')})")
    if query.after is not None:
        station, series, time_us = query.after
        conditions.append(
            f"(station_id, {table.key}, {time_column}) >= ({binds.bind(station, 'text')}, "
            f"{binds.bind(series, 'text')}, {binds.bind(time_us, 'timestamptz')})"
        )
    return " AND ".join(conditions)


def _limit(limit: int | None, binds: Binds) -> str:
    # One row more than the page: its key is the next page's cursor.
    return "" if limit is None else f"\nLIMIT {binds.bind(limit + 1, 'bigint')}"


def raw_series_sql(table: SeriesTable, query: SeriesQuery) -> tuple[str, list[Any]]:
    """Columns: time, station_id, <key>, value[, qc_flag][, unit], <version>, in (station, key, time)
    order."""
    binds = Binds()
    extra = (", qc_flag" if table.qc else "") + (f", {table.unit_column}" if table.unit_column else "")
    extra += f", {table.version_column}"
    sql = (
        f"SELECT time, station_id, {table.key}, value{extra}\nFROM {_source(table, query, binds)}\n"
        f"WHERE {_where(table, query, 'time', binds)}\nORDER BY station_id, {table.key}, time"
        + _limit(query.limit, binds)
    )
    return sql, binds.args


def _bucket_start(bucket: Bucket, method: str, time_column: str, binds: Binds) -> str:
    """The SQL of a row's bucket start; the rollup re-buckets its hourly rows with time_bucket."""
    assert method in METHODS_FOR[bucket.calendar], (method, bucket)
    origin = binds.bind(bucket.origin_us, "timestamptz")
    if bucket.calendar:
        months = binds.bind(bucket.months, "integer")
        template = CALENDAR_MONTHS if method == "calendar_months" else TIME_BUCKET_MONTHS
        return template.format(months=months, time=time_column, origin=origin)
    width = binds.bind(dt.timedelta(microseconds=bucket.width_us), "interval")
    function = "date_bin" if method == "date_bin" else "time_bucket"
    return BUCKET_FUNCTIONS[function].format(width=width, time=time_column, origin=origin)


def bucket_series_sql(table: SeriesTable, query: SeriesQuery, method: str) -> tuple[str, list[Any]]:
    """Columns: time (bucket start), station_id, <key>, [unit,] the plain aggregates, then
    ``percentiles`` (a float8[] in the order asked) when any were asked."""
    assert query.bucket is not None
    binds = Binds()
    if method == "hourly_rollup":
        assert table.hourly_rollup and not query.percentiles
        source, time_column, aggregates = table.hourly_rollup, "bucket", ROLLUP_AGGREGATES
    else:
        source, time_column, aggregates = _source(table, query, binds), "time", RAW_AGGREGATES
    bucket = _bucket_start(query.bucket, method, time_column, binds)
    selected = [f"{bucket} AS time", "station_id", table.key]
    if table.unit_column:
        selected.append(f"min({table.unit_column}) AS unit")
    selected += [f"{aggregates[name]} AS {name}" for name in query.aggregates]
    if query.percentiles:
        fractions = binds.bind(list(query.percentiles), "float8[]")
        selected.append(f"percentile_cont({fractions}) WITHIN GROUP (ORDER BY value) AS percentiles")
    sql = (
        f"SELECT {', '.join(selected)}\nFROM {source}\nWHERE {_where(table, query, time_column, binds)}\n"
        f"GROUP BY 1, station_id, {table.key}\nORDER BY station_id, {table.key}, 1"
    )
    sql += _limit(query.limit, binds)
    return sql, binds.args


def wide_series_sql(table: SeriesTable, query: SeriesQuery) -> tuple[str, list[Any]]:
    """One row per station and time with every series read then, for NetCDF's shared sample dimension.

    Columns: station_id, time, series (text[] sorted), value (float8[]), [qc_flag (smallint[]), qc_tests
    (jsonb[])], in
    (station, time) order, so the file is written station by station.
    """
    binds = Binds()
    flags = ""
    if table.qc:
        flags = (
            f", array_agg(qc_flag ORDER BY {table.key}) AS qc_flag"
            f", array_agg(qc_tests ORDER BY {table.key}) AS qc_tests"
        )
    sql = (
        f"SELECT station_id, time, array_agg({table.key} ORDER BY {table.key}) AS series, "
        f"array_agg(value ORDER BY {table.key}) AS value{flags}\nFROM {_source(table, query, binds)}\n"
        f"WHERE {_where(table, query, 'time', binds)}\nGROUP BY station_id, time\nORDER BY station_id, time"
    )
    return sql, binds.args


# ---------------------------------------------------------------------------------------------------
# Alerts: the current state of each alert, and every transition.

ALERT_COLUMNS = (
    "alert_id, station_id, rule, state, severity, opened_at, updated_at, resolved_at, value, message_en, "
    "message_zh, acknowledged_by, acknowledged_at, ack_comment, silenced_until"
)
EVENT_COLUMNS = (
    "time, alert_id, seq, station_id, rule, kind, state, severity, value, message_en, message_zh, "
    "channels, actor, comment, received, late"
)


@dataclass(frozen=True, slots=True)
class AlertQuery:
    stations: Sequence[str] | None
    span: TimeRange
    rules: Sequence[str] | None = None
    severities: Sequence[str] | None = None
    states: Sequence[str] | None = None  # alerts only: pending | firing | resolved
    kinds: Sequence[str] | None = None  # events only: the transition kind
    after: CursorKey | None = None
    limit: int | None = None


def _text_filters(binds: Binds, columns: dict[str, Sequence[str] | None]) -> list[str]:
    return [
        f"{column} = ANY({binds.bind(list(values), 'text[]')})"
        for column, values in columns.items()
        if values is not None
    ]


def _listing(
    columns: str, table: str, conditions: list[str], order: str, limit: int | None, binds: Binds
) -> str:
    sql = f"SELECT {columns}\nFROM {table}\nWHERE {' AND '.join(conditions)}\nORDER BY {order}"
    return sql + _limit(limit, binds)


def alerts_sql(query: AlertQuery) -> tuple[str, list[Any]]:
    """Alerts active at some time in the range, by (opened_at, alert_id)."""
    binds = Binds()
    common = {"station_id": query.stations, "rule": query.rules, "severity": query.severities}
    conditions = _text_filters(binds, {**common, "state": query.states})
    conditions.append(f"opened_at < {binds.bind(query.span.end_us, 'timestamptz')}")
    conditions.append(
        f"(resolved_at IS NULL OR resolved_at >= {binds.bind(query.span.start_us, 'timestamptz')})"
    )
    if query.after is not None:
        opened_us, alert = query.after
        conditions.append(
            f"(opened_at, alert_id) >= ({binds.bind(opened_us, 'timestamptz')}, {binds.bind(alert, 'text')})"
        )
    order = "opened_at, alert_id"
    return _listing(ALERT_COLUMNS, "alerts", conditions, order, query.limit, binds), binds.args


def alert_events_sql(query: AlertQuery) -> tuple[str, list[Any]]:
    """Alert transitions in the range, by (time, alert_id, seq)."""
    binds = Binds()
    common = {"station_id": query.stations, "rule": query.rules, "severity": query.severities}
    conditions = _text_filters(binds, {**common, "kind": query.kinds})
    conditions.append(f"time >= {binds.bind(query.span.start_us, 'timestamptz')}")
    conditions.append(f"time < {binds.bind(query.span.end_us, 'timestamptz')}")
    if query.after is not None:
        time_us, alert, seq = query.after
        conditions.append(
            f"(time, alert_id, seq) >= ({binds.bind(time_us, 'timestamptz')}, {binds.bind(alert, 'text')}, "
            f"{binds.bind(seq, 'bigint')})"
        )
    order = "time, alert_id, seq"
    return _listing(EVENT_COLUMNS, "alert_events", conditions, order, query.limit, binds), binds.args


# ---------------------------------------------------------------------------------------------------
# The catalogue: stations with their variables, units and first/last reading per variable.

STATIONS_SQL = """
SELECT s.id, s.name, s.name_zh, s.kind, s.network, s.area, s.latitude, s.longitude, s.datum_name,
       s.msl_above_datum_m, s.datum_levellings, s.sampling_interval_s, s.thresholds, s.updated_at,
       sv.variable, v.unit, v.description, v.cf_name, r.first_time, r.last_time
FROM stations s
CROSS JOIN LATERAL unnest(s.variables) AS sv(variable)
LEFT JOIN variables v ON v.id = sv.variable
LEFT JOIN LATERAL (
    SELECT min(o.time) AS first_time, max(o.time) AS last_time
    FROM observations o WHERE o.station_id = s.id AND o.variable = sv.variable
) r ON true
WHERE ($1::text[] IS NULL OR s.id = ANY($1::text[])) AND ($2::text[] IS NULL OR s.kind = ANY($2::text[]))
ORDER BY s.id, sv.variable
"""
CATALOGUE_SQL = "SELECT id, kind, variables, datum_levellings FROM stations ORDER BY id"
VARIABLES_SQL = (
    "SELECT id, description, unit, cf_name, physical_min, physical_max, resolution FROM variables ORDER BY id"
)
INDICATOR_CATALOGUE_SQL = (
    "SELECT id, unit, definition, inputs, parameters, method FROM indicator_catalogue ORDER BY id"
)
