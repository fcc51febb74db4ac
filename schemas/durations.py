"""Durations as people write them, read in one place: rule and routing files (``alerts/loader.py``) and
the API's query parameters (``services/api/params.py``). Each caller words its own refusal (the file,
rule and field; the query parameter) from the ``DurationError`` reason.

Written as a number and a unit (``90s``, ``10min``, ``6 hours``, ``7d``, ``2w``; any case) or ISO 8601
(``PT1H``, ``P1DT6H``; weeks, days, hours, minutes, seconds). Months and years have no fixed length and
are refused as such. A bare ``m`` means minutes only where ``m_is_minutes`` says so (rule files, written
``for: 30m`` since the first of them); the API refuses it, as ``1m`` could mean a month there.
A number (from YAML) is seconds.
"""

from __future__ import annotations

import re

SECOND_US = 1_000_000
DAY_US = 86_400 * SECOND_US
UNITS_US = {
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
COMPACT = re.compile(r"^(\d+(?:\.\d+)?)\s*([a-z]+?)s?$")  # a number and a unit word, lower case
_ISO = re.compile(r"^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$")
_MINUTES_M = re.compile(r"^(\d+(?:\.\d+)?)\s*m$")  # case as written: 30M stays unread
_NO_FIXED_LENGTH = re.compile(r"^(\d+\s*(mo|month|y|year)s?|P.*[Y].*|P\d+M.*)$", re.I)

UNREADABLE = "unreadable"
NO_FIXED_LENGTH = "no fixed length"
NEGATIVE = "negative"


class DurationError(ValueError):
    """A value that is no duration; ``reason`` is UNREADABLE, NO_FIXED_LENGTH or NEGATIVE."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def parse_duration_us(value: object, *, m_is_minutes: bool = False) -> int:
    """A duration (text, or a number of seconds) → microseconds; never negative."""
    if isinstance(value, bool):
        raise DurationError(UNREADABLE)
    if isinstance(value, int | float):
        if value < 0:
            raise DurationError(NEGATIVE)
        return round(float(value) * SECOND_US)
    if not isinstance(value, str):
        raise DurationError(UNREADABLE)
    raw = value.strip()
    iso = _ISO.match(raw.upper())
    if iso and raw.upper() not in ("P", "PT") and not raw.upper().endswith("T"):
        weeks, days, hours, minutes, seconds = iso.groups()
        return (
            int(weeks or 0) * 7 * DAY_US
            + int(days or 0) * DAY_US
            + int(hours or 0) * 3600 * SECOND_US
            + int(minutes or 0) * 60 * SECOND_US
            + round(float(seconds or 0) * SECOND_US)
        )
    if m_is_minutes and (minutes_m := _MINUTES_M.match(raw)):
        return round(float(minutes_m.group(1)) * UNITS_US["min"])
    compact = COMPACT.match(raw.lower())
    if compact and compact.group(2) in UNITS_US:
        return round(float(compact.group(1)) * UNITS_US[compact.group(2)])
    if _NO_FIXED_LENGTH.match(raw):
        raise DurationError(NO_FIXED_LENGTH)
    raise DurationError(UNREADABLE)
