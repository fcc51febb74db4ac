"""The HTTP API against the real PostgreSQL: every endpoint and format, buckets vs numpy, pagination,
relative ranges, QC filters, refusals and injection attempts.

A fresh database per module (migrated and with the registry mirrored), rows written through the
service's own writer; the app runs in-process behind httpx's ASGI transport.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from schemas.datums import levellings_document
from schemas.registry import load_registry
from services.api import query_cli
from services.api.app import create_app, serve
from services.api.params import encode_cursor
from services.config import Settings, load_settings
from services.db.alerts import store_alert_events
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, upsert_observations
from streams.indicators.catalogue import INDICATORS
from tests.support.alert_io import STATION, at, corrected_evening, new_engine
from tests.support.api_series import (
    DAY0_US,
    HOUR_US,
    LEVEL_F,
    LEVEL_T,
    LEVEL_V,
    MINUTE_US,
    MONTH_F,
    MONTH_T,
    MONTH_V,
    MONTHS_END_US,
    MONTHS_START_US,
    N_LEVEL,
    iso,
    numpy_aggregates,
    numpy_buckets,
    numpy_month_buckets,
    numpy_month_starts,
    utc_us,
)

pytestmark = pytest.mark.integration

QC_NAMES = {1: "good", 2: "not_evaluated", 3: "suspect", 4: "fail", 9: "missing"}


def _rows(now_us: int) -> list[tuple]:
    rows = []
    for t, v, f in zip(LEVEL_T.tolist(), LEVEL_V.tolist(), LEVEL_F.tolist(), strict=True):
        rows.append((t, "dalian", "water_level_m", None if f == 9 else v, f, None, t + 5_000_000))
    for t, v, f in zip(MONTH_T.tolist(), MONTH_V.tolist(), MONTH_F.tolist(), strict=True):
        rows.append((t, "bayuquan", "water_level_m", None if f == 9 else v, f, None, t))
    for k in range(24):  # one day of hourly temperatures at dalian and lushun
        t = DAY0_US + k * HOUR_US
        rows.append((t, "dalian", "water_temperature_degC", 5.0 + k / 10, 1, None, t))
        rows.append((t, "lushun", "water_temperature_degC", 4.0 + k / 10, 1, None, t))
        rows.append((t, "lushun", "water_level_m", 1.0 + k / 100, 1, None, t))
    # Recent readings for relative ranges: six in the last hour before ``now_us``, one three days before.
    # Seeded with the time of the seeding, not of the module's import: with pytest -n (make test) a module
    # can start many minutes after the collection that imported it.
    for k in range(6):
        t = now_us - (k + 1) * 10 * MINUTE_US
        rows.append((t, "lushun", "battery_voltage_v", 12.0 + k / 10, 2, None, t))
    rows.append((now_us - 3 * 24 * HOUR_US, "lushun", "battery_voltage_v", 11.0, 2, None, now_us))
    return [(*row, False) for row in rows]  # first results, not corrections


INDICATOR_ROWS = [(DAY0_US + k * 6 * HOUR_US, "dalian", "msl_daily_m", 1.8 + k / 100, "m") for k in range(8)]
# Daily mean sea level at bayuquan, November 2023 … February 2024, for monthly indicator buckets.
INDICATOR_MONTH_ROWS = [
    (
        utc_us(2023, 11, 1) + k * 86_400_000_000,
        "bayuquan",
        "msl_daily_m",
        round(2.0 + np.sin(k / 9) / 5, 6),
        "m",
    )
    for k in range(121)
]
ALERTS = [
    # alert_id, station, rule, state, severity, opened, updated, resolved, value
    ("dalian/storm_surge_warning/1", "dalian", "storm_surge_warning", "resolved", "blue",
     DAY0_US, DAY0_US + HOUR_US, DAY0_US + HOUR_US, 1.0),
    ("liaodong-bay-buoy/hypoxia/2", "liaodong-bay-buoy", "hypoxia", "firing", "orange",
     DAY0_US + 2 * HOUR_US, DAY0_US + 3 * HOUR_US, None, 1.9),
    ("lushun/battery_low/3", "lushun", "battery_low", "pending", "yellow",
     DAY0_US + 30 * HOUR_US, DAY0_US + 30 * HOUR_US, None, 11.2),
]  # fmt: skip


async def _seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        await upsert_observations(conn, _rows(time.time_ns() // 1000))
        await conn.executemany(
            "INSERT INTO indicators (time, station_id, indicator, value, unit) "
            "VALUES (timestamptz 'epoch' + $1 * interval '1 microsecond', $2, $3, $4, $5)",
            INDICATOR_ROWS + INDICATOR_MONTH_ROWS,
        )
        ts = "timestamptz 'epoch' + {} * interval '1 microsecond'"
        for a in ALERTS:
            await conn.execute(
                f"INSERT INTO alerts (alert_id, station_id, rule, state, severity, opened_at, updated_at, "
                f"resolved_at, value, message_en, message_zh, last_seq) VALUES ($1, $2, $3, $4, $5, "
                f"{ts.format('$6::bigint')}, {ts.format('$7::bigint')}, {ts.format('$8::bigint')}, $9, "
                "'msg', '消息', 1)",
                *a,
            )
            for seq, kind in enumerate(["opened", "resolved"] if a[3] == "resolved" else ["opened"]):
                await conn.execute(
                    "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value, "
                    f"message_en, message_zh, channels) VALUES ($1, $2, $3, $4, $5, $6, "
                    f"{ts.format('$7::bigint')}, $8, 'msg', '消息', ARRAY['log', 'email'])",
                    a[0], seq, a[1], a[2], kind, a[4], a[5] + seq * HOUR_US, a[8],
                )  # fmt: skip
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    base = load_settings()
    name = f"tidewatch_api_{uuid.uuid4().hex[:8]}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}")
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    await _seed(settings.database_url)
    try:
        yield settings
    finally:
        await drop_database(settings.database_url)


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


def parse_iso_us(text: str) -> int:
    assert text.endswith("Z"), text
    parsed = dt.datetime.fromisoformat(text)
    return round(parsed.timestamp() * 1e6)


async def get_json(client: httpx.AsyncClient, url: str, status: int = 200) -> dict:
    response = await client.get(url)
    assert response.status_code == status, (url, response.text)
    return response.json()


def level_url(extra: str = "") -> str:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    return f"/api/v1/observations?station=dalian&variable=water_level_m&{span}{extra}"


# ---------------------------------------------------------------------------------------------------
# Documentation and catalogue


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    document = await get_json(client, "/openapi.json")
    paths = set(document["paths"])
    for path in ("/api/v1/stations", "/api/v1/observations", "/api/v1/observations/export", "/api/v1/alerts"):
        assert path in paths
    parameters = {p["name"] for p in document["paths"]["/api/v1/observations"]["get"]["parameters"]}
    assert {
        "station",
        "variable",
        "start",
        "end",
        "qc",
        "bucket",
        "agg",
        "format",
        "limit",
        "after",
    } <= parameters
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    health = await get_json(client, "/health")
    assert "date_bin" in health["database"]


async def test_station_catalogue_names_units_datums_and_reading_span(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    stations = (await get_json(client, "/api/v1/stations"))["stations"]
    assert {s["id"] for s in stations} == set(registry.stations)
    dalian = next(s for s in stations if s["id"] == "dalian")
    expected = registry.stations["dalian"]
    assert dalian["datum"] == {
        "name": expected.datum.name,
        "msl_above_datum_m": expected.datum.msl_above_datum_m,
        "datums": list(expected.datum.history.datums()),
        "levellings": levellings_document(expected.datum.history),
    }
    assert dalian["sampling_interval_s"] == expected.sampling_interval_s
    assert dalian["kind"] == "tide_gauge"
    units = {v["id"]: v["unit"] for v in dalian["variables"]}
    assert units == {v: registry.variables[v].unit for v in expected.variables}
    level = next(v for v in dalian["variables"] if v["id"] == "water_level_m")
    assert level["first_reading"] == iso(int(LEVEL_T[0]))
    assert level["last_reading"] == iso(int(LEVEL_T[-1]))
    assert dalian["first_reading"] == iso(DAY0_US) and dalian["last_reading"] == iso(int(LEVEL_T[-1]))
    never = next(s for s in stations if s["id"] == "yalu-estuary")
    assert never["first_reading"] is None and all(v["last_reading"] is None for v in never["variables"])
    one = await get_json(client, "/api/v1/stations/dalian")
    assert one == dalian
    buoys = (await get_json(client, "/api/v1/stations?kind=buoy"))["stations"]
    assert {s["kind"] for s in buoys} == {"buoy"} and len(buoys) == 3


async def test_geojson_is_valid_for_maps(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    response = await client.get("/api/v1/stations?format=geojson")
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(registry.stations)
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        station = registry.stations[feature["id"]]
        assert (lon, lat) == (station.longitude, station.latitude)  # RFC 7946: longitude first
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert feature["properties"]["id"] == feature["id"]
    single = await get_json(client, "/api/v1/stations/lushun?format=geojson")
    assert single["type"] == "Feature" and single["geometry"]["coordinates"] == [121.25, 38.8]


async def test_station_csv_has_one_row_per_station_and_variable(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    response = await client.get("/api/v1/stations?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == sum(len(s.variables) for s in registry.stations.values())
    row = next(r for r in rows if r["station_id"] == "dalian" and r["variable"] == "water_level_m")
    assert row["unit"] == "m" and row["first_reading"] == iso(DAY0_US)


async def test_variables_and_qc_flags_are_listed(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    variables = (await get_json(client, "/api/v1/variables"))["variables"]
    assert {v["id"]: v["unit"] for v in variables} == {k: v.unit for k, v in registry.variables.items()}
    flags = await get_json(client, "/api/v1/qc-flags")
    assert {f["flag"]: f["name"] for f in flags["flags"]} == QC_NAMES
    assert flags["sets"]["usable"] == ["good", "not_evaluated"]


# ---------------------------------------------------------------------------------------------------
# Raw readings, QC filters, formats, pagination


async def test_raw_readings_come_back_as_written_with_unit_and_flag_names(client: httpx.AsyncClient) -> None:
    body = await get_json(client, level_url("&limit=1000"))
    data = body["data"]
    assert len(data) == N_LEVEL and body["next"] is None
    assert [parse_iso_us(r["time"]) for r in data] == LEVEL_T.tolist()
    for row, value, flag in zip(data, LEVEL_V.tolist(), LEVEL_F.tolist(), strict=True):
        assert row["value"] == (None if flag == 9 else value)
        assert (row["qc_flag"], row["qc_flag_name"], row["unit"]) == (flag, QC_NAMES[flag], "m")
    assert body["meta"]["units"] == {"water_level_m": "m"}


@pytest.mark.parametrize(
    ("qc", "flags"),
    [("good", {1}), ("usable", {1, 2}), ("suspect,fail", {3, 4}), ("3,9", {3, 9}), ("all", {1, 2, 3, 4, 9})],
)
async def test_qc_filter_keeps_the_flags_asked_for(client: httpx.AsyncClient, qc: str, flags: set) -> None:
    data = (await get_json(client, level_url(f"&qc={qc}&limit=1000")))["data"]
    assert {r["qc_flag"] for r in data} == flags
    assert len(data) == int(np.isin(LEVEL_F, list(flags)).sum())


async def test_pages_follow_next_links_to_exactly_every_row(client: httpx.AsyncClient) -> None:
    url = f"/api/v1/observations?start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}&limit=50"
    everything = (await get_json(client, url.replace("limit=50", "limit=5000")))["data"]
    collected, pages = [], 0
    while url:
        response = await client.get(url)
        body = response.json()
        collected += body["data"]
        pages += 1
        assert len(body["data"]) <= 50
        if body["next"]:
            assert response.headers["link"] == f'<{body["next"]}>; rel="next"'
        url = body["next"]
    assert collected == everything
    assert pages == -(-len(everything) // 50)
    keys = [(r["station_id"], r["variable"], r["time"]) for r in collected]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    assert len(everything) == N_LEVEL + 3 * 24


async def test_every_page_format_parses_back_to_the_json_rows(client: httpx.AsyncClient) -> None:
    url = level_url("&limit=40&qc=all")
    data = (await get_json(client, url))["data"]
    as_csv = list(csv.DictReader(io.StringIO((await client.get(url + "&format=csv")).text)))
    assert [r["time"] for r in as_csv] == [r["time"] for r in data]
    assert [float(r["value"]) if r["value"] else None for r in as_csv] == [r["value"] for r in data]
    assert [(r["unit"], int(r["qc_flag"]), r["qc_flag_name"]) for r in as_csv] == [
        (r["unit"], r["qc_flag"], r["qc_flag_name"]) for r in data
    ]
    lines = (await client.get(url + "&format=ndjson")).text.splitlines()
    assert [json.loads(line) for line in lines] == data
    response = await client.get(url + "&format=parquet")
    assert response.headers["content-type"] == "application/vnd.apache.parquet"
    assert response.headers["link"]  # 288 rows, 40 per page
    table = pq.read_table(io.BytesIO(response.content))
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    times = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in table.column("time").to_pylist()]
    assert times == [r["time"] for r in data]
    assert table.column("value").to_pylist() == [r["value"] for r in data]
    meta = json.loads(table.schema.metadata[b"tidewatch"])
    assert meta["units"] == {"water_level_m": "m"}


@pytest.mark.parametrize("fmt", ["csv", "ndjson", "parquet"])
async def test_exports_stream_every_row(client: httpx.AsyncClient, fmt: str) -> None:
    app = client.app  # type: ignore[attr-defined]
    app.state.db.export_chunk_rows = 64  # several cursor fetches for 288 rows
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    response = await client.get(f"/api/v1/observations/export?station=dalian&{span}&format={fmt}")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    if fmt == "csv":
        rows = list(csv.DictReader(io.StringIO(response.text)))
    elif fmt == "ndjson":
        rows = [json.loads(line) for line in response.text.splitlines()]
    else:
        parquet = pq.ParquetFile(io.BytesIO(response.content))
        assert parquet.num_row_groups == -(-(N_LEVEL + 24) // 64)
        rows = parquet.read().to_pylist()
    assert len(rows) == N_LEVEL + 24
    assert [r["variable"] for r in rows] == ["water_level_m"] * N_LEVEL + ["water_temperature_degC"] * 24


async def test_export_body_leaves_in_chunks(client: httpx.AsyncClient) -> None:
    """Drive the ASGI app by hand: the response body arrives as many messages, one per cursor fetch."""
    app = client.app  # type: ignore[attr-defined]
    app.state.db.export_chunk_rows = 32
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    query = f"station=dalian&variable=water_level_m&{span}&format=csv".encode()
    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET",
        "scheme": "http", "path": "/api/v1/observations/export", "raw_path": b"/api/v1/observations/export",
        "query_string": query, "headers": [(b"host", b"api")], "server": ("api", 80), "client": ("t", 1),
        "root_path": "",
    }  # fmt: skip
    bodies: list[bytes] = []
    requested = asyncio.Event()

    async def receive() -> dict:
        if requested.is_set():  # the client stays connected until the response ends
            await asyncio.Event().wait()
        requested.set()
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            bodies.append(message["body"])

    await app(scope, receive, send)
    assert len(bodies) == 1 + N_LEVEL // 32  # header, then one message per fetch of 32 rows
    assert max(len(b) for b in bodies) < 4096
    assert sum(b.count(b"\n") for b in bodies) == N_LEVEL + 1


# ---------------------------------------------------------------------------------------------------
# Buckets and percentiles against numpy


@pytest.mark.parametrize(
    ("bucket", "width_us"), [("1h", HOUR_US), ("PT6H", 6 * HOUR_US), ("1d", 24 * HOUR_US)]
)
async def test_buckets_match_numpy(client: httpx.AsyncClient, bucket: str, width_us: int) -> None:
    body = await get_json(client, level_url(f"&bucket={bucket}&agg=mean,std,min,max,count,p10,median,p90"))
    expected = numpy_buckets(width_us, {1, 2}, [0.1, 0.9])  # default qc for buckets: usable
    assert body["meta"]["method"].startswith("date_bin")
    assert [r["time"] for r in body["data"]] == [e["time"] for e in expected]
    for got, want in zip(body["data"], expected, strict=True):
        assert got["count"] == want["count"]
        assert (got["unit"], got["qc_flags"]) == ("m", "good+not_evaluated")
        assert "p50" not in got  # median is named as asked
        for key in ("mean", "std", "min", "max", "p10", "median", "p90"):
            assert got[key] == pytest.approx(want[key], rel=1e-12), (got["time"], key)


async def test_bucket_qc_filter_and_widened_range(client: httpx.AsyncClient) -> None:
    # A range starting mid-bucket grows to whole 6-hour buckets: the first bucket is complete.
    start = DAY0_US + 7 * HOUR_US + 20 * MINUTE_US
    url = (
        f"/api/v1/observations?station=dalian&variable=water_level_m&start={iso(start)}"
        f"&end={iso(DAY0_US + 13 * HOUR_US)}&bucket=6h&agg=count,max&qc=good"
    )
    body = await get_json(client, url)
    expected = [
        e
        for e in numpy_buckets(6 * HOUR_US, {1}, [])
        if e["time"] in (iso(DAY0_US + 6 * HOUR_US), iso(DAY0_US + 12 * HOUR_US))
    ]
    assert body["meta"]["start"] == iso(DAY0_US + 6 * HOUR_US) and body["meta"]["end"] == iso(
        DAY0_US + 18 * HOUR_US
    )
    assert [(r["time"], r["count"]) for r in body["data"]] == [(e["time"], e["count"]) for e in expected]
    assert [r["max"] for r in body["data"]] == pytest.approx([e["max"] for e in expected])
    assert set(body["data"][0]) == {"time", "station_id", "variable", "unit", "count", "max", "qc_flags"}


async def test_bucket_pages_and_export_agree(client: httpx.AsyncClient) -> None:
    url = level_url("&bucket=1h&agg=mean,p95&limit=7")
    collected = []
    while url:
        body = await get_json(client, url)
        collected += body["data"]
        url = body["next"]
    assert len(collected) == 48
    export = await client.get(
        level_url("&bucket=1h&agg=mean,p95").replace("/observations?", "/observations/export?")
        + "&format=ndjson"
    )
    assert [json.loads(line) for line in export.text.splitlines()] == collected


# ---------------------------------------------------------------------------------------------------
# Calendar buckets: UTC months, quarters and years against numpy's datetime64 months


def month_url(bucket: str, extra: str = "", path: str = "/api/v1/observations") -> str:
    span = f"start={iso(MONTHS_START_US)}&end={iso(MONTHS_END_US)}"
    return f"{path}?station=bayuquan&variable=water_level_m&{span}&bucket={bucket}{extra}"


@pytest.mark.parametrize(
    ("bucket", "months", "widened"),
    [
        ("1mo", 1, ((2023, 10, 1), (2024, 3, 1))),
        ("P1M", 1, ((2023, 10, 1), (2024, 3, 1))),
        ("3mo", 3, ((2023, 10, 1), (2024, 4, 1))),  # quarters start in January, April, July, October
        ("2months", 2, ((2023, 9, 1), (2024, 3, 1))),  # counted from January 2000: Sep–Oct, Nov–Dec …
        ("1y", 12, ((2023, 1, 1), (2025, 1, 1))),  # longer than the range: widened to whole years
    ],
)
async def test_calendar_buckets_match_numpy(
    client: httpx.AsyncClient, bucket: str, months: int, widened: tuple
) -> None:
    response = await client.get(month_url(bucket, "&agg=mean,std,min,max,count,p10,median,p90&qc=all"))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = numpy_month_buckets(months, {1, 2, 3, 4, 9}, [0.1, 0.5, 0.9])
    assert response.headers["x-tidewatch-method"] == "calendar_months"
    assert (body["meta"]["start"], body["meta"]["end"]) == (
        iso(utc_us(*widened[0])),
        iso(utc_us(*widened[1])),
    )
    assert (
        body["meta"]["bucket"]["months"] == months
        and body["meta"]["bucket"]["origin"] == "2000-01-01T00:00:00Z"
    )
    assert [r["time"] for r in body["data"]] == [e["time"] for e in expected]
    assert all(r["time"].endswith("-01T00:00:00Z") for r in body["data"])  # UTC month starts
    for got, want in zip(body["data"], expected, strict=True):
        assert got["count"] == want["count"] and got["unit"] == "m"
        assert "p50" not in got  # median is named as asked
        for key in ("mean", "std", "min", "max", "p10", "median", "p90"):
            assert got[key] == pytest.approx(want[key], rel=1e-12), (got["time"], key)


async def test_monthly_counts_follow_the_qc_filter_and_month_edges(client: httpx.AsyncClient) -> None:
    usable = (await get_json(client, month_url("1mo", "&agg=count,max")))["data"]  # the default for buckets
    expected = numpy_month_buckets(1, {1, 2}, [])
    assert [(r["time"], r["count"]) for r in usable] == [(e["time"], e["count"]) for e in expected]
    assert [r["max"] for r in usable] == pytest.approx([e["max"] for e in expected], rel=1e-12)
    # The last microsecond of December and of February (a leap day) count in their own month.
    edges = np.isin(MONTH_T, [utc_us(2024, 1, 1) - 1, utc_us(2024, 3, 1) - 1])
    assert edges.sum() == 2 and (MONTH_F[edges] != 9).all()
    every_flag = (await get_json(client, month_url("1mo", "&agg=count&qc=all")))["data"]
    counts, times = {r["time"]: r["count"] for r in every_flag}, MONTH_T
    for first, after in [
        ((2023, 12, 1), (2024, 1, 1)),
        ((2024, 1, 1), (2024, 2, 1)),
        ((2024, 2, 1), (2024, 3, 1)),
    ]:
        inside = (times >= utc_us(*first)) & (times < utc_us(*after)) & (MONTH_F != 9)
        assert counts[iso(utc_us(*first))] == int(inside.sum()), first


async def test_calendar_bucket_pages_and_exports_agree(client: httpx.AsyncClient) -> None:
    whole = (await get_json(client, month_url("1mo", "&agg=mean,count,p95&limit=1000")))["data"]
    assert len(whole) == 5
    url, collected, pages = month_url("1mo", "&agg=mean,count,p95&limit=2"), [], 0
    while url:
        response = await client.get(url)
        body = response.json()
        collected += body["data"]
        pages += 1
        if body["next"]:
            following = httpx.URL(body["next"])
            assert following.params["start"] == "2023-10-01T00:00:00Z"  # the widened range, frozen
            assert following.params["bucket"] == "1mo"
        url = body["next"]
    assert collected == whole and pages == 3
    export = await client.get(
        month_url("1mo", "&agg=mean,count,p95&format=ndjson", "/api/v1/observations/export")
    )
    assert [json.loads(line) for line in export.text.splitlines()] == whole


async def test_calendar_bucket_csv_and_parquet_exports(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    app.state.db.export_chunk_rows = 2  # five monthly buckets in three cursor fetches
    expected = numpy_month_buckets(1, {1, 2}, [0.9])
    export = "/api/v1/observations/export"
    response = await client.get(month_url("1mo", "&agg=mean,count,p90&format=csv", export))
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["time"], int(r["count"]), r["qc_flags"]) for r in rows] == [
        (e["time"], e["count"], "good+not_evaluated") for e in expected
    ]
    assert [float(r["mean"]) for r in rows] == pytest.approx([e["mean"] for e in expected], rel=1e-12)
    assert [float(r["p90"]) for r in rows] == pytest.approx([e["p90"] for e in expected], rel=1e-12)
    response = await client.get(month_url("3mo", "&agg=mean,count&format=parquet", export))
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    assert parquet.num_row_groups == 1  # two quarters, one fetch
    table = parquet.read()
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    quarters = numpy_month_buckets(3, {1, 2}, [])
    times = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in table.column("time").to_pylist()]
    assert times == [q["time"] for q in quarters] == ["2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z"]
    assert table.column("count").to_pylist() == [q["count"] for q in quarters]
    assert table.column("mean").to_pylist() == pytest.approx([q["mean"] for q in quarters], rel=1e-12)
    meta = json.loads(table.schema.metadata[b"tidewatch"])
    assert meta["bucket"]["months"] == 3 and meta["method"].startswith("UTC calendar months")


async def test_indicators_in_monthly_buckets(client: httpx.AsyncClient) -> None:
    span = f"start={iso(utc_us(2023, 11, 1))}&end={iso(utc_us(2024, 3, 1))}"
    url = f"/api/v1/indicators?station=bayuquan&indicator=msl_daily_m&{span}&bucket=1mo&agg=mean,count,median"
    data = (await get_json(client, url))["data"]
    times = np.array([r[0] for r in INDICATOR_MONTH_ROWS])
    values = np.array([r[3] for r in INDICATOR_MONTH_ROWS])
    expected = numpy_aggregates(
        numpy_month_starts(times, 1), values, np.ones(len(values), int), {1}, [0.5], None
    )
    assert [(r["time"], r["count"], r["unit"]) for r in data] == [
        (e["time"], e["count"], "m") for e in expected
    ]
    assert [r["count"] for r in data] == [30, 31, 31, 29]  # November … February of a leap year
    assert [r["mean"] for r in data] == pytest.approx([e["mean"] for e in expected], rel=1e-12)
    assert [r["median"] for r in data] == pytest.approx([e["median"] for e in expected], rel=1e-12)
    export = url.replace("/indicators?", "/indicators/export?").replace("bucket=1mo", "bucket=1y")
    lines = (await client.get(export + "&format=ndjson")).text.splitlines()
    years = numpy_aggregates(
        numpy_month_starts(times, 12), values, np.ones(len(values), int), {1}, [0.5], None
    )
    assert [(r["time"], r["count"]) for r in map(json.loads, lines)] == [
        (e["time"], e["count"]) for e in years
    ]
    assert [e["time"] for e in years] == ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]


# ---------------------------------------------------------------------------------------------------
# Relative ranges


async def test_relative_ranges_and_frozen_next_links(client: httpx.AsyncClient) -> None:
    base = "/api/v1/observations?station=lushun&variable=battery_voltage_v"
    recent = (await get_json(client, base + "&start=-1d"))["data"]
    assert len(recent) == 6
    assert (await get_json(client, base + "&start=now-P4D&end=now"))["meta"]["rows"] == 7
    assert len((await get_json(client, base + "&start=-35min"))["data"]) == 3
    body = await get_json(client, base + "&start=-2h&limit=2")
    start_us = parse_iso_us(body["meta"]["start"].split(".")[0] + "Z")
    assert abs(start_us - (time.time_ns() // 1000 - 2 * HOUR_US)) < 60_000_000
    next_url = httpx.URL(body["next"])
    assert next_url.params["start"] == body["meta"]["start"]  # absolute: the window does not move
    assert next_url.params["end"] == body["meta"]["end"]
    rest = await get_json(client, body["next"].replace("http://api", ""))
    assert len(rest["data"]) == 2 and rest["data"][0]["time"] > body["data"][-1]["time"]


# ---------------------------------------------------------------------------------------------------
# Indicators and alerts


async def test_indicators_raw_buckets_and_catalogue(client: httpx.AsyncClient) -> None:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    raw = (await get_json(client, f"/api/v1/indicators?station=dalian&indicator=msl_daily_m&{span}"))["data"]
    assert [(parse_iso_us(r["time"]), r["value"], r["unit"]) for r in raw] == [
        (t, v, u) for t, _, _, v, u in INDICATOR_ROWS
    ]
    daily = (await get_json(client, f"/api/v1/indicators?{span}&bucket=1d&agg=mean,count"))["data"]
    values = np.array([r[3] for r in INDICATOR_ROWS])
    assert [(r["count"], r["unit"]) for r in daily] == [(4, "m"), (4, "m")]
    assert [r["mean"] for r in daily] == pytest.approx([values[:4].mean(), values[4:].mean()])
    # The catalogue is the one the migration mirrored from the indicator packages.
    catalogue = {c["id"]: c for c in (await get_json(client, "/api/v1/indicators/catalogue"))["indicators"]}
    assert catalogue["msl_daily_m"]["unit"] == "m" and catalogue["do_saturation_pct"]["unit"] == "%"
    refused = await get_json(client, "/api/v1/indicators?indicator=sea_monster_index", 400)
    assert "sea_monster_index" in refused["error"]["message"]
    assert (await get_json(client, "/api/v1/indicators?qc=good", 400))["error"]["message"].startswith("qc:")
    csv_text = (await client.get(f"/api/v1/indicators/export?{span}")).text
    assert len(list(csv.DictReader(io.StringIO(csv_text)))) == len(INDICATOR_ROWS)


async def test_alert_values_of_rules_over_any_variable_are_null(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    """Issue 14: a resolved station_silent alert listed 12.54 with no unit (the value of whichever
    reading ended the silence): a number of an unnamed variable is listed as null."""
    when = utc_us(2022, 5, 1)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,"
            " message_en, message_zh, channels) VALUES ('huludao/station_silent/1', 0, 'huludao',"
            " 'station_silent', 'resolved', 'yellow', timestamptz 'epoch' + $1 * interval '1 microsecond',"
            " 12.54, 'm', '消息', ARRAY['webhook'])",
            when,
        )
    finally:
        await conn.close()
    body = await get_json(client, f"/api/v1/alerts/events?start={iso(when)}&end={iso(when + HOUR_US)}")
    assert [(e["rule"], e["value"], e["value_unit"]) for e in body["data"]] == [
        ("station_silent", None, None)
    ]
    assert "null for rules over any variable" in body["meta"]["value"]


async def test_alert_events_carry_the_state_they_leave(settings: Settings, client: httpx.AsyncClient) -> None:
    """The engine's own events, stored as the worker stores them: a hypoxia alert fires on a reading QC
    later fails, and the `corrected` event puts it back to pending, which its kind does not say; each
    event is listed with the state it leaves the alert in (JSON and CSV)."""
    events = corrected_evening(new_engine())
    conn = await asyncpg.connect(settings.database_url)
    try:
        await store_alert_events(conn, events)
    finally:
        await conn.close()
    span = f"start={iso(at(0))}&end={iso(at(180))}&station={STATION}"
    listed = (await get_json(client, f"/api/v1/alerts/events?{span}"))["data"]
    assert [(e["kind"], e["state"]) for e in listed] == [
        ("pending", "pending"),
        ("firing", "firing"),
        ("corrected", "pending"),
        ("firing", "firing"),
        ("resolved", "resolved"),
    ]
    rows = list(
        csv.DictReader(io.StringIO((await client.get(f"/api/v1/alerts/events?{span}&format=csv")).text))
    )
    assert [r["state"] for r in rows] == ["pending", "firing", "pending", "firing", "resolved"]
    # An event stored before alert_events kept the state (the seeded ones here) lists it as null.
    old = await get_json(client, f"/api/v1/alerts/events?start={iso(DAY0_US)}&end={iso(DAY0_US + HOUR_US)}")
    assert [(e["kind"], e["state"]) for e in old["data"]] == [("opened", None)]


async def test_alerts_filters_units_and_pages(client: httpx.AsyncClient) -> None:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    data = (await get_json(client, f"/api/v1/alerts?{span}"))["data"]
    assert [a["alert_id"] for a in data] == [a[0] for a in ALERTS]
    hypoxia = data[1]
    assert (hypoxia["state"], hypoxia["value"], hypoxia["value_unit"]) == ("firing", 1.9, "mg L-1")
    assert hypoxia["opened_at"] == iso(DAY0_US + 2 * HOUR_US) and hypoxia["resolved_at"] is None
    firing = (await get_json(client, f"/api/v1/alerts?{span}&state=firing,pending"))["data"]
    assert [a["station_id"] for a in firing] == ["liaodong-bay-buoy", "lushun"]
    # An alert resolved before the range starts is not active in it; open ones still are.
    later = (
        await get_json(
            client, f"/api/v1/alerts?start={iso(DAY0_US + 10 * HOUR_US)}&end={iso(DAY0_US + 40 * HOUR_US)}"
        )
    )["data"]
    assert [a["alert_id"] for a in later] == [ALERTS[1][0], ALERTS[2][0]]
    first = await get_json(client, f"/api/v1/alerts?{span}&limit=2")
    second = await get_json(client, first["next"].replace("http://api", ""))
    assert [a["alert_id"] for a in first["data"] + second["data"]] == [a[0] for a in ALERTS]
    events = (await get_json(client, f"/api/v1/alerts/events?{span}&station=dalian"))["data"]
    assert [(e["kind"], e["seq"]) for e in events] == [("opened", 0), ("resolved", 1)]
    assert events[0]["channels"] == ["log", "email"]
    rows = list(
        csv.DictReader(io.StringIO((await client.get(f"/api/v1/alerts/events?{span}&format=csv")).text))
    )
    assert len(rows) == 4 and rows[0]["channels"] == "log;email"
    await get_json(client, f"/api/v1/alerts?{span}&state=burning", 400)


# ---------------------------------------------------------------------------------------------------
# Refusals and injection attempts


@pytest.mark.parametrize(
    ("query", "status", "words"),
    [
        ("station=atlantis", 400, "station: unknown station 'atlantis'"),
        ("variable=unobtainium_kg", 400, "variable: unknown variable"),
        ("station=dalian&variable=salinity_psu", 400, "variable: no chosen station measures"),
        ("start=2024-03-02&end=2024-03-01", 400, "is not before end"),
        ("start=2024-03-01&end=2024-03-01", 400, "is not before end"),
        ("start=yesterday-ish", 400, "start: cannot read"),
        ("bucket=0s", 400, "bucket:"),
        ("bucket=-1h", 400, "bucket:"),
        ("bucket=400d", 400, "outside 1 s"),
        ("bucket=1.5s", 400, "whole number of seconds"),
        ("bucket=1m", 400, "ambiguous; write 1min for minutes or 1mo for months"),
        ("bucket=0mo", 400, "outside 1 month … 10 years"),
        ("bucket=11y", 400, "outside 1 month … 10 years"),
        ("bucket=1.5mo", 400, "calendar buckets are whole months or years"),
        ("bucket=P1M15D", 400, "mixes calendar months or years with days or hours"),
        ("start=-1mo", 400, "no fixed length"),
        ("bucket=1mo&agg=p200", 400, "agg: unknown aggregate"),
        ("bucket=fortnightly", 400, "bucket: cannot read"),
        ("bucket=1h&agg=mode", 400, "agg: unknown aggregate"),
        ("bucket=1h&agg=p101", 400, "agg: unknown aggregate"),
        ("agg=mean", 400, "need a bucket"),
        ("format=xlsx", 400, "format: unknown format"),
        ("limit=0", 400, "limit:"),
        ("limit=1000001", 400, "limit:"),
        ("limit=many", 400, "limit:"),
        ("after=bm90LWEtY3Vyc29y", 400, "after: not a cursor"),
        ("qc=excellent", 400, "qc: unknown"),
    ],
)
async def test_bad_requests_get_a_clear_4xx(
    client: httpx.AsyncClient, query: str, status: int, words: str
) -> None:
    body = await get_json(client, f"/api/v1/observations?{query}", status)
    assert body["error"]["status"] == status
    assert words in body["error"]["message"]


async def test_export_refuses_a_page_format(client: httpx.AsyncClient) -> None:
    body = await get_json(client, "/api/v1/observations/export?format=json", 400)
    assert "csv, parquet, ndjson" in body["error"]["message"]


INJECTIONS = [
    "dalian'; DROP TABLE observations; --",
    "dalian' OR '1'='1",
    'dalian"); DELETE FROM stations; --',
]


@pytest.mark.parametrize("attack", INJECTIONS)
async def test_sql_injection_attempts_change_nothing(
    client: httpx.AsyncClient, settings: Settings, attack: str
) -> None:
    quoted = urllib.parse.quote(attack, safe="")
    for url, status in [
        (f"/api/v1/observations?station={quoted}", 400),
        (f"/api/v1/observations?station=dalian&variable={quoted}", 400),
        (f"/api/v1/observations?start={quoted}", 400),
        (f"/api/v1/observations?bucket={quoted}", 400),
        (f"/api/v1/observations?bucket=1h&agg={quoted}", 400),
        (f"/api/v1/observations?qc={quoted}", 400),
        (f"/api/v1/observations?format={quoted}", 400),
        (f"/api/v1/alerts?rule={quoted}", 200),
        (f"/api/v1/alerts?severity={quoted}", 200),
        (f"/api/v1/stations/{quoted}", 404),
    ]:
        response = await client.get(url)
        assert response.status_code == status, (url, response.text)
    # A well-formed cursor carrying the attack is only a bind value: no rows, no harm.
    cursor = encode_cursor((attack, attack, DAY0_US))
    body = await get_json(client, level_url(f"&after={cursor}"))
    assert body["data"] == []
    conn = await asyncpg.connect(settings.database_url)
    try:
        assert await conn.fetchval("SELECT count(*) FROM observations") == len(_rows(time.time_ns() // 1000))
        assert await conn.fetchval("SELECT count(*) FROM stations") == len(load_registry().stations)
    finally:
        await conn.close()


# ---------------------------------------------------------------------------------------------------
# `tidewatch query` against the API served by uvicorn on a free port


@pytest.fixture(scope="module")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, port, stop))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                if (await http.get(url + "/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await task


async def cli(base_url: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    query_cli.add_arguments(parser)
    args = parser.parse_args([*argv, "--base-url", base_url])
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return query_cli.main(args, load_settings())

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


async def test_query_cli_prints_tables_csv_and_json(base_url: str) -> None:
    code, out, _ = await cli(base_url, "stations", "-s", "dalian")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["station_id", "name", "kind"]
    assert set(lines[1]) <= {"-", " "} and len(lines) == 2 + 4  # header, rule, dalian's 4 variables
    span = ["--start", iso(DAY0_US), "--end", iso(DAY0_US + 2 * 86_400_000_000)]
    code, out, _ = await cli(
        base_url, "observations", "-s", "dalian", "-V", "water_level_m", *span, "-o", "csv", "--limit", "5"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5 and rows[0]["unit"] == "m" and rows[0]["time"] == iso(DAY0_US)
    code, out, _ = await cli(base_url, "observations", "-s", "dalian", *span, "-o", "csv", "--all")
    assert len(list(csv.DictReader(io.StringIO(out)))) == N_LEVEL + 24
    code, out, _ = await cli(
        base_url, "observations", "-s", "dalian", "-V", "water_level_m", *span, "--limit", "100", "--all"
    )
    assert len(out.splitlines()) == 2 + N_LEVEL  # table: pages followed through next links
    code, out, _ = await cli(
        base_url, "observations", "-s", "lushun", "-V", "battery_voltage_v", "--last", "1d", "-o", "json"
    )
    assert len(json.loads(out)["data"]) == 6
    code, out, _ = await cli(
        base_url,
        "observations",
        "-s",
        "dalian",
        "-V",
        "water_level_m",
        *span,
        "--bucket",
        "1d",
        "--agg",
        "mean,p90",
    )
    assert [line.split()[:2] for line in out.splitlines()[2:]] == [
        [iso(DAY0_US), "dalian"],
        [iso(DAY0_US + 86_400_000_000), "dalian"],
    ]
    code, out, _ = await cli(base_url, "alerts", "--state", "firing", *span)
    assert code == 0 and "liaodong-bay-buoy" in out and "lushun/" not in out
    code, out, _ = await cli(base_url, "stations", "-o", "geojson")
    assert json.loads(out)["type"] == "FeatureCollection"


async def test_query_cli_calendar_buckets(base_url: str) -> None:
    span = ["--start", iso(MONTHS_START_US), "--end", iso(MONTHS_END_US)]
    argv = ["observations", "-s", "bayuquan", "-V", "water_level_m", *span, "--agg", "mean,count,p90"]
    code, out, _ = await cli(base_url, *argv, "--bucket", "3mo", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    quarters = numpy_month_buckets(3, {1, 2}, [0.9])
    assert code == 0 and [(r["time"], int(r["count"])) for r in rows] == [
        (q["time"], q["count"]) for q in quarters
    ]
    assert [float(r["p90"]) for r in rows] == pytest.approx([q["p90"] for q in quarters], rel=1e-12)
    # Every month through the streamed export, and through next links page by page: the same months.
    months = [m["time"] for m in numpy_month_buckets(1, {1, 2}, [])]
    code, streamed, _ = await cli(base_url, *argv, "--bucket", "1mo", "--all")
    assert code == 0 and [line.split()[0] for line in streamed.splitlines()[2:]] == months
    code, paged, _ = await cli(base_url, *argv, "--bucket", "1mo", "--limit", "2", "--all", "-o", "json")
    pages = [json.loads(page) for page in re.split(r"(?m)^(?=\{)", paged) if page]  # one document a page
    assert code == 0 and len(pages) == 3 and [r["time"] for p in pages for r in p["data"]] == months
    code, _, err = await cli(base_url, *argv, "--bucket", "1m")
    assert code == 2 and "400: bucket: '1m' is ambiguous" in err


async def test_query_cli_reports_api_refusals(base_url: str) -> None:
    code, out, err = await cli(base_url, "observations", "-s", "atlantis")
    assert code == 2 and out == ""
    assert "400: station: unknown station 'atlantis'" in err
    code, out, _ = await cli(base_url, "observations", "-s", "dalian", "--bucket", "1h", "--url")
    assert code == 0 and out.strip() == f"{base_url}/api/v1/observations?station=dalian&bucket=1h&format=csv"
    code, _, err = await cli("http://127.0.0.1:9", "stations")
    assert code == 2 and "cannot reach the API" in err
    code, out, _ = await cli(base_url, "observations", "-s", "lushun", "--datum", "chart", "--url")
    assert code == 0 and out.strip().endswith("?station=lushun&datum=chart&format=csv")
    code, _, err = await cli(base_url, "indicators", "--datum", "chart")
    assert code == 2 and "--datum is for observations" in err


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/observations?stations=yingkou", "stations"),
        ("/api/v1/stations?colour=blue", "colour"),
        ("/api/v1/alerts?station=dalian&sevrity=red", "sevrity"),
        ("/health?verbose=1", "verbose"),
    ],
)
async def test_unknown_query_parameters_are_refused_by_name(
    client: httpx.AsyncClient, path: str, parameter: str
) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["status"] == 400 and repr(parameter) in error["message"], error


async def test_unknown_routes_and_methods_answer_in_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing")
    assert response.status_code == 404
    assert (
        response.json()["error"]["status"] == 404 and "/api/v1/nothing" in response.json()["error"]["message"]
    )
    response = await client.post("/api/v1/stations")
    assert response.status_code == 405 and response.json()["error"]["status"] == 405


async def test_health_reports_kafka(settings: Settings) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        for kafka_url, reachable in ((f"kafka://127.0.0.1:{port}", True), ("kafka://127.0.0.1:1", False)):
            app = create_app(settings.with_(kafka_url=kafka_url))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
                body = (await c.get("/health")).json()
            await app.state.db.close()
            assert body["kafka"]["address"] == kafka_url.removeprefix("kafka://")
            assert body["kafka"]["reachable"] is reachable
            assert body["status"] == ("ok" if reachable else "degraded")


async def test_query_cli_into_head_ends_quietly(base_url: str) -> None:
    """``tidewatch query … | head`` closes the pipe early: no BrokenPipeError, exit status 0."""
    command = (
        f"{sys.executable} -m services.cli query --base-url {base_url} observations -s dalian "
        f"-V water_level_m --start {iso(DAY0_US)} --end {iso(DAY0_US + 2 * 86_400_000_000)} "
        "--limit 5 --all -o json | head -2"
    )
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60
    )
    assert len(done.stdout.splitlines()) == 2
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
