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
from pathlib import Path
from typing import Any

import asyncpg
import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import FileResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from alerts.channels import EVENT_KINDS, ROUTED_AS
from alerts.loader import load_rules
from alerts.router import TIER_ESCALATED
from alerts.rules import SilentCondition
from alerts.schedules import WEEKDAYS, SilenceSchedule, parse_time_of_day
from alerts.severity import SEVERITIES
from schemas.actions import Acknowledge, AlertAction, RemoveSilence, SilenceAction, action_document
from schemas.registry import load_registry
from services.config import Settings
from services.console import access as audit
from services.console.access import ROLES, AttemptLimiter, ConsoleAccess, role_at_least
from services.console.actions import ActionsUnavailable
from services.console.live import ALERTS, STATIONS, LiveFeed
from services.console.requests import (
    BadRequest,
    body_text,
    filter_text,
    json_body,
    json_response,
    parse_time_us,
)
from services.console.schedules import ScheduleRunner, active_schedules, remove_schedule, store_schedule
from services.console.session import COOKIE, Operator, SessionSigner, console_secret, same_origin
from services.console.views import latest_readings, operator_names, rule_value, variables_json, with_names
from services.db import alerts as store
from services.notify.groups import recent_groups

Actions = Callable[[AlertAction], Awaitable[None]]
STATIC = Path(__file__).with_name("static")
MAX_SILENCE_MIN = 30 * 24 * 60
MAX_HISTORY = 1000
HISTORY_PAGE = 50  # events a history page shows by default
MAX_HISTORY_OFFSET = 100_000  # deeper than this, narrow the filter instead
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
}


