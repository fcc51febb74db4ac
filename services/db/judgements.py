"""Operators' manual QC judgements as the worker takes them up: the ones made since the newest it holds."""

from __future__ import annotations

import asyncpg

from services.db.timestamps import us

# (flag id, station, variable or None, from µs, to µs, flag), oldest first.
JudgementRow = tuple[int, str, str | None, int, int, int]


async def judgements_since(conn: asyncpg.Connection, after_id: int) -> list[JudgementRow]:
    rows = await conn.fetch(
        f"SELECT flag_id, station_id, variable, {us('time_from')} AS a, {us('time_to')} AS b, flag "
        "FROM manual_flags WHERE flag_id > $1 ORDER BY flag_id",
        after_id,
    )
    return [(r["flag_id"], r["station_id"], r["variable"], r["a"], r["b"], r["flag"]) for r in rows]
