"""The daily observation summary (migration 0012): kept exact by refreshing the days observation
triggers marked, and read by the report instead of a year of observation rows.

``refresh`` first claims the marked days under an exclusive advisory lock that it only takes while no
writer holds it shared (the writers' trigger holds it until their transaction ends), so the claimed
days' readings are all committed; then recomputes those days from observations and drops their
markers, a batch of days per transaction. A marker written meanwhile is not claimed and waits for the
next refresh. A station-day's variables split over two batches are right after the second.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

import asyncpg

from services.db.timestamps import us
from services.report.base import ReportError

WRITERS_LOCK = 74658  # held shared by the marking triggers (0012_observation_days.sql)
REFRESH_LOCK = 74659  # one refresh at a time
GAP_FLOOR_S = 3600.0  # observation_station_days keeps the gaps inside a day longer than this
CLAIM_TIMEOUT_S = 60.0
BATCH_DAYS = 1000  # (station, variable, day) per recompute transaction: ~1.4 M one-minute readings at most


@dataclass(frozen=True)
class Refreshed:
    days: int  # (station, variable, day) recomputed
    seconds: float


def _interval(seconds: float) -> str:
    return f"make_interval(secs => {seconds!r})"


_CLAIM = """
WITH taken AS (
    DELETE FROM observation_days_dirty WHERE NOT claimed RETURNING station_id, variable, day
)
INSERT INTO observation_days_dirty (station_id, variable, day, claimed)
SELECT DISTINCT station_id, variable, day, true FROM taken ORDER BY 1, 2, 3
ON CONFLICT DO NOTHING
"""


def claimed_sql(batch_days: int) -> str:
    """The next batch of claimed days, with their UTC bounds, as the temporary table claimed_days."""
    return f"""CREATE TEMP TABLE claimed_days ON COMMIT DROP AS
        SELECT station_id, variable, day,
               day::timestamp AT TIME ZONE 'UTC' AS lo, (day + 1)::timestamp AT TIME ZONE 'UTC' AS hi
        FROM observation_days_dirty WHERE claimed
        ORDER BY station_id, day, variable LIMIT {int(batch_days)}"""


_RECOMPUTE = [
    """DELETE FROM observation_days d USING claimed_days c
       WHERE d.station_id = c.station_id AND d.variable = c.variable AND d.day = c.day""",
    """INSERT INTO observation_days
       SELECT c.station_id, c.variable, c.day, o.qc_flag, count(*), count(o.value), min(o.time), max(o.time),
              max(o.value)
       FROM claimed_days c JOIN observations o ON o.station_id = c.station_id AND o.variable = c.variable
        AND o.time >= c.lo AND o.time < c.hi
       GROUP BY 1, 2, 3, 4""",
    """DELETE FROM observation_station_days d USING claimed_days c
       WHERE d.station_id = c.station_id AND d.day = c.day""",
    f"""INSERT INTO observation_station_days
       SELECT c.station_id, c.day, min(g.t), max(g.t),
              coalesce(array_agg(g.prev ORDER BY g.t) FILTER (WHERE g.t - g.prev > {_interval(GAP_FLOOR_S)}),
                       '{{}}'),
              coalesce(array_agg(g.t ORDER BY g.t) FILTER (WHERE g.t - g.prev > {_interval(GAP_FLOOR_S)}),
                       '{{}}')
       FROM (SELECT DISTINCT station_id, day, lo, hi FROM claimed_days) c
       CROSS JOIN LATERAL (  -- each variable of the day by its primary-key range: no scan of the station
           SELECT t, lag(t) OVER (ORDER BY t) AS prev
           FROM (SELECT DISTINCT o.time AS t
                 FROM (SELECT DISTINCT variable FROM observation_days d
                       WHERE d.station_id = c.station_id AND d.day = c.day) v
                 JOIN observations o ON o.station_id = c.station_id AND o.variable = v.variable
                  AND o.time >= c.lo AND o.time < c.hi) x) g
       GROUP BY 1, 2""",
    """DELETE FROM observation_days_dirty d USING claimed_days c
       WHERE d.claimed AND d.station_id = c.station_id AND d.variable = c.variable AND d.day = c.day""",
]


class SummaryBusy(ReportError):
    """Writers kept marking days the whole time the refresh waited: try again (the API says 503)."""


async def _claim(conn: asyncpg.Connection, timeout_s: float) -> None:
    """Mark every unclaimed marker claimed once no writer transaction that marked is still open."""
    deadline = time.monotonic() + timeout_s
    while True:
        async with conn.transaction():
            if await conn.fetchval("SELECT pg_try_advisory_xact_lock($1)", WRITERS_LOCK):
                await conn.execute(_CLAIM)
                return
        if time.monotonic() > deadline:
            raise SummaryBusy(f"observation summary: writers kept the marker lock for {timeout_s:.0f} s")
        await asyncio.sleep(0.02)


async def refresh(
    conn: asyncpg.Connection, timeout_s: float = CLAIM_TIMEOUT_S, batch_days: int = BATCH_DAYS
) -> Refreshed:
    """Recompute the marked days of the summary from observations; returns how many and how long."""
    started = time.perf_counter()
    await _claim(conn, timeout_s)
    total = 0
    while True:  # in batches, so no statement or transaction grows with the backlog
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1)", REFRESH_LOCK)
            await conn.execute(claimed_sql(batch_days))
            await conn.execute("ANALYZE claimed_days")  # a temporary table has no statistics otherwise
            days = int(await conn.fetchval("SELECT count(*) FROM claimed_days"))
            for statement in _RECOMPUTE if days else []:
                await conn.execute(statement)
            await conn.execute("DROP TABLE claimed_days")
        total += days
        if days < batch_days:
            return Refreshed(total, time.perf_counter() - started)


# ---------------------------------------------------------------------------------------------------
# Reads for the report, [start, end) on UTC day boundaries.


def _days(start_us: int, end_us: int) -> tuple[str, list[object]]:
    return "day >= (to_timestamp($2 / 1e6) AT TIME ZONE 'UTC')::date AND day < (to_timestamp($3 / 1e6) "\
        "AT TIME ZONE 'UTC')::date", [start_us, end_us]  # fmt: skip


async def qc_counts(
    conn: asyncpg.Connection, ids: list[str], start_us: int, end_us: int
) -> list[asyncpg.Record]:
    """Readings per station, variable and QC flag."""
    where, args = _days(start_us, end_us)
    return await conn.fetch(
        f"""SELECT station_id, variable, qc_flag, sum(readings)::bigint AS n FROM observation_days
            WHERE station_id = ANY($1) AND {where} GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        ids, *args,
    )  # fmt: skip