def now_us() -> int:
    return time.time_ns() // 1000


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
        access: ConsoleAccess | None = None,
    ) -> None:
        self.settings = settings
        self.actions = actions
        self.access = access if access is not None else ConsoleAccess.from_settings(settings)
        self.failures = AttemptLimiter(self.access.failure_window_s)
        self.signer = SessionSigner(secret if secret is not None else console_secret(settings.console_secret))
        self.keepalive_s = keepalive_s
        registry = load_registry(settings.registry_path)
        self.stations = set(registry.stations)
        rules = load_rules(registry).values()
        self.rules = {
            r.id: {"id": r.id, "title_en": r.title_en, "title_zh": r.title_zh} | rule_value(r) for r in rules
        }
        # Rules that judge silence in data time: their open alerts mark a station silent on the map.
        self.silence_rules = {
            r.id for r in rules if any(isinstance(c, SilentCondition) for c in r.conditions.values())
        }
        self.feed = LiveFeed(settings.database_url, refresh_s=refresh_s)
        # Recurring silences become silence actions as each occurrence begins (needs the stream).
        self.schedules = ScheduleRunner(self._started_pool, actions) if actions is not None else None
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
                self.pool = await asyncpg.create_pool(
                    self.settings.database_url,
                    min_size=1,
                    max_size=4,
                    server_settings={"statement_timeout": f"{self.settings.api_statement_timeout_ms}ms"},
                )
            await self.feed.start()
            self._started = True
            if self.schedules is not None:
                self.schedules.start()

    async def _started_pool(self) -> asyncpg.Pool:
        await self.ensure_started()
        assert self.pool is not None
        return self.pool

    async def close(self) -> None:
        if self.schedules is not None:
            await self.schedules.stop()
        await self.feed.close()
        if self._own_pool and self.pool is not None:
            await self.pool.close()
            self.pool = None
        self._started = False

    async def operator(self, request: Request) -> Operator | None:
        """The signed-in operator: a cookie we signed naming a session that is neither revoked nor expired."""
        claimed = self.signer.verify(request.cookies.get(COOKIE))
        if claimed is None or not claimed.session_id:
            return None
        found = await self.query(audit.session_operator, claimed.session_id)
        if found is None:
            return None
        return Operator(found["username"], found["display_name"], claimed.session_id, found["role"])

    def client(self, request: Request) -> str:
        return self.access.client_address(request.client.host if request.client else None, request.headers)

    async def audit(
        self, request: Request, actor: str, action: str, target: str | None, detail: dict | None = None
    ) -> None:
        await self.query(audit.record, actor, action, target, self.client(request), detail)

    async def query(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        await self.ensure_started()
        assert self.pool is not None
        async with self.pool.acquire() as conn:
            return await fn(conn, *args, **kwargs)

    # -- pages and reads ---------------------------------------------------------------------------
    async def index(self, request: Request) -> Response:
        return FileResponse(STATIC / "index.html", headers={"Cache-Control": "no-cache", **SECURITY_HEADERS})

    async def meta(self, request: Request) -> Response:
        operator = await self.operator(request)
        return json_response(
            {
                "rules": sorted(self.rules.values(), key=lambda r: r["id"]),
                "severities": list(SEVERITIES),
                "kinds": [*EVENT_KINDS, *ROUTED_AS, TIER_ESCALATED],  # with QC retractions, tier steps
                "operator": _operator_json(operator),
                "actions_enabled": self.actions is not None,
                "variables": variables_json(),
                "history_orders": list(store.HISTORY_ORDERS),
            }
        )

    async def snapshot(self, topic: str) -> dict:
        names = await self.query(operator_names)
        if topic == ALERTS:
            alerts = await self.query(store.open_alerts)
            silences = await self.query(store.active_silences, now_us())
            return {
                "alerts": with_names(alerts, names, "acknowledged_by", "acknowledged_name"),
                "silences": with_names(silences, names, "actor", "actor_name"),
                "now_us": now_us(),
            }
        stations = await self.query(store.station_status)
        latest = await self.query(latest_readings)
        silent = {
            a["station"]
            for a in await self.query(store.open_alerts)
            if a["rule"] in self.silence_rules and a["state"] == "firing"
        }
        return {
            "stations": [
                s | {"latest": latest.get(s["id"], []), "silent_alert": s["id"] in silent} for s in stations
            ],
            "now_us": now_us(),
        }

    async def open_alerts(self, request: Request) -> Response:
        return json_response(await self.snapshot(ALERTS))

    async def groups(self, request: Request) -> Response:
        """Incident groups (alerts/routing.yaml), open ones first, each with its members."""
        limit = min(max(_whole(request.query_params.get("limit"), "limit", 50), 1), 500)
        return json_response({"groups": await self.query(recent_groups, limit), "now_us": now_us()})

    async def stations_status(self, request: Request) -> Response:
        return json_response(await self.snapshot(STATIONS))

    async def history(self, request: Request) -> Response:
        q = request.query_params
        limit = min(_whole(q.get("limit"), "limit", HISTORY_PAGE), MAX_HISTORY)
        offset = _whole(q.get("offset"), "offset", 0)
        if offset < 0 or offset > MAX_HISTORY_OFFSET:
            raise BadRequest(
                400, f"offset: between 0 and {MAX_HISTORY_OFFSET}; narrow the filter to go further"
            )
        order = q.get("order") or "recorded"
        if order not in store.HISTORY_ORDERS:
            raise BadRequest(400, f"order: one of {', '.join(store.HISTORY_ORDERS)}")
        limit = max(limit, 1)
        events = await self.query(
            store.alert_history,
            station=filter_text(q.get("station"), "station"),
            rule=filter_text(q.get("rule"), "rule"),
            severity=filter_text(q.get("severity"), "severity"),
            kind=filter_text(q.get("kind"), "kind"),
            since_us=parse_time_us(q.get("since"), "since"),
            until_us=parse_time_us(q.get("until"), "until"),
            limit=limit + 1,  # one more tells whether an older page exists
            offset=offset,
            order=order,
        )
        names = await self.query(operator_names)
        return json_response(
            {
                "events": with_names(events[:limit], names, "actor", "actor_name"),
                "offset": offset,
                "limit": limit,
                "more": len(events) > limit,
                "order": order,
            }
        )

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
            return json_response({"operator": _operator_json(await self.operator(request))})
        _check_origin(request)
        path = (request.scope.get("root_path") or "") + "/"
        peer = request.client.host if request.client else None
        secure = self.access.secure_cookie(request.url.scheme, peer, request.headers)
        if request.method == "DELETE":
            operator = await self.operator(request)
            if operator is not None:
                await self.query(audit.revoke_session, operator.session_id)
                await self.audit(request, operator.username, "sign_out", operator.session_id[:8])
            response = json_response({"operator": None})
            response.delete_cookie(COOKIE, path=path, samesite="strict", httponly=True, secure=secure)
            return response
        body = await json_body(request)
        username = body_text(body, "username", required=True, limit=100)
        password = body_text(body, "password", required=True, limit=200)
        assert username is not None and password is not None
        client = self.client(request)
        login_key, address_key = f"login:{username}", f"address:{client}"
        wait_s = max(
            self.failures.retry_after_s(login_key, self.access.login_failures),
            self.failures.retry_after_s(address_key, self.access.address_failures),
        )
        if wait_s:
            raise BadRequest(
                429,
                f"too many failed sign-ins for {username!r} or from {client}; try again in {wait_s} s",
                {"Retry-After": str(wait_s)},
            )
        found = await self.query(store.verify_operator, username, password)
        if found is None:
            self.failures.fail(login_key)
            self.failures.fail(address_key)
            return json_response({"error": "unknown user name or wrong password"}, 401)
        self.failures.clear(login_key)
        expires_us = now_us() + self.signer.max_age_s * 1_000_000
        session_id = await self.query(audit.open_session, found["username"], expires_us, client)
        operator = Operator(found["username"], found["display_name"], session_id, found["role"])
        await self.audit(request, operator.username, "sign_in", session_id[:8])
        response = json_response({"operator": _operator_json(operator)})
        response.set_cookie(
            COOKIE,
            self.signer.sign(operator),
            max_age=self.signer.max_age_s,
            path=path,
            httponly=True,
            samesite="strict",
            secure=secure,
        )
        return response

    # -- operator actions --------------------------------------------------------------------------
    async def signed_in(self, request: Request, role: str, *, write: bool = True) -> Operator:
        """The operator behind a request: signed in, with at least ``role``; a write from the page only."""
        operator = await self.operator(request)
        if operator is None:
            raise BadRequest(401, "sign in first")
        if write:
            _check_origin(request)
        if not role_at_least(operator.role, role):
            raise BadRequest(403, f"{operator.username} is a {operator.role}; this needs the {role} role")
        return operator

    async def _actor(self, request: Request) -> Operator:
        operator = await self.signed_in(request, "operator")
        if self.actions is None:
            raise BadRequest(503, "operator actions are not wired to the stream in this console")
        return operator

    async def _submit(self, action: AlertAction) -> None:
        assert self.actions is not None
        try:
            await self.actions(action)
        except ActionsUnavailable as exc:
            raise BadRequest(503, str(exc)) from exc

    async def acknowledge(self, request: Request) -> Response:
        operator = await self._actor(request)
        body = await json_body(request)
        alert_id = body_text(body, "alert_id", required=True, limit=300)
        alert = await self.query(store.get_alert, alert_id)
        if alert is None:
            raise BadRequest(404, f"no alert {alert_id!r}")
        if alert["state"] != "firing":
            raise BadRequest(
                409, f"alert {alert_id!r} is {alert['state']}; only a firing alert is acknowledged"
            )
        if alert["acknowledged_by"]:
            raise BadRequest(409, f"alert {alert_id!r} is already acknowledged by {alert['acknowledged_by']}")
        action = Acknowledge(alert_id, operator.username, now_us(), body_text(body, "comment") or "")
        await self._submit(action)
        await self.audit(request, operator.username, "acknowledge", alert_id, {"comment": action.comment})
        return json_response({"submitted": action_document(action)}, 202)

    async def silence(self, request: Request) -> Response:
        operator = await self._actor(request)
        body = await json_body(request)
        station = body_text(body, "station", limit=100)
        rule = body_text(body, "rule", limit=100)
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
        action = SilenceAction(
            id=f"console-{uuid.uuid4().hex[:12]}",
            station=station,
            rule=rule,
            ends_us=time_us + round(minutes * 60_000_000),
            actor=operator.username,
            time_us=time_us,
            comment=body_text(body, "comment") or "",
        )
        await self._submit(action)
        document = action_document(action)
        detail = {k: document[k] for k in ("station", "rule", "ends_us", "comment")}
        await self.audit(request, operator.username, "silence", action.id, detail)
        return json_response({"submitted": document}, 202)

    async def remove_silence(self, request: Request) -> Response:
        """End an active silence now (it would otherwise run to its end): its alerts notify again."""
        operator = await self._actor(request)
        body = await json_body(request)
        silence_id = body_text(body, "id", required=True, limit=100)
        time_us = now_us()
        active = {s["id"] for s in await self.query(store.active_silences, time_us)}
        if silence_id not in active:
            raise BadRequest(404, f"no active silence {silence_id!r}")
        assert silence_id is not None
        action = RemoveSilence(silence_id, operator.username, time_us)
        await self._submit(action)
        await self.audit(request, operator.username, "remove_silence", silence_id)
        return json_response({"submitted": action_document(action)}, 202)

    async def silence_schedules(self, request: Request) -> Response:
        """Recurring silences of a station: list (GET, open) or create (POST, an operator)."""
        if request.method == "GET":
            return json_response({"schedules": await self.query(active_schedules)})
        operator = await self._actor(request)
        body = await json_body(request)
        station = body_text(body, "station", required=True, limit=100)
        rule = body_text(body, "rule", limit=100)
        if station not in self.stations:
            raise BadRequest(400, f"no station {station!r}")
        if rule is not None and rule not in self.rules:
            raise BadRequest(400, f"no rule {rule!r}")
        days = body.get("weekdays") or list(WEEKDAYS)
        if not isinstance(days, list) or any(d not in WEEKDAYS for d in days):
            raise BadRequest(400, f"weekdays: a list of {', '.join(WEEKDAYS)}")
        minutes = body.get("minutes")
        if isinstance(minutes, bool) or not isinstance(minutes, int):
            raise BadRequest(400, "minutes: expected a whole number")
        assert station is not None
        try:
            schedule = SilenceSchedule(
                id=f"schedule-{uuid.uuid4().hex[:12]}",
                station=station,
                rule=rule,
                start_minute=parse_time_of_day(body_text(body, "start", required=True, limit=5) or ""),
                duration_min=minutes,
                weekdays=frozenset(WEEKDAYS.index(d) for d in days),
                timezone=body_text(body, "timezone", limit=64) or "UTC",
                actor=operator.username,
                comment=body_text(body, "comment") or "",
            )
        except ValueError as exc:
            raise BadRequest(400, str(exc)) from exc
        await self.query(store_schedule, schedule)
        detail = {
            "station": station,
            "rule": rule,
            "start": body["start"],
            "minutes": minutes,
            "weekdays": days,
        }
        await self.audit(request, operator.username, "schedule_silence", schedule.id, detail)
        assert self.schedules is not None
        answer: dict[str, Any] = {"schedule": {"id": schedule.id, **detail}, "submitted": []}
        try:
            answer["submitted"] = await self.schedules.run_once()  # an occurrence running now applies at once
        except ActionsUnavailable as exc:  # stored: the runner submits it when Kafka answers again
            answer["warning"] = f"{exc}; the occurrence running now follows when it is back"
        return json_response(answer, 201)

    async def remove_silence_schedule(self, request: Request) -> Response:
        """Stop a recurring silence; an occurrence running now ends too."""
        operator = await self._actor(request)
        body = await json_body(request)
        schedule_id = body_text(body, "id", required=True, limit=100)
        if not await self.query(remove_schedule, schedule_id):
            raise BadRequest(404, f"no recurring silence {schedule_id!r}")
        time_us = now_us()
        for silence in await self.query(store.active_silences, time_us):
            if silence["id"].startswith(f"{schedule_id}@"):
                await self._submit(RemoveSilence(silence["id"], operator.username, time_us))
        await self.audit(request, operator.username, "remove_schedule", schedule_id)
        return json_response({"removed": schedule_id})

    # -- administration ----------------------------------------------------------------------------
    async def operators(self, request: Request) -> Response:
        """Admins list (GET) and add or update (POST) operators; every change is audited."""
        if request.method == "GET":
            await self.signed_in(request, "admin", write=False)
            return json_response({"operators": await self.query(audit.list_operators)})
        admin = await self.signed_in(request, "admin")
        body = await json_body(request)
        username = body_text(body, "username", required=True, limit=100)
        display_name = body_text(body, "display_name", required=True, limit=200)
        password = body_text(body, "password", required=True, limit=200)
        role = body_text(body, "role", limit=20) or "operator"
        if role not in ROLES:
            raise BadRequest(400, f"role: one of {', '.join(ROLES)}")
        await self.query(store.create_operator, username, display_name, password, role)
        await self.audit(request, admin.username, "operator_add", username, {"role": role})
        return json_response(
            {"operator": {"username": username, "display_name": display_name, "role": role}}, 201
        )

    async def audit_log(self, request: Request) -> Response:
        await self.signed_in(request, "admin", write=False)
        return json_response({"entries": await self.query(audit.audit_entries)})


def _operator_json(operator: Operator | None) -> dict | None:
    return (
        None
        if operator is None
        else {"username": operator.username, "display_name": operator.display_name, "role": operator.role}
    )


def _whole(text: str | None, name: str, default: int) -> int:
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise BadRequest(400, f"{name}: expected a whole number") from exc


def _check_origin(request: Request) -> None:
    if not same_origin(request.headers):
        raise BadRequest(403, "writes are accepted from the console page only")


async def _query_timeout(request: Request, exc: Exception) -> Response:
    limit_ms = request.app.state.console.settings.api_statement_timeout_ms
    return json_response(
        {"error": f"the query ran past the {limit_ms} ms statement timeout; try again later"},
        503,
        {"Retry-After": "5"},
    )


async def _bad_request(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, BadRequest)
    return json_response({"error": str(exc)}, exc.status, exc.headers)


def create_console(
    settings: Settings,
    actions: Actions | None,
    *,
    pool: asyncpg.Pool | None = None,
    secret: bytes | None = None,
    refresh_s: float = 5.0,
    access: ConsoleAccess | None = None,
) -> Starlette:
    """The console as an ASGI app; `actions` receives operator actions (None: read-only console)."""
    from services.console.manual_qc import routes as manual_qc_routes

    console = Console(settings, actions, pool=pool, secret=secret, refresh_s=refresh_s, access=access)

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
        Route("/api/groups", console.groups),
        Route("/api/stations", console.stations_status),
        Route("/api/events", console.events),
        Route("/api/session", console.session, methods=["GET", "POST", "DELETE"]),
        Route("/api/acknowledge", console.acknowledge, methods=["POST"]),
        Route("/api/silence", console.silence, methods=["POST"]),
        Route("/api/silence/remove", console.remove_silence, methods=["POST"]),
        Route("/api/schedules", console.silence_schedules, methods=["GET", "POST"]),
        Route("/api/schedules/remove", console.remove_silence_schedule, methods=["POST"]),
        Route("/api/operators", console.operators, methods=["GET", "POST"]),
        Route("/api/audit", console.audit_log),
        *manual_qc_routes(console),  # manual QC and data status (services/history/manual.py)
        Mount("/static", StaticFiles(directory=STATIC), name="static"),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={BadRequest: _bad_request, asyncpg.QueryCanceledError: _query_timeout},
    )
    app.state.console = console
    return app
