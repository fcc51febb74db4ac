"""Prometheus metrics of the HTTP API (the scientists' API and the mounted alert console), at ``/metrics``.

Requests are labelled by route template (``/api/v1/stations/{station_id}``, the mount path for static
files, ``unmatched`` for 404s), never by the raw path, and by method and status class, so the label sets
stay bounded whatever clients ask for. Every route's series exist at 0 from the start.

The middleware is plain ASGI (no per-request task, streamed bodies pass through untouched) and times a
request until its last body byte is sent, so a long export counts as long.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount, Route, compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from services.api.db import Database

try:
    from fastapi.routing import iter_route_contexts
except ImportError:  # older FastAPI: app.routes lists included routes themselves
    iter_route_contexts = None  # type: ignore[assignment]

# No ``_created`` series: one per counter and histogram child, read by no dashboard (it doubled the scrape).
disable_created_metrics()

UNMATCHED = "unmatched"
METRICS_PATH = "/metrics"
STATUS_CLASSES = ("2xx", "3xx", "4xx", "5xx")
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

REQUESTS = Counter(
    "tidewatch_api_requests_total", "HTTP requests answered by the API", ["route", "method", "status"]
)
REQUEST_SECONDS = Histogram(
    "tidewatch_api_request_duration_seconds",
    "From a request's arrival to its last response byte",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)
IN_FLIGHT = Gauge(
    "tidewatch_api_requests_in_flight",
    "Requests being answered (open exports and live feeds too; not scrapes)",
)
EXPORT_ROWS = Counter(
    "tidewatch_api_export_rows_total", "Rows streamed by /export endpoints", ["route", "format"]
)
POOL_OPEN = Gauge("tidewatch_api_db_pool_connections", "Open connections of the API's database pool")
POOL_IN_USE = Gauge("tidewatch_api_db_pool_in_use_connections", "Pool connections running a query or export")
POOL_MAX = Gauge("tidewatch_api_db_pool_max_connections", "Most connections the API's pool may open")


# The route template of the request being answered: set by the middleware, read where export rows are
# counted (a streamed body is produced in the request's context, after the endpoint has returned).
_ROUTE: ContextVar[str] = ContextVar("tidewatch_api_route", default=UNMATCHED)
_DATABASES: weakref.WeakSet[Database] = weakref.WeakSet()


def _pool_totals() -> tuple[int, int, int]:
    counts = [db.connection_counts() for db in _DATABASES]
    return sum(c[0] for c in counts), sum(c[1] for c in counts), sum(db.max_connections for db in _DATABASES)


POOL_OPEN.set_function(lambda: _pool_totals()[0])
POOL_IN_USE.set_function(lambda: _pool_totals()[1])
POOL_MAX.set_function(lambda: _pool_totals()[2])


def watch_pool(database: Database) -> None:
    """Report this pool in the pool gauges for as long as it exists (tests build several apps)."""
    _DATABASES.add(database)


def count_export_rows(fmt: str, rows: int) -> None:
    EXPORT_ROWS.labels(_ROUTE.get(), fmt).inc(rows)


def status_class(status: int) -> str:
    return f"{status // 100}xx"


@dataclass(frozen=True, slots=True)
class Template:
    """A route template, the methods it answers (None: any, a mount) and the paths it takes."""

    path: str
    methods: frozenset[str] | None
    pattern: re.Pattern[str]

    def answers(self, method: str) -> bool:
        return self.methods is None or method in self.methods or (method == "HEAD" and "GET" in self.methods)


def _contexts(routes: Iterable[BaseRoute]) -> Iterable[Any]:
    """Routes as FastAPI resolves them: its included routers are expanded lazily, with full paths."""
    return routes if iter_route_contexts is None else iter_route_contexts(list(routes))


def route_templates(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[Template]:
    """Every template in routing order; a mount's own routes come before the mount (static files, 404s)."""
    for context in _contexts(routes):
        route = getattr(context, "original_route", context)
        if isinstance(route, Mount):
            path = prefix + route.path
            yield from route_templates(route.routes, path)
            yield Template(path, None, re.compile(f"^{re.escape(path)}(/.*)?$"))
        elif isinstance(route, Route):
            path = prefix + getattr(context, "path", route.path)
            methods = frozenset(getattr(context, "methods", None) or route.methods or {"GET"})
            # Labelled as OpenAPI writes it: {resource}, not {resource:path}.
            yield Template(re.sub(r"\{(\w+):\w+\}", r"{\1}", path), methods, compile_path(path)[0])


def match_template(templates: Sequence[Template], path: str, method: str) -> str:
    """The template routing picks for the path: the first that answers the method, else the first that
    takes the path at all (a 405), else a mount's own path (its 404s), else ``unmatched``."""
    fallback = UNMATCHED
    for template in templates:
        if template.pattern.match(path):
            if template.methods is None:  # a mount: its own routes came first
                return template.path if fallback == UNMATCHED else fallback
            if template.answers(method):
                return template.path
            if fallback == UNMATCHED:
                fallback = template.path
    return fallback


def initialise(routes: Sequence[BaseRoute], export_formats: Iterable[str]) -> None:
    """Create the bounded series at 0, so rate() sees the first request of every route."""
    formats = tuple(export_formats)
    for template in [*route_templates(routes), Template(UNMATCHED, None, re.compile("$^"))]:
        REQUEST_SECONDS.labels(template.path)
        for method in sorted((template.methods or {"GET"}) - {"HEAD"}):
            for status in STATUS_CLASSES:
                REQUESTS.labels(template.path, method, status)
        if template.path.endswith("/export"):
            for fmt in formats:
                EXPORT_ROWS.labels(template.path, fmt)


class MetricsMiddleware:
    """Counts, times and tracks every HTTP request by the route template it resolves to."""

    def __init__(self, app: ASGIApp, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.templates = tuple(route_templates(routes))  # built with the middleware stack, on first use

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope["path"]).removeprefix(str(scope.get("root_path", "")))
        method = scope["method"] if scope["method"] in METHODS else "other"
        route = match_template(self.templates, path, method)
        status = 500  # unless a response starts
        token = _ROUTE.set(route)

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        scrape = route == METRICS_PATH  # it would always see itself in flight
        if not scrape:
            IN_FLIGHT.inc()
        started = time.perf_counter()
        try:
            await self.app(scope, receive, send_and_note)
        except BaseException:
            status = 500  # the body broke off, even if a 200 had started it
            raise
        finally:
            REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
            REQUESTS.labels(route, method, status_class(status)).inc()
            if not scrape:
                IN_FLIGHT.dec()
            _ROUTE.reset(token)


async def metrics_endpoint(_request: Request) -> Response:
    """The process's metrics in the Prometheus text format."""
    return Response(generate_latest(REGISTRY), media_type=CONTENT_TYPE_LATEST)
