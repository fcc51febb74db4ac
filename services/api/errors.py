"""Bad requests become a 4xx with one clear sentence, never a stack trace or a database message."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException


class ApiError(Exception):
    """A request the API refuses; ``status`` is the HTTP code, ``message`` says what to change."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status = status


class NotFound(ApiError):
    def __init__(self, message: str) -> None:
        super().__init__(message, 404)


def error_body(status: int, message: str) -> dict:
    return {"error": {"status": status, "message": message}}


async def _api_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return JSONResponse(error_body(exc.status, exc.message), status_code=exc.status)


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's own type checks (e.g. ``limit=abc``), reworded as one line per parameter."""
    assert isinstance(exc, RequestValidationError)
    parts = []
    for error in exc.errors():
        where = ".".join(str(p) for p in error.get("loc", ()) if p not in ("query", "path"))
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return JSONResponse(error_body(400, "; ".join(parts) or "invalid request"), status_code=400)


async def _query_timeout(request: Request, exc: Exception) -> JSONResponse:
    """A query that ran past the statement timeout: the server is busy or the request is too large."""
    limit_ms = request.app.state.db.statement_timeout_ms
    message = (
        f"the query ran past the {limit_ms} ms statement timeout; narrow the range, use coarser buckets, "
        "or try again later"
    )
    return JSONResponse(error_body(503, message), status_code=503, headers={"Retry-After": "5"})


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    """Starlette's own refusals (unknown route, wrong method) in the same shape as every other error."""
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        message = f"no endpoint {request.url.path}; see /docs for the API's endpoints"
    elif exc.status_code == 405:
        message = f"{request.method} is not allowed on {request.url.path}"
    else:
        message = str(exc.detail)
    return JSONResponse(
        error_body(exc.status_code, message), status_code=exc.status_code, headers=exc.headers
    )


def _query_names(dependant: Dependant) -> set[str]:
    names = {p.alias for p in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _query_names(sub)
    return names


def _known_parameters(route: APIRoute) -> frozenset[str]:
    known = getattr(route, "_tidewatch_parameters", None)
    if known is None:
        known = frozenset(_query_names(route.dependant))
        route._tidewatch_parameters = known  # type: ignore[attr-defined]
    return known


async def reject_unknown_parameters(request: Request) -> None:
    """An app-wide dependency: a misspelt parameter (``?stations=``) is refused, never silently ignored."""
    route = request.scope.get("route")
    if not isinstance(route, APIRoute):
        return
    known = _known_parameters(route)
    unknown = [name for name in dict.fromkeys(request.query_params.keys()) if name not in known]
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise ApiError(f"{unknown[0]!r}: unknown query parameter on {request.url.path}; known: {allowed}")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(asyncpg.QueryCanceledError, _query_timeout)
    app.add_exception_handler(RequestValidationError, _validation_error)
