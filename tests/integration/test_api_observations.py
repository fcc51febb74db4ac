"""`/api/v1/observations` and its export against the real PostgreSQL: raw readings, QC filters, every page
format, pagination, streamed exports and relative ranges (the seeded database: tests/support/api_seeded.py).
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import time

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import api_seeded
from tests.support.api_seeded import QC_NAMES, get_json, level_url, parse_iso_us
from tests.support.api_series import DAY0_US, HOUR_US, LEVEL_F, LEVEL_T, LEVEL_V, N_LEVEL, iso

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


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
