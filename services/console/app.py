"""The monitoring centre's alert console: one page plus the JSON and live endpoints it reads.

Reading is open (internal network); acknowledge and silence need a signed-in operator and are not
written here: they are handed to `actions`, which puts them on the stream, so the alert state stays a
deterministic result of the event log and a replay reproduces it.

`create_console(settings, actions)` returns a self-contained ASGI app: run it alone (see `serve.py`)
or mount it, e.g. ``api.mount("/console", create_console(settings, submit))``. A mounted Starlette app
gets no lifespan events, so it starts its pool and live feed on the first request; call
``await app.state.console.close()`` when the parent app shuts down.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from alerts.channels import EVENT_KINDS
from alerts.loader import load_rules
from alerts.severity import SEVERITIES
from schemas.registry import load_registry
from services.config import Settings
from services.console.live import ALERTS, STATIONS, LiveFeed
from services.console.session import COOKIE, Operator, SessionSigner, console_secret, same_origin
from services.db import alerts as store

Actions = Callable[[dict], Awaitable[None]]
STATIC = Path(__file__).with_name("static")
MAX_COMMENT = 500
MAX_SILENCE_MIN = 30 * 24 * 60
MAX_HISTORY = 1000
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def now_us() -> int:
    return time.time_ns() // 1000


def parse_time_us(text: str | None, name: str) -> int | None:
    """µs since the epoch, or ISO 8601 (a time without offset is UTC)."""
    if not text:
        return None
    if text.lstrip("-").isdigit():
        return int(text)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise BadRequest(400, f"{name}: expected ISO 8601 or µs since the epoch, got {text!r}") from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return round(moment.timestamp() * 1_000_000)


def _text(body: dict, key: str, *, required: bool = False, limit: int = MAX_COMMENT) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(400, f"{key} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(400, f"{key}: expected text of at most {limit} characters")
    return value


class Console:
    def __init__(
        self,
        settings: Settings,
        actions: Actions | None,
        *,
        pool: asyncpg.Pool | None = None,
        secret: bytes | None = None,
        refresh_s: float = 5.0,
        keepalive_s: float = 15.0,
    ) -> None:
        self.settings = settings
        self.actions = actions
        self.signer = SessionSigner(secret if secret is not None else console_secret())
        self.keepalive_s = keepalive_s
        registry = load_registry(settings.registry_path)
        self.stations = set(registry.stations)
        self.rules = {
            r.id: {"id": r.id, "title_en": r.title_en, "title_zh": r.title_zh}
            for r in load_rules(registry).values()
        }
        self.feed = LiveFeed(settings.database_url, refresh_s=refresh_s)
        self.pool = pool
        self._own_pool = pool is None
        self._started = False
        self._lock = asyncio.Lock()

    async def ensure_started(self) -> None:
        if self._started:
            return
        async with self._lock:
            if self._started:
                return
            if self.pool is None:
                self.pool = await asyncpg.create_pool(self.settings.database_url, min_size=1, max_size=4)
            await self.feed.start()
            self._started = True

    async def close(self) -> None:
        await self.feed.close()
        if self._own_pool and self.pool is not None:
            await self.pool.close()
            self.pool = None
        self._started = False

    def operator(self, request: Request) -> Operator | None:
        return self.signer.verify(request.cookies.get(COOKIE))

    async def query(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        await self.ensure_started()
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            return await fn(conn, *args, **kwargs)

    # -- pages and reads ---------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    async def meta(self, request: Request) -> Response:
        operator = self.operator(request)
        return json_response(
            {
                "rules": sorted(self.rules.values(), key=lambda r: r["id"]),
                "severities": list(SEVERITIES),
                "kinds": list(EVENT_KINDS),
                "operator": _operator_json(operator),
                "actions_enabled": self.actions is not None,
            }
        )

    async def snapshot(self, topic: str) -> dict:
        if topic == ALERTS:
            return {
                "alerts": await self.query(store.open_alerts),
                "silences": await self.query(store.active_silences, now_us()),
                "now_us": now_us(),
            }
        return {"stations": await self.query(store.station_status), "now_us": now_us()}

    async def open_alerts(self, request: Request) -> Response:
        return json_response(await self.snapshot(ALERTS))

    async def stations_status(self, request: Request) -> Response:
        return json_response(await self.snapshot(STATIONS))

    async def history(self, request: Request) -> Response:
        q = request.query_params
        try:
            limit = min(int(q.get("limit") or 200), MAX_HISTORY)
        except ValueError as exc:
            raise BadRequest(400, "limit: expected a whole number") from exc
        events = await self.query(
            store.alert_history,
            station=q.get("station") or None,
            rule=q.get("rule") or None,
            severity=q.get("severity") or None,
            kind=q.get("kind") or None,
            since_us=parse_time_us(q.get("since"), "since"),
            until_us=parse_time_us(q.get("until"), "until"),
            limit=max(limit, 1),
        )
        return json_response({"events": events})

    async def events(self, request: Request) -> Response:
        """Server-Sent Events: `alerts` and `stations` snapshots whenever they change."""
        await self.ensure_started()
        subscription = self.feed.subscribe()

        async def stream() -> AsyncIterator[bytes]:
            try:
                yield b"retry: 2000\n\n"
                while not self.feed.closed:
                    topics = await subscription.next(self.keepalive_s)
                    if not topics:
                        yield b": keep-alive\n\n"
                    for topic in sorted(topics):
                        data = orjson.dumps(await self.snapshot(topic))
                        yield b"event: " + topic.encode() + b"\ndata: " + data + b"\n\n"
            finally:
                self.feed.unsubscribe(subscription)

        headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
        return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)

    # -- session -----------------------------------------------------------------------------------
    async def session(self, request: Request) -> Response:
        if request.method == "GET":
            return json_response({"operator": _operator_json(self.operator(request))})
        _check_origin(request)
        path = (request.scope.get("root_path") or "") + "/"
        if request.method == "DELETE":
            response = json_response({"operator": None})
            response.delete_cookie(COOKIE, path=path, samesite="strict", httponly=True)
            return response
        body = await _json_body(request)
        username = _text(body, "username", required=True, limit=100)
        password = _text(body, "password", required=True, limit=200)
        found = await self.query(store.verify_operator, username, password)
        if found is None:
            return json_response({"error": "unknown user name or wrong password"}, 401)
        operator = Operator(found["username"], found["display_name"])
        response = json_response({"operator": _operator_json(operator)})
        response.set_cookie(
            COOKIE,
            self.signer.sign(operator),
            max_age=self.signer.max_age_s,
            path=path,
            httponly=True,
            samesite="strict",
        )
        return response

    # -- operator actions --------------------------------------------------------------------------
    def _actor(self, request: Request) -> Operator:
        operator = self.operator(request)
        if operator is None:
            raise BadRequest(401, "sign in to acknowledge or silence alerts")
        _check_origin(request)
        if self.actions is None:
            raise BadRequest(503, "operator actions are not wired to the stream in this console")
        return operator

    async def acknowledge(self, request: Request) -> Response:
        operator = self._actor(request)
        body = await _json_body(request)
        alert_id = _text(body, "alert_id", required=True, limit=300)
        alert = await self.query(store.get_alert, alert_id)
        if alert is None:
            raise BadRequest(404, f"no alert {alert_id!r}")
        if alert["state"] != "firing":
            raise BadRequest(
                409, f"alert {alert_id!r} is {alert['state']}; only a firing alert is acknowledged"
            )
        if alert["acknowledged_by"]:
            raise BadRequest(409, f"alert {alert_id!r} is already acknowledged by {alert['acknowledged_by']}")
        action = {
            "type": "acknowledge",
            "alert_id": alert_id,
            "actor": operator.username,
            "time_us": now_us(),
            "comment": _text(body, "comment") or "",
        }
        await self.actions(action)  # type: ignore[misc]
        return json_response({"submitted": action}, 202)

    async def silence(self, request: Request) -> Response:
        operator = self._actor(request)
        body = await _json_body(request)
        station = _text(body, "station", limit=100)
        rule = _text(body, "rule", limit=100)
        if station is None and rule is None:
            raise BadRequest(400, "a silence needs a station, a rule or both")
        if station is not None and station not in self.stations:
            raise BadRequest(400, f"no station {station!r}")
        if rule is not None and rule not in self.rules:
            raise BadRequest(400, f"no rule {rule!r}")
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise BadRequest(400, "minutes: expected a number")
        if not 1 <= minutes <= MAX_SILENCE_MIN:
            raise BadRequest(400, f"minutes: between 1 and {MAX_SILENCE_MIN}")
        time_us = now_us()
        action = {
            "type": "silence",
            "id": f"console-{uuid.uuid4().hex[:12]}",
            "station": station,
            "rule": rule,
            "ends_us": time_us + round(minutes * 60_000_000),
            "actor": operator.username,
            "time_us": time_us,
            "comment": _text(body, "comment") or "",
        }
        await self.actions(action)  # type: ignore[misc]
        return json_response({"submitted": action}, 202)

    async def remove_silence(self, request: Request) -> Response:
        """End an active silence now (it would otherwise run to its end): its alerts notify again."""
        operator = self._actor(request)
        body = await _json_body(request)
        silence_id = _text(body, "id", required=True, limit=100)
        time_us = now_us()
        active = {s["id"] for s in await self.query(store.active_silences, time_us)}
        if silence_id not in active:
            raise BadRequest(404, f"no active silence {silence_id!r}")
        action = {"type": "remove_silence", "id": silence_id, "actor": operator.username, "time_us": time_us}
        await self.actions(action)  # type: ignore[misc]
        return json_response({"submitted": action}, 202)


def _operator_json(operator: Operator | None) -> dict | None:
    return (
        None if operator is None else {"username": operator.username, "display_name": operator.display_name}
    )


def _check_origin(request: Request) -> None:
    if not same_origin(request.headers):
        raise BadRequest(403, "writes are accepted from the console page only")


async def _json_body(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "send JSON")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "malformed JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest(400, "expected a JSON object")
    return body


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return json_response({"error": str(exc)}, exc.status)


def create_console(
    settings: Settings,
    actions: Actions | None,
    *,
    pool: asyncpg.Pool | None = None,
    secret: bytes | None = None,
    refresh_s: float = 5.0,
) -> Starlette:
    """The console as an ASGI app; `actions` receives operator actions (None: read-only console)."""
    console = Console(settings, actions, pool=pool, secret=secret, refresh_s=refresh_s)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await console.ensure_started()
        try:
            yield
        finally:
            await console.close()

    routes = [
        Route("/", console.index),
        Route("/api/meta", console.meta),
        Route("/api/alerts/open", console.open_alerts),
        Route("/api/alerts/history", console.history),
        Route("/api/stations", console.stations_status),
        Route("/api/events", console.events),
        Route("/api/session", console.session, methods=["GET", "POST", "DELETE"]),
        Route("/api/acknowledge", console.acknowledge, methods=["POST"]),
        Route("/api/silence", console.silence, methods=["POST"]),
        Route("/api/silence/remove", console.remove_silence, methods=["POST"]),
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(routes=routes, lifespan=lifespan, exception_handlers={BadRequest: _bad_request})
    app.state.console = console
    return app
