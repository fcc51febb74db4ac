"""The API's metrics middleware on a small FastAPI app: failures count as 5xx, including an export that
breaks off after its 200 has started, and requests are labelled by template whatever the raw path."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI
from fastapi.responses import StreamingResponse
from prometheus_client import REGISTRY

from services.api import metrics


def _app() -> FastAPI:
    app = FastAPI()

    @app.get("/items/{item_id}")
    async def item(item_id: str) -> dict[str, str]:
        if item_id == "boom":
            raise RuntimeError("a bug")
        return {"id": item_id}

    @app.get("/items/{item_id}/export")
    async def export(item_id: str) -> StreamingResponse:
        async def rows() -> AsyncIterator[bytes]:
            metrics.count_export_rows("csv", 2)
            yield b"a\nb\n"
            raise RuntimeError("the database went away")

        return StreamingResponse(rows(), media_type="text/csv")

    metrics.initialise(app.router.routes, ["csv"])
    app.add_middleware(metrics.MetricsMiddleware, routes=app.router.routes)
    return app


def _requests(route: str, status: str) -> float:
    labels = {"route": route, "method": "GET", "status": status}
    return REGISTRY.get_sample_value("tidewatch_api_requests_total", labels) or 0.0


async def test_failures_count_as_server_errors_by_template() -> None:
    transport = httpx.ASGITransport(app=_app(), raise_app_exceptions=False)
    item, export = "/items/{item_id}", "/items/{item_id}/export"
    before = {key: _requests(*key) for key in [(item, "2xx"), (item, "5xx"), (export, "5xx")]}
    export_rows = ("tidewatch_api_export_rows_total", {"route": export, "format": "csv"})
    rows_before = REGISTRY.get_sample_value(*export_rows)
    in_flight_before = REGISTRY.get_sample_value("tidewatch_api_requests_in_flight")
    async with httpx.AsyncClient(transport=transport, base_url="http://api") as client:
        assert (await client.get("/items/a")).status_code == 200
        assert (await client.get("/items/b")).status_code == 200
        assert (await client.get("/items/boom")).status_code == 500
        assert (await client.get("/items/c/export")).status_code == 200  # the body broke off
    assert _requests(item, "2xx") - before[(item, "2xx")] == 2
    assert _requests(item, "5xx") - before[(item, "5xx")] == 1
    assert _requests(export, "5xx") - before[(export, "5xx")] == 1
    assert rows_before == 0 and REGISTRY.get_sample_value(*export_rows) == 2
    assert REGISTRY.get_sample_value("tidewatch_api_requests_in_flight") == in_flight_before


def test_route_templates_cover_mounts_and_match_like_the_router() -> None:
    app = FastAPI(openapi_url=None)
    app.add_route("/metrics", metrics.metrics_endpoint)
    inner = FastAPI(openapi_url=None)
    inner.add_route("/page/{name}", metrics.metrics_endpoint, methods=["POST"])
    app.mount("/console", inner)
    templates = list(metrics.route_templates(app.router.routes))
    assert [t.path for t in templates] == ["/metrics", "/console/page/{name}", "/console"]
    assert metrics.match_template(templates, "/console/page/x", "POST") == "/console/page/{name}"
    assert metrics.match_template(templates, "/console/page/x", "GET") == "/console/page/{name}"  # 405
    assert metrics.match_template(templates, "/console/other", "GET") == "/console"
    assert metrics.match_template(templates, "/metrics/x", "GET") == metrics.UNMATCHED
