"""Responses: one page in any format (with a ``next`` link), or a streamed export of every row.

A page is at most ``limit`` rows; the query fetched one row more, whose sort key becomes the ``after``
cursor of the ``next`` link (JSON body and ``Link`` header). The link also freezes a relative range
(``start=-7d``) into absolute times, so following it never shifts the window.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import orjson
from fastapi import Request, Response
from fastapi.responses import StreamingResponse

from services.api import metrics
from services.api.db import Database
from services.api.params import CursorKey, TimeRange, encode_cursor, format_time
from services.api.parquet import ParquetStream, parquet_bytes
from services.api.tables import Chunk, Column, csv_header, to_csv, to_ndjson, to_records

PAGE_FORMATS = ("json", "csv", "parquet", "ndjson")
EXPORT_FORMATS = ("csv", "parquet", "ndjson", "netcdf")  # netcdf: services/api/netcdf.py
MEDIA_TYPES = {
    "json": "application/json",
    "geojson": "application/geo+json",
    "csv": "text/csv; charset=utf-8",
    "ndjson": "application/x-ndjson",
    "parquet": "application/vnd.apache.parquet",
    "netcdf": "application/x-netcdf",
}
EXTENSIONS = {"csv": "csv", "ndjson": "jsonl", "parquet": "parquet", "json": "json", "netcdf": "nc"}

Convert = Callable[[Sequence[Any]], Chunk]
KeyOf = Callable[[Any], CursorKey]


def json_response(document: Any, media: str = "json", headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), media_type=MEDIA_TYPES[media], headers=headers)


def _parquet_metadata(meta: dict[str, Any]) -> dict[str, str]:
    return {"tidewatch": orjson.dumps(meta).decode()}


async def page(
    db: Database,
    request: Request,
    sql: str,
    args: Sequence[Any],
    *,
    limit: int,
    convert: Convert,
    key_of: KeyOf,
    span: TimeRange,
    fmt: str,
    meta: dict[str, Any],
    headers: dict[str, str] | None = None,
) -> Response:
    rows = await db.fetch(sql, args)
    next_url = None
    if len(rows) > limit:
        next_url = str(
            request.url.include_query_params(
                after=encode_cursor(key_of(rows[limit])),
                start=format_time(span.start_us),
                end=format_time(span.end_us),
            )
        )
        rows = rows[:limit]
    chunk = convert(rows)
    meta = {**meta, "rows": len(chunk), "limit": limit}
    headers = dict(headers or {})
    if next_url:
        headers["Link"] = f'<{next_url}>; rel="next"'
    if fmt == "json":
        return json_response({"meta": meta, "data": to_records(chunk), "next": next_url}, headers=headers)
    if fmt == "csv":
        body: bytes = (csv_header(chunk.columns) + to_csv(chunk)).encode()
    elif fmt == "ndjson":
        body = to_ndjson(chunk)
    else:
        body = parquet_bytes(chunk, _parquet_metadata(meta))
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def encoded_stream(
    chunks: AsyncIterator[Chunk], columns: Sequence[Column], fmt: str, meta: dict[str, Any]
) -> AsyncIterator[bytes]:
    """Encode chunk by chunk; CSV gets one header, Parquet one row group per chunk and a footer."""
    if fmt == "csv":
        yield csv_header(columns).encode()
        async for chunk in chunks:
            yield to_csv(chunk).encode()
    elif fmt == "ndjson":
        async for chunk in chunks:
            yield to_ndjson(chunk)
    else:
        writer = ParquetStream(columns, _parquet_metadata(meta))
        async for chunk in chunks:
            yield writer.write(chunk)
        yield writer.close()


def export(
    db: Database,
    sql: str,
    args: Sequence[Any],
    *,
    convert: Convert,
    columns: Sequence[Column],
    fmt: str,
    meta: dict[str, Any],
    filename: str,
    headers: dict[str, str] | None = None,
) -> StreamingResponse:
    async def chunks() -> AsyncIterator[Chunk]:
        async for rows in db.stream(sql, args):
            metrics.count_export_rows(fmt, len(rows))
            yield convert(rows)

    headers = {
        **(headers or {}),
        "Content-Disposition": f'attachment; filename="{filename}.{EXTENSIONS[fmt]}"',
    }
    return StreamingResponse(
        encoded_stream(chunks(), columns, fmt, meta), media_type=MEDIA_TYPES[fmt], headers=headers
    )