async def newest_us(conn: asyncpg.Connection, ids: list[str], start_us: int, end_us: int) -> int | None:
    where, args = _days(start_us, end_us)
    return await conn.fetchval(
        f"SELECT {us('max(last_time)')} FROM observation_days WHERE station_id = ANY($1) AND {where}",
        ids, *args,
    )  # fmt: skip


async def daily_max(
    conn: asyncpg.Connection, ids: list[str], variable: str, flag: int, start_us: int, end_us: int
) -> list[asyncpg.Record]:
    """(station_id, t = the day's start µs, value = its largest value of ``flag``), by station and day."""
    where, args = _days(start_us, end_us)
    return await conn.fetch(
        f"""SELECT station_id, {us("day::timestamp AT TIME ZONE 'UTC'")} AS t, max(value_max) AS value
            FROM observation_days WHERE station_id = ANY($1) AND variable = $4 AND qc_flag = $5 AND {where}
            GROUP BY 1, day ORDER BY 1, day""",
        ids, *args, variable, flag,
    )  # fmt: skip


async def spans(
    conn: asyncpg.Connection, ids: list[str], start_us: int, end_us: int, min_gap_us: int
) -> dict[str, tuple[int, int, list[tuple[int, int]]]]:
    """Per station: first and last reading (any variable, any flag) and the gaps between consecutive
    readings longer than ``min_gap_us`` (which must be at least GAP_FLOOR_S): those inside a day are
    stored; one across midnight runs from a day's last reading to the next stored day's first."""
    if min_gap_us < GAP_FLOOR_S * 1e6:
        raise ValueError(f"the summary holds gaps over {GAP_FLOOR_S:.0f} s only")
    where, args = _days(start_us, end_us)
    rows = await conn.fetch(
        f"""SELECT station_id, {us("first_time")} AS a, {us("last_time")} AS b,
                   array(SELECT {us("x")} FROM unnest(gap_from) x) AS gap_from,
                   array(SELECT {us("x")} FROM unnest(gap_to) x) AS gap_to
            FROM observation_station_days WHERE station_id = ANY($1) AND {where} ORDER BY station_id, day""",
        ids, *args,
    )  # fmt: skip
    out: dict[str, tuple[int, int, list[tuple[int, int]]]] = {}
    for r in rows:
        sid = r["station_id"]
        if sid not in out:
            out[sid] = (r["a"], r["b"], [])
        else:
            first, last, gaps = out[sid]
            if r["a"] - last > min_gap_us:
                gaps.append((last, r["a"]))
            out[sid] = (first, r["b"], gaps)
        gaps = out[sid][2]
        gaps.extend((a, b) for a, b in zip(r["gap_from"], r["gap_to"], strict=True) if b - a > min_gap_us)
    return out
