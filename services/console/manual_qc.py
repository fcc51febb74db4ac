"""The console's manual QC and data-status routes: list (open, like every console read) and write (a
signed-in operator or admin, from the console page: the session cookie and the console's header, as
for acknowledging an alert).

Writes call the same functions as ``tidewatch qc flag`` and ``tidewatch qc verify``
(services/history/manual.py), with the signed-in operator as who and the client's address in the
audit log.

* ``GET  /api/qc/flags?station=ID``   the judgements, oldest first
* ``POST /api/qc/flags``              ``{station, variable?, start, end, flag, reason}`` → 201; the
  range's indicators and alerts (history) are then done again in the background
* ``GET  /api/qc/reviews?station=ID`` the data-status reviews, oldest first
* ``POST /api/qc/reviews``            ``{station, variable?, start, end, status?, note?}`` → 201
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import asyncpg
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from schemas.registry import Registry, load_registry
from services.config import Settings
from services.console.requests import (
    BadRequest,
    body_text,
    filter_text,
    json_body,
    json_response,
    parse_time_us,
)
from services.history import manual, store

log = logging.getLogger(__name__)
Listing = Callable[[asyncpg.Connection, str | None], Awaitable[list[asyncpg.Record]]]
Documents = Callable[[list[asyncpg.Record]], list[dict[str, Any]]]


class Console(Protocol):
    """What the routes need of the console: its settings, who is signed in, and a pooled query."""

    settings: Settings

    async def signed_in(self, request: Request, role: str, *, write: bool = True) -> Any: ...

    def client(self, request: Request) -> str: ...

    async def query(self, fn: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any: ...


class ManualQcRoutes:
    def __init__(self, console: Console) -> None:
        self.console = console
        self.registry: Registry = load_registry(console.settings.registry_path)
        self._reprocessing: set[asyncio.Task[Any]] = set()

    def _reprocess(self, station: str, start: int, end: int) -> None:
        """What depends on a judgement, done again after the answer (a reprocess run in the history:
        seconds for a month of 1-minute levels, longer than a console request should wait)."""
        task = asyncio.create_task(
            self.console.query(
                manual.reprocess_judged, self.console.settings, self.registry, station, start, end
            )
        )
        self._reprocessing.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._reprocessing.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("reprocess after a manual QC judgement failed", exc_info=task.exception())

    async def _write(self, request: Request) -> tuple[manual.Actor, dict, str, str | None, int, int]:
        """The signed-in operator (as the audit log's actor), the body, and its station, variable, range."""
        operator = await self.console.signed_in(request, "operator")
        body = await json_body(request)
        station = body_text(body, "station", required=True, limit=100)
        variable = body_text(body, "variable", limit=100)
        start = parse_time_us(body_text(body, "start", required=True, limit=40), "start")
        end = parse_time_us(body_text(body, "end", required=True, limit=40), "end")
        assert station is not None and start is not None and end is not None
        return (
            manual.Actor(operator.username, self.console.client(request)),
            body,
            station,
            variable,
            start,
            end,
        )

    async def _list(self, request: Request, listing: Listing, key: str, documents: Documents) -> Response:
        station = filter_text(request.query_params.get("station"), "station")
        return json_response({key: documents(await self.console.query(listing, station))})

    async def flags(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._list(request, store.list_manual_flags, "flags", manual.flag_documents)
        actor, body, station, variable, start, end = await self._write(request)
        flag = body_text(body, "flag", required=True, limit=20) or ""
        reason = body_text(body, "reason", limit=manual.MAX_REASON) or ""
        try:
            flag_id, run_id, changed = await self.console.query(
                manual.flag_range, self.registry, station, variable, start, end, flag, reason, actor.name,
                actor,
            )  # fmt: skip
        except manual.ManualQcError as exc:
            raise BadRequest(400, str(exc)) from exc
        self._reprocess(station, start, end)
        return json_response(
            {"flag_id": flag_id, "run_id": run_id, "changed": changed, "reprocess": list(manual.DEPENDENT)},
            201,
        )

    async def reviews(self, request: Request) -> Response:
        if request.method == "GET":
            return await self._list(request, store.list_reviews, "reviews", manual.review_documents)
        actor, body, station, variable, start, end = await self._write(request)
        status = body_text(body, "status", limit=20) or "verified"
        note = body_text(body, "note", limit=manual.MAX_REASON) or ""
        try:
            review_id, readings = await self.console.query(
                manual.review_range, self.registry, station, variable, start, end, status, note, actor.name,
                actor,
            )  # fmt: skip
        except manual.ManualQcError as exc:
            raise BadRequest(400, str(exc)) from exc
        return json_response({"review_id": review_id, "status": status, "readings": readings}, 201)


def routes(console: Console) -> list[Route]:
    handlers = ManualQcRoutes(console)
    return [
        Route("/api/qc/flags", handlers.flags, methods=["GET", "POST"]),
        Route("/api/qc/reviews", handlers.reviews, methods=["GET", "POST"]),
    ]
