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

from schemas import durations
from services.api.errors import ApiError

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
# Buckets start at Monday 2000-01-03 00:00 UTC: TimescaleDB's time_bucket default, used for date_bin too,
# so weekly buckets start on Mondays and every backend puts bucket edges at the same instants.
BUCKET_ORIGIN_US = int(dt.datetime(2000, 1, 3, tzinfo=dt.UTC).timestamp()) * SECOND_US
# Calendar buckets count whole UTC months from January 2000, so 3 months are quarters (Jan, Apr, Jul, Oct)
# and 12 months are calendar years; TimescaleDB's time_bucket counts months from the same month.
MONTH_ORIGIN_US = int(dt.datetime(2000, 1, 1, tzinfo=dt.UTC).timestamp()) * SECOND_US
MIN_BUCKET_US = SECOND_US
MAX_BUCKET_US = 366 * DAY_US
MAX_BUCKET_MONTHS = 120
DEFAULT_LIMIT = 1_000
MAX_LIMIT = 100_000
DEFAULT_SPAN_US = DAY_US

DURATION_HELP = "a duration such as 90s, 10min, 1h, 7d, 2w or ISO 8601 PT1H, P7D (no months or years)"
TIME_HELP = (
    "UTC ISO 8601 time (2024-01-31T06:00:00Z; no offset means UTC), 'now', or relative to now: "
    "-7d, now-6h, -P1D"
)


def parse_duration_us(text: str, what: str) -> int:
    """``"10min"`` / ``"PT10M"`` → microseconds (schemas/durations.py; a bare ``m`` is refused, it could
    mean a month); months and years have no fixed length and are refused."""
    try:
        return durations.parse_duration_us(text)
    except durations.DurationError as exc:
        if exc.reason == durations.NO_FIXED_LENGTH:
            raise ApiError(f"{what}: {text!r} has no fixed length; use days or weeks (e.g. 30d)") from None
        raise ApiError(f"{what}: cannot read {text!r} as {DURATION_HELP}") from None


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


_EPOCH = dt.datetime(1970, 1, 1)
_CALENDAR_UNITS = {"mo": 1, "month": 1, "y": 12, "yr": 12, "year": 12}
_ISO_CALENDAR = re.compile(r"^P(?:(\d+)Y)?(?:(\d+)M)?$")
_ISO_WITH_CALENDAR = re.compile(r"^P[^T]*[YM]")
CALENDAR_HELP = (
    "UTC calendar months or years such as 1mo, 3mo (quarters), 6months, 1y, P3M, P1Y (up to 10 years)"
)
BUCKET_HELP = f"a fixed width ({DURATION_HELP}; 1 s … 366 d) or {CALENDAR_HELP}"


@dataclass(frozen=True, slots=True)
class Bucket:
    """A bucket width: fixed µs (``width_us``), or whole UTC calendar months (``months``; width_us 0)."""

    width_us: int = 0
    months: int = 0

    @property
    def calendar(self) -> bool:
        return self.months > 0

    @property
    def origin_us(self) -> int:
        """Where bucket edges are counted from: a Monday for fixed widths, 2000-01 for months."""
        return MONTH_ORIGIN_US if self.calendar else BUCKET_ORIGIN_US

    def floor_us(self, time_us: int) -> int:
        """Start of the bucket holding ``time_us``."""
        if not self.calendar:
            return time_us - (time_us - BUCKET_ORIGIN_US) % self.width_us
        index = _month_index(time_us)
        return _month_start_us(index - index % self.months)

    def next_us(self, start_us: int) -> int:
        """Start of the bucket after the one starting at ``start_us`` (a bucket start)."""
        if not self.calendar:
            return start_us + self.width_us
        return _month_start_us(_month_index(start_us) + self.months)


def _month_index(time_us: int) -> int:
    """Months from January 2000 to the UTC month holding ``time_us`` (negative before 2000)."""
    day = _EPOCH + dt.timedelta(microseconds=time_us)
    return (day.year - 2000) * 12 + day.month - 1


def _month_start_us(index: int) -> int:
    years, month0 = divmod(index, 12)
    return (dt.datetime(2000 + years, month0 + 1, 1) - _EPOCH) // dt.timedelta(microseconds=1)


def _calendar_months(text: str) -> int | None:
    """``"3mo"`` / ``"1y"`` / ``"P1Y6M"`` → months; None when ``text`` names no calendar unit."""
    raw = text.strip()
    iso = _ISO_CALENDAR.match(raw.upper())
    if iso and any(iso.groups()):
        years, months = iso.groups()
        return int(years or 0) * 12 + int(months or 0)
    if _ISO_WITH_CALENDAR.match(raw.upper()):
        raise ApiError(
            f"bucket: {text!r} mixes calendar months or years with days or hours; use whole months or "
            "years (P3M, P1Y) or a fixed width (P30D)"
        )
    compact = durations.COMPACT.match(raw.lower())
    if not compact:
        return None
    number, unit = compact.groups()
    if unit == "m":
        raise ApiError(
            f"bucket: {text!r} is ambiguous; write {number}min for minutes or {number}mo for months"
        )
    if unit not in _CALENDAR_UNITS:
        return None
    if "." in number:
        raise ApiError(f"bucket: {text!r}: calendar buckets are whole months or years")
    return int(number) * _CALENDAR_UNITS[unit]


def parse_bucket(text: str | None) -> Bucket | None:
    """``bucket=`` → a fixed width (``1h``, ``PT6H``) or calendar months (``3mo``, ``1y``); None: raw rows."""
    if not text:
        return None
    months = _calendar_months(text)
    if months is not None:
        if not 1 <= months <= MAX_BUCKET_MONTHS:
            raise ApiError(f"bucket: {text!r} is outside 1 month … 10 years")
        return Bucket(months=months)
    width = parse_duration_us(text, "bucket")
    if width % SECOND_US:
        raise ApiError(f"bucket: {text!r} is not a whole number of seconds")
    if not MIN_BUCKET_US <= width <= MAX_BUCKET_US:
        raise ApiError(f"bucket: {text!r} is outside 1 s … 366 days")
    return Bucket(width_us=width)


def widen_to_buckets(span: TimeRange, bucket: Bucket) -> TimeRange:
    """With buckets the range grows to whole buckets, so every bucket returned is complete."""
    try:
        start = bucket.floor_us(span.start_us)
        end = bucket.next_us(bucket.floor_us(span.end_us - 1))
    except (OverflowError, ValueError):
        raise ApiError("start, end: calendar buckets need a range within the years 1 … 9999") from None
    return TimeRange(start, end)


PLAIN_AGGREGATES = ("mean", "std", "min", "max", "count", "median")
AGGREGATE_HELP = (
    "comma list of mean, std (sample standard deviation), min, max, count, median and percentiles "
    "p0 … p100 (e.g. p5,p95,p99.9)"
)
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
        match = re.fullmatch(r"p(\d{1,3}(?:\.\d{1,3})?)", word)
        value = float(match.group(1)) if match else -1.0
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


def parse_versions(values: list[str] | None) -> list[int] | None:
    """``?version=3,7`` → ``[3, 7]`` (config version ids); None when not asked."""
    parts = split_list(values)
    if not parts:
        return None
    bad = [p for p in parts if not p.isdigit()]
    if bad:
        listed = "GET /api/v1/config-versions lists them"
        raise ApiError(f"version: {', '.join(map(repr, bad))} is not a version id; {listed}")
    return [int(p) for p in parts]


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
