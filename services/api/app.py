"""The API application: ``create_app`` for tests and embedding, ``serve`` to run it under uvicorn.

OpenAPI at ``/openapi.json``, interactive docs at ``/docs`` (assets served locally, no CDN),
Prometheus metrics at ``/metrics``. Other parts (the alert console) join the same app through
``extra_routers`` and ``mounts``, so one process and one port serve scientists and operators.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterable, Mapping

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Request, Response
from starlette.types import ASGIApp

from services.api import metrics
from services.api.db import Database
from services.api.docs import install_docs
from services.api.errors import install_error_handlers, reject_unknown_parameters
from services.api.history import router as history_router
from services.api.reports import router as reports_router
from services.api.respond import EXPORT_FORMATS, json_response
from services.api.routes import router
from services.api.sta import router as sta_router
from services.config import Settings

DESCRIPTION = """
Coastal observations of the tidewatch network: the station catalogue, readings (raw or aggregated into
time buckets), indicators and alerts.

* Times are UTC ISO 8601 (`2024-01-31T06:00:00Z`); ranges are `[start, end)`; `start`/`end` also take
  `now`, `-7d`, `now-6h`, `-P1D`. Default range: the last day.
* Every row names its unit; readings name their QARTOD QC flag (`qc_flag`, `qc_flag_name`) and their
  data status (`data_status`: `preliminary`, or `verified` by an operator's review; `meta.data_status`).
* Pages: `limit` (default 1,000, at most 100,000) and the `next` link (`Link` header too).
  `/export` endpoints stream every row as CSV, JSON lines or Parquet.
* Errors are `{"error": {"status": …, "message": …}}` with a 4xx status.
"""


KAFKA_PROBE_S = 1.0


async def kafka_reachable(settings: Settings) -> dict:
    """Whether Kafka accepts a connection (console actions go there); answers within a second."""
    endpoint = settings.kafka
    address = f"{endpoint.host}:{endpoint.port}"
    try:
        async with asyncio.timeout(KAFKA_PROBE_S):
            _reader, writer = await asyncio.open_connection(endpoint.host, endpoint.port)
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        return {"address": address, "reachable": False, "error": str(exc) or type(exc).__name__}
    return {"address": address, "reachable": True}


def create_app(
    settings: Settings, extra_routers: Iterable[APIRouter] = (), mounts: Mapping[str, ASGIApp] | None = None
) -> FastAPI:
    database = Database(settings.database_url, settings.api_statement_timeout_ms)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await database.close()

    app = FastAPI(
        title="tidewatch",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        dependencies=[Depends(reject_unknown_parameters)],
    )
    app.state.settings = settings
    app.state.db = database
    app.state.rule_inputs = None
    install_error_handlers(app)
    install_docs(app)
    app.add_route(metrics.METRICS_PATH, metrics.metrics_endpoint, include_in_schema=False)

    @app.get("/health", summary="Liveness, the database features the queries use, whether Kafka answers")
    async def health(request: Request) -> Response:
        backend = await request.app.state.db.backend()
        kafka = await kafka_reachable(settings)
        status = "ok" if kafka["reachable"] else "degraded"  # reads work; console actions do not
        return json_response({"status": status, "database": backend.describe(), "kafka": kafka})

    app.include_router(router)
    app.include_router(reports_router)
    app.include_router(history_router)  # import/reprocess runs, manual QC (read only)
    app.include_router(sta_router)  # OGC SensorThings API v1.1 at /sta/v1.1
    for extra in extra_routers:
        app.include_router(extra)
    for path, sub_app in (mounts or {}).items():
        app.mount(path, sub_app)
    metrics.watch_pool(database)
    metrics.initialise(app.router.routes, EXPORT_FORMATS)
    app.add_middleware(metrics.MetricsMiddleware, routes=app.router.routes)
    return app


async def serve(
    settings: Settings,
    port: int | None = None,
    stop_event: asyncio.Event | None = None,
    *,
    host: str | None = None,
    extra_routers: Iterable[APIRouter] = (),
    mounts: Mapping[str, ASGIApp] | None = None,
    log_level: str = "info",
) -> None:
    """Run until ``stop_event`` is set (or forever); port 0 picks a free one (``server.servers``)."""
    config = uvicorn.Config(
        create_app(settings, extra_routers, mounts),
        host=host or settings.api_host,
        port=settings.api_port if port is None else port,
        log_level=log_level,
        lifespan="on",
        proxy_headers=False,  # the console trusts forwarded headers from its configured proxies only
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    if stop_event is None:
        await task
        return
    stopping = asyncio.create_task(stop_event.wait())
    await asyncio.wait({task, stopping}, return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    stopping.cancel()
    await task
