"""The HTTP endpoints under ``/api/v1``: catalogue, observations, indicators, alerts.

Handlers only parse (``params``), check ids against the catalogue, and hand a plan to ``respond``;
the SQL lives in ``sql``. Pages are limited (``limit``, ``after``, ``next``); ``/export`` streams all.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response

from services.api.alerts_view import ALERT_STATES, alert_plan, event_plan, rule_units
from services.api.catalogue import (
    geojson,
    load_catalogue,
    resolve_stations,
    resolve_variables,
    station_documents,
    station_table,
)
from services.api.datums import DATUM_HELP, resolve_datum
from services.api.db import Database
from services.api.errors import ApiError
from services.api.flags import QC_FLAG_MEANINGS, QC_FLAG_NAMES, QC_HELP, QC_SETS, parse_qc
from services.api.history import data_status_meta, reviews_in, status_lookup
from services.api.netcdf import netcdf_export
from services.api.params import (
    AGGREGATE_HELP,
    BUCKET_HELP,
    DEFAULT_LIMIT,
    MAX_LIMIT,
    TIME_HELP,
    TimeRange,
    decode_cursor,
    format_time,
    parse_aggregates,
    parse_bucket,
    parse_format,
    parse_limit,
    parse_range,
    parse_versions,
    split_list,
    widen_to_buckets,
)
from services.api.respond import EXPORT_FORMATS, PAGE_FORMATS, export, json_response, page
from services.api.series import plan_series
from services.api.sql import (
    INDICATOR_CATALOGUE_SQL,
    INDICATORS,
    OBSERVATIONS,
    STATIONS_SQL,
    VARIABLES_SQL,
    AlertQuery,
    SeriesQuery,
    SeriesTable,
)
from services.api.tables import csv_header, to_csv

router = APIRouter(prefix="/api/v1")

Stations = Annotated[
    list[str] | None, Query(description="station ids, repeated or comma-separated (default: every station)")
]
Start = Annotated[
    str | None, Query(description=f"range start, inclusive: {TIME_HELP} (default: end - 1 day)")
]
End = Annotated[str | None, Query(description=f"range end, exclusive: {TIME_HELP} (default: now)")]
Limit = Annotated[
    int | None, Query(description=f"rows per page (default {DEFAULT_LIMIT:,}, at most {MAX_LIMIT:,})")
]
After = Annotated[str | None, Query(description="cursor from the previous page's next link")]
Bucket = Annotated[str | None, Query(description=f"aggregate into buckets of {BUCKET_HELP}")]
Agg = Annotated[str | None, Query(description=f"with bucket: {AGGREGATE_HELP} (default mean,min,max,count)")]
PageFormat = Annotated[
    str | None, Query(alias="format", description="json (default), csv, parquet or ndjson")
]
ExportFormat = Annotated[
    str | None,
    Query(
        alias="format",
        description="csv (default), parquet, ndjson, or netcdf (CF-1.8 timeSeries with QC flags, ACDD-1.3)",
    ),
]
Datum = Annotated[str | None, Query(description=DATUM_HELP)]
Version = Annotated[
    list[str] | None,
    Query(description="config version ids (GET /api/v1/config-versions): only rows they produced"),
]
Qc = Annotated[
    str | None,
    Query(description=f"{QC_HELP}; default all for raw readings, usable for buckets"),
]


def _db(request: Request) -> Database:
    return request.app.state.db


def _now_us() -> int:
    return time.time_ns() // 1000


# ---------------------------------------------------------------------------------------------------
# Catalogue


@router.get("/qc-flags", summary="QARTOD QC flags: numbers, names, meanings and the qc= sets")
async def qc_flags() -> dict[str, Any]:
    return {
        "flags": [{"flag": f, "name": n, "meaning": QC_FLAG_MEANINGS[f]} for f, n in QC_FLAG_NAMES.items()],
        "sets": {name: [QC_FLAG_NAMES[f] for f in flags] for name, flags in QC_SETS.items()},
    }


@router.get("/variables", summary="The variable vocabulary with units, CF names and physical ranges")
async def variables(request: Request) -> Response:
    rows = await _db(request).fetch(VARIABLES_SQL)
    return json_response({"variables": [dict(r) for r in rows]})


@router.get("/stations", summary="Station catalogue (JSON, GeoJSON for maps, or CSV per variable)")
async def stations(
    request: Request,
    station: Stations = None,
    kind: Annotated[list[str] | None, Query(description="tide_gauge, buoy, wetland, seagrass")] = None,
    fmt: Annotated[str | None, Query(alias="format", description="json (default), geojson or csv")] = None,
) -> Response:
    chosen = parse_format(fmt, ("json", "geojson", "csv"))
    db = _db(request)
    ids = resolve_stations(await load_catalogue(db), split_list(station))
    rows = await db.fetch(STATIONS_SQL, [ids, split_list(kind) or None])
    if chosen == "csv":
        table = station_table(rows)
        return Response(csv_header(table.columns) + to_csv(table), media_type="text/csv; charset=utf-8")
    documents = station_documents(rows)
    if chosen == "geojson":
        return json_response(geojson(documents), "geojson")
    return json_response({"stations": documents})


@router.get("/stations/{station_id}", summary="One station (JSON or GeoJSON Feature)")
async def station(
    request: Request,
    station_id: Annotated[str, Path(description="station id")],
    fmt: Annotated[str | None, Query(alias="format", description="json (default) or geojson")] = None,
) -> Response:
    chosen = parse_format(fmt, ("json", "geojson"))
    db = _db(request)
    resolve_stations(await load_catalogue(db), [station_id], in_path=True)
    documents = station_documents(await db.fetch(STATIONS_SQL, [[station_id], None]))
    if chosen == "geojson":
        return json_response(geojson(documents)["features"][0], "geojson")
    return json_response(documents[0])


@router.get("/indicators/catalogue", summary="What every indicator id means: unit, definition, method")
async def indicator_catalogue(request: Request) -> Response:
    rows = await _db(request).fetch(INDICATOR_CATALOGUE_SQL)
    return json_response({"indicators": [dict(r) for r in rows]})


# ---------------------------------------------------------------------------------------------------
# Observations and indicators


async def _indicator_ids(db: Database, requested: Sequence[str]) -> list[str] | None:
    if not requested:
        return None
    known = {r["id"] for r in await db.fetch(INDICATOR_CATALOGUE_SQL)}
    unknown = [i for i in requested if known and i not in known]
    if unknown:
        raise ApiError(
            f"indicator: unknown indicator {', '.join(map(repr, unknown))}; "
            "GET /api/v1/indicators/catalogue lists them"
        )
    return list(requested)


async def _series(
    request: Request,
    table: SeriesTable,
    *,
    station: list[str] | None,
    series: list[str] | None,
    start: str | None,
    end: str | None,
    qc: str | None,
    bucket: str | None,
    agg: str | None,
    fmt: str | None,
    limit: int | None = None,
    after: str | None = None,
    streamed: bool = False,
    datum: str | None = None,
    version: list[str] | None = None,
) -> Response:
    db = _db(request)
    versions = parse_versions(version)
    span = parse_range(start, end, _now_us())
    bucket_width = parse_bucket(bucket)
    aggregates: tuple[str, ...] = ()
    percentiles: tuple[float, ...] = ()
    if bucket_width is not None:
        span = widen_to_buckets(span, bucket_width)
        aggregates, percentiles = parse_aggregates(agg)
    elif agg:
        raise ApiError("agg: aggregates need a bucket (e.g. bucket=1h or bucket=1mo)")
    chosen = parse_format(fmt, EXPORT_FORMATS if streamed else PAGE_FORMATS)
    page_limit = None if streamed else parse_limit(limit)
    cursor = None if streamed else decode_cursor(after, (str, str, int))
    flags = None
    if table.qc:
        flags = parse_qc(qc, "usable" if bucket_width else "all")
    elif qc:
        raise ApiError(f"qc: {table.table} carry no QC flag")
    catalogue = await load_catalogue(db)
    stations = resolve_stations(catalogue, split_list(station))
    if table is OBSERVATIONS:
        series_ids = resolve_variables(catalogue, stations, split_list(series))
    else:
        series_ids = await _indicator_ids(db, split_list(series))
    shift, datum_meta = await resolve_datum(db, catalogue, table, stations, series_ids, datum, span)
    query = SeriesQuery(
        stations=stations,
        series=series_ids,
        span=span,
        flags=flags,
        versions=versions,
        after=cursor,
        limit=page_limit,
        bucket=bucket_width,
        aggregates=aggregates,
        percentiles=percentiles,
        datum=shift,
    )
    decimals = catalogue.decimals if table is OBSERVATIONS else None
    reviews = await reviews_in(db, stations, series_ids, span.start_us, span.end_us) if table.qc else []
    status = status_lookup(reviews)
    plan = plan_series(table, query, await db.backend(), catalogue.units, decimals, status)
    meta = dict(plan.meta)
    if table is OBSERVATIONS:
        chosen_stations = stations or catalogue.variables_of
        wanted = series_ids or sorted({v for s in chosen_stations for v in catalogue.variables_of[s]})
        meta["units"] = {v: catalogue.units.get(v) for v in wanted}
        meta["data_status"] = data_status_meta(reviews)
    meta["datum"] = datum_meta
    # CSV and JSON lines carry no metadata
    headers = {"X-Tidewatch-Method": plan.method, "X-Tidewatch-Datum": datum_meta["id"]}
    if chosen == "netcdf":
        return await netcdf_export(request, db, table, query, filename=_filename(table.table, span))
    if streamed:
        return export(
            db,
            plan.sql,
            plan.args,
            convert=plan.convert,
            columns=plan.columns,
            fmt=chosen,
            meta=meta,
            filename=_filename(table.table, span),
            headers=headers,
        )
    assert page_limit is not None
    return await page(
        db,
        request,
        plan.sql,
        plan.args,
        limit=page_limit,
        convert=plan.convert,
        key_of=plan.key_of,
        span=span,
        fmt=chosen,
        meta=meta,
        headers=headers,
    )


def _filename(what: str, span: TimeRange) -> str:
    return f"tidewatch_{what}_{format_time(span.start_us)}_{format_time(span.end_us)}".replace(":", "")


Variables = Annotated[list[str] | None, Query(description="variable ids (default: every variable)")]
Indicators = Annotated[list[str] | None, Query(description="indicator ids (default: every indicator)")]


@router.get("/observations", summary="Readings, raw or in buckets, one page at a time")
async def observations(
    request: Request,
    station: Stations = None,
    variable: Variables = None,
    start: Start = None,
    end: End = None,
    qc: Qc = None,
    bucket: Bucket = None,
    agg: Agg = None,
    fmt: PageFormat = None,
    limit: Limit = None,
    after: After = None,
    datum: Datum = None,
    version: Version = None,
) -> Response:
    return await _series(
        request, OBSERVATIONS, station=station, series=variable, start=start, end=end, qc=qc,
        bucket=bucket, agg=agg, fmt=fmt, limit=limit, after=after, datum=datum, version=version,
    )  # fmt: skip


@router.get("/observations/export", summary="Every matching reading or bucket, streamed (no limit)")
async def observations_export(
    request: Request,
    station: Stations = None,
    variable: Variables = None,
    start: Start = None,
    end: End = None,
    qc: Qc = None,
    bucket: Bucket = None,
    agg: Agg = None,
    fmt: ExportFormat = None,
    datum: Datum = None,
    version: Version = None,
) -> Response:
    return await _series(
        request, OBSERVATIONS, station=station, series=variable, start=start, end=end, qc=qc,
        bucket=bucket, agg=agg, fmt=fmt, streamed=True, datum=datum, version=version,
    )  # fmt: skip


@router.get("/indicators", summary="Indicator series, raw or in buckets, one page at a time")
async def indicators(
    request: Request,
    station: Stations = None,
    indicator: Indicators = None,
    start: Start = None,
    end: End = None,
    bucket: Bucket = None,
    agg: Agg = None,
    fmt: PageFormat = None,
    limit: Limit = None,
    after: After = None,
    datum: Datum = None,
    version: Version = None,
    qc: Annotated[str | None, Query(include_in_schema=False)] = None,
) -> Response:
    return await _series(
        request, INDICATORS, station=station, series=indicator, start=start, end=end, qc=qc,
        bucket=bucket, agg=agg, fmt=fmt, limit=limit, after=after, datum=datum, version=version,
    )  # fmt: skip


@router.get("/indicators/export", summary="Every matching indicator value or bucket, streamed")
async def indicators_export(
    request: Request,
    station: Stations = None,
    indicator: Indicators = None,
    start: Start = None,
    end: End = None,
    bucket: Bucket = None,
    agg: Agg = None,
    fmt: ExportFormat = None,
    datum: Datum = None,
    version: Version = None,
) -> Response:
    return await _series(
        request, INDICATORS, station=station, series=indicator, start=start, end=end, qc=None,
        bucket=bucket, agg=agg, fmt=fmt, streamed=True, datum=datum, version=version,
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Alerts

Rules = Annotated[list[str] | None, Query(description="alert rule ids")]
Severities = Annotated[list[str] | None, Query(description="blue, yellow, orange, red")]


async def _alert_query(
    request: Request,
    station: list[str] | None,
    start: str | None,
    end: str | None,
    *,
    after: Any,
    limit: int,
    **filters: list[str] | None,
) -> AlertQuery:
    """Stations checked against the catalogue; each text filter split into a list (None: no filter)."""
    catalogue = await load_catalogue(_db(request))
    return AlertQuery(
        stations=resolve_stations(catalogue, split_list(station)),
        span=parse_range(start, end, _now_us()),
        after=after,
        limit=limit,
        **{name: split_list(values) or None for name, values in filters.items()},
    )


@router.get("/alerts", summary="Alerts active at any time in the range, with their current state")
async def alerts(
    request: Request,
    station: Stations = None,
    start: Start = None,
    end: End = None,
    state: Annotated[list[str] | None, Query(description="pending, firing, resolved")] = None,
    severity: Severities = None,
    rule: Rules = None,
    fmt: PageFormat = None,
    limit: Limit = None,
    after: After = None,
) -> Response:
    chosen = parse_format(fmt, PAGE_FORMATS)
    unknown = [s for s in split_list(state) if s not in ALERT_STATES]
    if unknown:
        names = ", ".join(map(repr, unknown))
        raise ApiError(f"state: unknown alert state {names}; use {', '.join(ALERT_STATES)}")
    query = await _alert_query(
        request, station, start, end, states=state, severities=severity, rules=rule,
        after=decode_cursor(after, (int, str)), limit=parse_limit(limit),
    )  # fmt: skip
    db = _db(request)
    sql, args, convert, key_of, meta = alert_plan(query, await rule_units(request.app, db))
    return await page(
        db, request, sql, args, limit=query.limit or 0, convert=convert, key_of=key_of, span=query.span,
        fmt=chosen, meta=meta,
    )  # fmt: skip


@router.get("/alerts/events", summary="Every alert transition (opened, escalated, acknowledged, resolved …)")
async def alert_events(
    request: Request,
    station: Stations = None,
    start: Start = None,
    end: End = None,
    kind: Annotated[list[str] | None, Query(description="transition kinds")] = None,
    severity: Severities = None,
    rule: Rules = None,
    fmt: PageFormat = None,
    limit: Limit = None,
    after: After = None,
) -> Response:
    chosen = parse_format(fmt, PAGE_FORMATS)
    query = await _alert_query(
        request, station, start, end, kinds=kind, severities=severity, rules=rule,
        after=decode_cursor(after, (int, str, int)), limit=parse_limit(limit),
    )  # fmt: skip
    db = _db(request)
    sql, args, convert, key_of, meta = event_plan(query, await rule_units(request.app, db))
    return await page(
        db, request, sql, args, limit=query.limit or 0, convert=convert, key_of=key_of, span=query.span,
        fmt=chosen, meta=meta,
    )  # fmt: skip
