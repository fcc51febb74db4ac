"""Bad requests become a 4xx with one clear sentence, never a stack trace or a database message."""

from __future__ import annotations

import asyncpg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


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


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ApiError, _api_error)
    app.add_exception_handler(asyncpg.QueryCanceledError, _query_timeout)
    app.add_exception_handler(RequestValidationError, _validation_error)
