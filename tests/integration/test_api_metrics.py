"""The API's Prometheus metrics, scraped from `tidewatch api` served by uvicorn against a fresh database:
requests by route template (never the raw path), latency, in-flight requests, export rows, the pool."""

from __future__ import annotations

import asyncio
import csv
import io
import uuid

import asyncpg
import httpx
import pytest

from services.api import metrics
from services.db.writers import prepare_connection, upsert_observations
from tests.support.alert_io import database  # noqa: F401  (fixture)
from tests.support.api_server import Samples, running_api, scrape, value

pytestmark = pytest.mark.integration

REQUESTS = "tidewatch_api_requests_total"
SECONDS_COUNT = "tidewatch_api_request_duration_seconds_count"
EXPORT_ROWS = "tidewatch_api_export_rows_total"
IN_FLIGHT = "tidewatch_api_requests_in_flight"
STATION_ROUTE = "/api/v1/stations/{station_id}"
DAY0_US = 1_709_251_200_000_000  # 2024-03-01T00:00Z
MINUTE_US = 60_000_000


async def settled_scrape(http: httpx.AsyncClient, url: str, before: Samples) -> Samples:
    """A scrape once every request since ``before`` is recorded: a client has its last byte a moment
    before the server has finished the request (and counted it)."""
    for _ in range(100):
        samples = await scrape(http, url)
        if value(samples, IN_FLIGHT) == value(before, IN_FLIGHT):
            return samples
        await asyncio.sleep(0.05)
    raise AssertionError("requests still in flight after 5 s")


def delta(after: Samples, before: Samples, name: str, **labels: str) -> float:
    """The increase of one series; a series first created by these requests (a 405) was 0 before."""
    return value(after, name, **labels) - before.get((name, frozenset(labels.items())), 0.0)


async def test_requests_are_counted_by_route_template_method_and_status(database) -> None:  # noqa: F811
    unknown_path = f"/no/such/page-{uuid.uuid4().hex}"
    async with running_api(database.settings) as api, httpx.AsyncClient() as http:
        before = await scrape(http, api.url)
        paths = (await http.get(api.url + "/openapi.json")).json()["paths"]
        # Every documented route (and the console's) has its series from the start, before any request.
        for route in [*paths, "/console/api/meta", "/docs", "unmatched"]:
            assert (SECONDS_COUNT, frozenset({("route", route)})) in before, route
            for status in metrics.STATUS_CLASSES:
                labels = frozenset({("route", route), ("method", "GET"), ("status", status)})
                assert (REQUESTS, labels) in before

        statuses = [
            (await http.get(api.url + path)).status_code
            for path in ("/api/v1/stations/dalian", "/api/v1/stations/lushun", "/api/v1/stations/atlantis")
        ]
        statuses.append((await http.get(api.url + unknown_path)).status_code)
        statuses.append((await http.post(api.url + "/api/v1/qc-flags")).status_code)
        statuses.append((await http.get(api.url + "/console/api/meta")).status_code)
        statuses.append((await http.get(api.url + "/console/static/console.js")).status_code)
        assert statuses == [200, 200, 404, 404, 405, 200, 200]
        after = await settled_scrape(http, api.url, before)

    assert delta(after, before, REQUESTS, route=STATION_ROUTE, method="GET", status="2xx") == 2
    assert delta(after, before, REQUESTS, route=STATION_ROUTE, method="GET", status="4xx") == 1
    assert delta(after, before, SECONDS_COUNT, route=STATION_ROUTE) == 3
    assert delta(after, before, "tidewatch_api_request_duration_seconds_sum", route=STATION_ROUTE) > 0
    assert delta(after, before, REQUESTS, route="unmatched", method="GET", status="4xx") == 1
    assert delta(after, before, REQUESTS, route="/api/v1/qc-flags", method="POST", status="4xx") == 1
    assert delta(after, before, REQUESTS, route="/console/api/meta", method="GET", status="2xx") == 1
    assert delta(after, before, REQUESTS, route="/console/static", method="GET", status="2xx") == 1
    # Bounded: no label carries a raw path or a station id.
    labels = {v for _, label_set in after for _, v in label_set}
    assert not {"dalian", "atlantis", unknown_path, "/console/static/console.js"} & labels
    assert not any("page-" in label for label in labels)


async def _seed_levels(url: str, count: int) -> None:
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        rows = [
            (DAY0_US + k * MINUTE_US, "dalian", "water_level_m", 1.5 + k / 10_000, 1, None, DAY0_US, False)
            for k in range(count)
        ]
        await upsert_observations(conn, rows)
    finally:
        await conn.close()


async def test_export_rows_are_counted_per_endpoint_and_format(database) -> None:  # noqa: F811
    readings = 2_345
    await _seed_levels(database.url, readings)
    route = "/api/v1/observations/export"
    span = "start=2024-03-01T00:00:00Z&end=2024-03-03T00:00:00Z"
    query = f"{route}?station=dalian&variable=water_level_m&{span}"
    async with running_api(database.settings) as api, httpx.AsyncClient(timeout=30) as http:
        api.app.state.db.export_chunk_rows = 500  # several chunks per export
        before = await scrape(http, api.url)
        csv_body = (await http.get(f"{api.url}{query}&format=csv")).text
        ndjson_body = (await http.get(f"{api.url}{query}&format=ndjson")).text
        after = await settled_scrape(http, api.url, before)

    csv_rows = len(list(csv.DictReader(io.StringIO(csv_body))))
    assert csv_rows == readings == len(ndjson_body.splitlines())
    assert delta(after, before, EXPORT_ROWS, route=route, format="csv") == csv_rows
    assert delta(after, before, EXPORT_ROWS, route=route, format="ndjson") == readings
    assert delta(after, before, EXPORT_ROWS, route=route, format="parquet") == 0
    assert delta(after, before, EXPORT_ROWS, route="/api/v1/indicators/export", format="csv") == 0
    pool_open = value(after, "tidewatch_api_db_pool_connections")
    pool_in_use = value(after, "tidewatch_api_db_pool_in_use_connections")
    pool_max = value(after, "tidewatch_api_db_pool_max_connections")
    assert 1 <= pool_open <= pool_max and 0 <= pool_in_use <= pool_open
    assert pool_max >= api.app.state.db.max_connections


async def test_in_flight_counts_an_open_live_feed_but_not_the_scrape(database) -> None:  # noqa: F811
    async with running_api(database.settings) as api, httpx.AsyncClient(timeout=30) as http:
        before = await scrape(http, api.url)
        async with http.stream("GET", api.url + "/console/api/events") as feed:
            lines = feed.aiter_lines()
            assert (await anext(lines)).startswith("retry:")
            during = await scrape(http, api.url)
        after = await settled_scrape(http, api.url, before)  # the server notices the closed feed
    assert delta(during, before, IN_FLIGHT) == 1
    assert delta(after, before, IN_FLIGHT) == 0
    assert delta(after, before, REQUESTS, route="/console/api/events", method="GET", status="2xx") == 1


async def test_metrics_carry_no_created_series(database) -> None:  # noqa: F811
    """A ``_created`` series per counter doubled the scrape for nothing a dashboard reads."""
    async with running_api(database.settings) as api, httpx.AsyncClient() as http:
        await http.get(api.url + "/health")
        text = (await http.get(api.url + "/metrics")).text
    assert "tidewatch_api_requests_total" in text
    assert [line for line in text.splitlines() if "_created" in line] == []
