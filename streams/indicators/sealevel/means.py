"""Hourly, daily and monthly mean sea level from exact integer partial sums.

Levels are summed as integer micrometres, so a mean does not depend on the order readings were added:
the stream (any arrival order, restarts) and the batch over the stored series give the same bits.
"""

from __future__ import annotations

import numpy as np

from streams.indicators.sealevel.tide import US_PER_DAY, US_PER_S

US_PER_HOUR = 3600 * US_PER_S
PERIODS = ("hour", "day", "month")


def to_um(levels_m: np.ndarray) -> np.ndarray:
    """Water levels in integer micrometres (sensor resolution is ~1 mm, nothing is lost)."""
    return np.rint(np.asarray(levels_m, dtype=float) * 1e6).astype(np.int64)


def period_starts(times_us: np.ndarray, period: str) -> np.ndarray:
    """Start (µs, UTC) of the hour, day or calendar month holding each time."""
    times_us = np.asarray(times_us, dtype=np.int64)
    if period in ("hour", "day"):
        length_us = US_PER_HOUR if period == "hour" else US_PER_DAY
        starts: np.ndarray = times_us - times_us % length_us
        return starts
    if period == "month":
        return (
            times_us.astype("datetime64[us]")
            .astype("datetime64[M]")
            .astype("datetime64[us]")
            .astype(np.int64)
        )
    raise ValueError(f"unknown period {period!r}")


def period_end_us(start_us: int, period: str) -> int:
    if period == "hour":
        return start_us + US_PER_HOUR
    if period == "day":
        return start_us + US_PER_DAY
    month = np.datetime64(start_us, "us").astype("datetime64[M]") + 1
    return int(month.astype("datetime64[us]").astype(np.int64))


def mean_m(n: int, sum_um: int) -> float:
    return int(sum_um) / int(n) / 1e6


def completeness_pct(n: int, start_us: int, end_us: int, sampling_interval_s: float) -> float:
    """Share of the nominal readings of the interval that arrived, capped at 100 %."""
    expected = (end_us - start_us) / (sampling_interval_s * US_PER_S)
    return min(100.0, 100.0 * n / expected)


def partial_sums(times_us: np.ndarray, level_um: np.ndarray, period: str) -> dict[int, list[int]]:
    """{period start: [count, sum µm]} over readings with unique times (exact int64 sums)."""
    starts = period_starts(times_us, period)
    order = np.argsort(starts, kind="stable")
    starts, level_um = starts[order], np.asarray(level_um, dtype=np.int64)[order]
    keys, first, counts = np.unique(starts, return_index=True, return_counts=True)
    if keys.size == 0:
        return {}
    sums = np.add.reduceat(level_um, first)
    return {k: [n, s] for k, n, s in zip(keys.tolist(), counts.tolist(), sums.tolist(), strict=True)}


def add_reading(sums: dict[int, list[int]], key: int, delta_n: int, delta_um: int) -> None:
    entry = sums.setdefault(key, [0, 0])
    entry[0] += delta_n
    entry[1] += delta_um
