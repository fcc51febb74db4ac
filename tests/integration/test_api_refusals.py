"""The HTTP API's refusals: bad query values, unknown parameters, routes and methods answer 4xx in one
error shape, and SQL injection attempts change nothing (the seeded database: tests/support/api_seeded.py).
"""

from __future__ import annotations

import time
import urllib.parse

import asyncpg
import httpx
import pytest

from schemas.registry import load_registry
from services.api.params import encode_cursor
from services.config import Settings
from tests.support import api_seeded
from tests.support.api_seeded import get_json, level_url, observation_rows
from tests.support.api_series import DAY0_US

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


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
        assert await conn.fetchval("SELECT count(*) FROM observations") == len(
            observation_rows(time.time_ns() // 1000)
        )
        assert await conn.fetchval("SELECT count(*) FROM stations") == len(load_registry().stations)
    finally:
        await conn.close()


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
