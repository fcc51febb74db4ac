"""How wide (in event time) the indicator states cut their readings into changelog pieces.

A piece holds about ``PIECE_SAMPLES`` sampling intervals of a station's readings, so a batch rewrites
a few kilobytes whatever the station's rate, and a width always divides a UTC day, so no piece spans
two days (the ecological state opens and closes whole days).
"""

from __future__ import annotations

PIECE_SAMPLES = 16
_MINUTE_US = 60_000_000
# Widths that divide a day, in minutes.
_DAY_DIVISORS_MIN = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60, 120, 180, 240, 360, 480, 720, 1440)


def piece_width_us(sampling_interval_s: float) -> int:
    """The widest day divisor not above ``PIECE_SAMPLES`` sampling intervals (at least one minute)."""
    target_min = PIECE_SAMPLES * sampling_interval_s / 60
    return max((m for m in _DAY_DIVISORS_MIN if m <= target_min), default=1) * _MINUTE_US
