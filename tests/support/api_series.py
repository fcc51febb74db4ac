"""The readings the API tests write and read back, and numpy's answers for their buckets: shared by the
API tests on PostgreSQL (tests/support/api_seeded.py seeds them for tests/integration/test_api_*.py) and
on TimescaleDB (test_api_timescale.py).

Two days of 10-minute water levels at dalian with every QC flag (LEVEL_*), and six-hourly levels at
bayuquan from mid-October 2023 through February 2024 for calendar buckets (MONTH_*).
"""

from __future__ import annotations

import datetime as dt

import numpy as np

HOUR_US = 3_600_000_000
MINUTE_US = 60_000_000
DAY0_US = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
STEP_US = 10 * MINUTE_US
N_LEVEL = 2 * 144  # two days of 10-minute water levels at dalian
FLAG_CYCLE = np.array([1, 1, 1, 2, 1, 3, 1, 1, 4, 1, 1, 9])  # every flag, good mostly


def _level_series() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    times = DAY0_US + np.arange(N_LEVEL, dtype=np.int64) * STEP_US
    values = 1.8 + np.sin(np.arange(N_LEVEL) / 12) + rng.normal(0, 0.05, N_LEVEL)
    flags = FLAG_CYCLE[np.arange(N_LEVEL) % len(FLAG_CYCLE)]
    return times, np.round(values, 6), flags


LEVEL_T, LEVEL_V, LEVEL_F = _level_series()


def utc_us(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * 1_000_000


# Calendar buckets: six-hourly water levels at bayuquan from mid-October 2023 through February 2024 (a
# leap year, across December → January), plus readings in the last microsecond of December and of
# February; all before DAY0, so the two-day tests above never see them.
MONTHS_START_US = utc_us(2023, 10, 15)
MONTHS_END_US = utc_us(2024, 3, 1)


def _month_series() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(11)
    grid = np.arange(MONTHS_START_US, MONTHS_END_US, 6 * HOUR_US, dtype=np.int64)
    times = np.sort(np.concatenate([grid, [utc_us(2024, 1, 1) - 1, MONTHS_END_US - 1]]))
    days = (times - MONTHS_START_US) / 86_400e6
    values = 2.0 - 0.3 * np.cos(days / 58) + rng.normal(0, 0.2, len(times))
    flags = FLAG_CYCLE[np.arange(len(times)) % len(FLAG_CYCLE)]
    return times, np.round(values, 6), flags


MONTH_T, MONTH_V, MONTH_F = _month_series()


def iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def numpy_aggregates(
    starts: np.ndarray,
    values: np.ndarray,
    flags: np.ndarray,
    kept: set[int],
    fractions: list[float],
    decimals: int | None = 3,
) -> list[dict]:
    """Per bucket start (readings with a kept flag; missing values not counted): what the API returns,
    readings' aggregates rounded to the resolution (water level: 1 mm), indicators' as computed."""
    keep = np.isin(flags, list(kept)) & (flags != 9)
    out = []
    for start in np.unique(starts[np.isin(flags, list(kept))]):
        chosen = values[(starts == start) & keep]
        row = {"time": iso(int(start)), "count": len(chosen)}
        if len(chosen):
            row |= {"mean": chosen.mean(), "min": chosen.min(), "max": chosen.max()}
            row |= {"median": np.median(chosen), "std": chosen.std(ddof=1) if len(chosen) > 1 else None}
            row |= {f"p{q * 100:g}": np.percentile(chosen, q * 100) for q in fractions}
        plain = ("time", "count")
        out.append({k: v if k in plain or v is None or decimals is None else round(float(v), decimals)
                    for k, v in row.items()})  # fmt: skip
    return out


def numpy_buckets(
    width_us: int, flags: set[int], fractions: list[float], decimals: int | None = 3
) -> list[dict]:
    origin = int(dt.datetime(2000, 1, 3, tzinfo=dt.UTC).timestamp()) * 1_000_000
    starts = LEVEL_T - (LEVEL_T - origin) % width_us
    return numpy_aggregates(starts, LEVEL_V, LEVEL_F, flags, fractions, decimals)


def numpy_month_starts(times_us: np.ndarray, months: int) -> np.ndarray:
    """UTC calendar bucket starts by numpy's datetime64 months, counted from January 2000."""
    since = (
        times_us.astype("datetime64[us]").astype("datetime64[M]") - np.datetime64("2000-01", "M")
    ).astype(np.int64)
    first = np.datetime64("2000-01", "M") + since // months * months
    return first.astype("datetime64[us]").astype(np.int64)


def numpy_month_buckets(
    months: int, flags: set[int], fractions: list[float], decimals: int | None = 3
) -> list[dict]:
    starts = numpy_month_starts(MONTH_T, months)
    return numpy_aggregates(starts, MONTH_V, MONTH_F, flags, fractions, decimals)
