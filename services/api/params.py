"""Parsing and checking query parameters: times, ranges, buckets, aggregates, formats, cursors.

Everything a request says is turned into plain values here (int microseconds since epoch UTC, flag
tuples, whitelisted names) before any SQL is built, so a bad request is refused with a message that
names the parameter, and nothing the client typed ever reaches SQL text.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import re
from dataclasses import dataclass

from services.api.errors import ApiError

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
# Buckets start at Monday 2000-01-03 00:00 UTC: TimescaleDB's time_bucket default, used for date_bin too,
# so weekly buckets start on Mondays and every backend puts bucket edges at the same instants.
BUCKET_ORIGIN_US = int(dt.datetime(2000, 1, 3, tzinfo=dt.UTC).timestamp()) * SECOND_US
MIN_BUCKET_US = SECOND_US
MAX_BUCKET_US = 366 * DAY_US
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 100_000
DEFAULT_SPAN_US = DAY_US

_UNITS_US = {
    "s": SECOND_US,
    "sec": SECOND_US,
    "min": 60 * SECOND_US,
    "h": 3600 * SECOND_US,
    "hour": 3600 * SECOND_US,
    "d": DAY_US,
    "day": DAY_US,
    "w": 7 * DAY_US,
    "week": 7 * DAY_US,
}
_COMPACT = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+?)s?$")
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
DURATION_HELP = "a duration such as 90s, 10min, 1h, 7d, 2w or ISO 8601 PT1H, P7D (no months or years)"
TIME_HELP = (
    "UTC ISO 8601 time (2024-01-31T06:00:00Z; no offset means UTC), 'now', or relative to now: "
    "-7d, now-6h, -P1D"
)


def parse_duration_us(text: str, what: str) -> int:
    """``"10min"`` / ``"PT10M"`` → microseconds; months and years have no fixed length and are refused."""
    raw = text.strip()
    iso = _ISO.match(raw.upper())
    if iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        weeks, days, hours, minutes, seconds = iso.groups()
        total = (
            int(weeks or 0) * 7 * DAY_US
            + int(days or 0) * DAY_US
            + int(hours or 0) * 3600 * SECOND_US
            + int(minutes or 0) * 60 * SECOND_US
            + round(float(seconds or 0) * SECOND_US)
        )
        return total
    compact = _COMPACT.match(raw.lower())
    if compact and compact.group(2) in _UNITS_US:
        return round(float(compact.group(1)) * _UNITS_US[compact.group(2)])
    if re.match(r"^(\d+\s*(mo|month|y|year)s?|P.*[Y].*|P\d+M.*)$", raw, re.I):
        raise ApiError(f"{what}: {text!r} has no fixed length; use days or weeks (e.g. 30d)")
    raise ApiError(f"{what}: cannot read {text!r} as {DURATION_HELP}")


def format_time(time_us: int) -> str:
    """int µs since epoch → ``2024-01-31T06:00:00Z`` (fraction only when there is one)."""
    seconds, micros = divmod(time_us, SECOND_US)
    stamp = (dt.datetime(1970, 1, 1) + dt.timedelta(seconds=seconds)).isoformat()
    return f"{stamp}.{micros:06d}Z" if micros else f"{stamp}Z"


def parse_time_us(text: str, now_us: int, what: str) -> int:
    """Absolute ISO 8601 (naive means UTC) or relative to ``now_us``: ``now``, ``-7d``, ``now-6h``."""
    raw = text.strip()
    relative = re.match(r"^(now)?\s*([+-])\s*(.+)$", raw, re.I)
    if raw.lower() == "now":
        return now_us
    if relative and (relative.group(1) or relative.group(2) == "-") and not raw[:1].isdigit():
        sign = -1 if relative.group(2) == "-" else 1
        return now_us + sign * parse_duration_us(relative.group(3), what)
    try:
        parsed = dt.datetime.fromisoformat(raw.replace(" ", "T", 1) if len(raw) > 10 else raw)
    except ValueError:
        raise ApiError(f"{what}: cannot read {text!r} as {TIME_HELP}") from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    delta = parsed - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    return (delta.days * 86_400 + delta.seconds) * SECOND_US + delta.microseconds


@dataclass(frozen=True, slots=True)
class TimeRange:
    """Half-open [start, end) in µs since epoch UTC."""

    start_us: int
    end_us: int


def parse_range(start: str | None, end: str | None, now_us: int) -> TimeRange:
    """Defaults: end = now, start = end - 1 day; an inverted or empty range is refused."""
    end_us = parse_time_us(end, now_us, "end") if end else now_us
    start_us = parse_time_us(start, now_us, "start") if start else end_us - DEFAULT_SPAN_US
    if start_us >= end_us:
        raise ApiError(
            f"start {format_time(start_us)} is not before end {format_time(end_us)}: the range is "
            "[start, end) and must not be empty"
        )
    return TimeRange(start_us, end_us)


def parse_bucket_us(text: str | None) -> int | None:
    if not text:
        return None
    width = parse_duration_us(text, "bucket")
    if width % SECOND_US:
        raise ApiError(f"bucket: {text!r} is not a whole number of seconds")
    if not MIN_BUCKET_US <= width <= MAX_BUCKET_US:
        raise ApiError(f"bucket: {text!r} is outside 1 s … 366 days")
    return width


def bucket_floor_us(time_us: int, width_us: int) -> int:
    return time_us - (time_us - BUCKET_ORIGIN_US) % width_us


def widen_to_buckets(span: TimeRange, width_us: int) -> TimeRange:
    """With buckets the range grows to whole buckets, so every bucket returned is complete."""
    start = bucket_floor_us(span.start_us, width_us)
    end = bucket_floor_us(span.end_us - 1, width_us) + width_us
    return TimeRange(start, end)


PLAIN_AGGREGATES = ("mean", "min", "max", "count")
AGGREGATE_HELP = "comma list of mean, min, max, count, median and percentiles p0 … p100 (e.g. p5,p95,p99.9)"
DEFAULT_AGGREGATES = "mean,min,max,count"


def parse_aggregates(text: str | None) -> tuple[tuple[str, ...], tuple[float, ...]]:
    """→ (plain aggregates in whitelist order, percentiles as fractions in request order)."""
    plain: set[str] = set()
    percentiles: list[float] = []
    for word in (text or DEFAULT_AGGREGATES).lower().split(","):
        word = word.strip()
        if not word:
            continue
        if word in PLAIN_AGGREGATES:
            plain.add(word)
            continue
        match = re.fullmatch(r"p(\d{1,3}(?:\.\d{1,3})?)|median", word)
        value = 50.0 if word == "median" else float(match.group(1)) if match else -1.0
        if not 0.0 <= value <= 100.0:
            raise ApiError(f"agg: unknown aggregate {word!r}; use a {AGGREGATE_HELP}")
        fraction = round(value / 100, 6)
        if fraction not in percentiles:
            percentiles.append(fraction)
    if not plain and not percentiles:
        raise ApiError(f"agg: no aggregate named; use a {AGGREGATE_HELP}")
    return tuple(a for a in PLAIN_AGGREGATES if a in plain), tuple(percentiles)


def percentile_name(fraction: float) -> str:
    """0.9 → ``p90``, 0.999 → ``p99.9``: the column name in every output."""
    return "p" + f"{fraction * 100:.3f}".rstrip("0").rstrip(".")


def parse_format(text: str | None, allowed: tuple[str, ...]) -> str:
    chosen = (text or allowed[0]).strip().lower()
    if chosen not in allowed:
        raise ApiError(f"format: unknown format {text!r}; use one of {', '.join(allowed)}")
    return chosen


def parse_limit(limit: int | None) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    if not 1 <= limit <= MAX_LIMIT:
        raise ApiError(
            f"limit: {limit} is outside 1 … {MAX_LIMIT:,}; follow the next link for more, or use the "
            "export endpoint for everything"
        )
    return limit


def split_list(values: list[str] | None) -> list[str]:
    """``?station=a&station=b,c`` → ``["a", "b", "c"]`` (order kept, repeats dropped)."""
    out: list[str] = []
    for value in values or ():
        for part in value.split(","):
            part = part.strip()
            if part and part not in out:
                out.append(part)
    return out


CursorKey = tuple[str | int, ...]


def encode_cursor(key: CursorKey) -> str:
    """The sort key of the first row of the next page, as an opaque URL-safe token."""
    raw = json.dumps(list(key), separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(text: str | None, shape: tuple[type, ...]) -> CursorKey | None:
    """Token → key, checked against the endpoint's key ``shape`` (e.g. ``(str, str, int)``)."""
    if not text:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        if not isinstance(key, list) or len(key) != len(shape):
            raise ValueError
        if any(type(v) is not t for v, t in zip(key, shape, strict=True)):
            raise ValueError
    except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
        raise ApiError("after: not a cursor this API issued; use the next link of a previous page") from None
    return tuple(key)
