"""What every console route does with a request: parse its body and parameters into checked values,
or refuse it with a ``BadRequest`` (status and message) that the app turns into a JSON error."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal, overload

import orjson
from starlette.requests import Request
from starlette.responses import Response

MAX_COMMENT = 500
MAX_FILTER = 200
# Times the history accepts: the years 1 … 9999 (PostgreSQL and Python both hold them), in µs.
MIN_TIME_US = -62_135_596_800_000_000
MAX_TIME_US = 253_402_300_799_999_999


class BadRequest(Exception):
    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.headers = headers


def json_response(content: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps(content),
        status_code=status,
        media_type="application/json",
        headers={"Cache-Control": "no-store", **(headers or {})},
    )


def parse_time_us(text: str | None, name: str) -> int | None:
    """µs since the epoch, or ISO 8601 (a time without offset is UTC)."""
    if not text:
        return None
    refused = BadRequest(400, f"{name}: expected ISO 8601 or µs since the epoch (years 1 … 9999)")
    if len(text) > 40:
        raise refused
    if text.lstrip("-").isdigit():
        value = int(text)
    else:
        try:
            moment = datetime.fromisoformat(text)
            if moment.tzinfo is None:
                moment = moment.replace(tzinfo=UTC)
            delta = moment - datetime(1970, 1, 1, tzinfo=UTC)
        except (ValueError, OverflowError) as exc:
            raise refused from exc
        value = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
    if not MIN_TIME_US <= value <= MAX_TIME_US:
        raise refused
    return value


def filter_text(value: str | None, name: str) -> str | None:
    """A history filter: plain text PostgreSQL can hold (no NUL), of a sane length; None when absent."""
    if not value:
        return None
    if "\x00" in value or len(value) > MAX_FILTER:
        raise BadRequest(400, f"{name}: expected a name of at most {MAX_FILTER} characters without NUL")
    return value


@overload
def body_text(body: dict, key: str, *, required: Literal[True], limit: int = MAX_COMMENT) -> str: ...
@overload
def body_text(body: dict, key: str, *, required: bool = False, limit: int = MAX_COMMENT) -> str | None: ...
def body_text(body: dict, key: str, *, required: bool = False, limit: int = MAX_COMMENT) -> str | None:
    value = body.get(key)
    if value is None or value == "":
        if required:
            raise BadRequest(400, f"{key} is required")
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise BadRequest(400, f"{key}: expected text of at most {limit} characters")
    return value


async def json_body(request: Request) -> dict:
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise BadRequest(415, "send JSON")
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError as exc:
        raise BadRequest(400, "malformed JSON") from exc
    if not isinstance(body, dict):
        raise BadRequest(400, "expected a JSON object")
    return body
