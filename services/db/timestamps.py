"""µs since the epoch (the project's time unit) ↔ PostgreSQL ``timestamptz``, in SQL: one spelling each.

Both are exact: ``timestamptz`` has µs resolution. ``use_us_timestamps`` does the same conversion as a
connection's binary codec for whole columns (the API's pool, the history commands); ``ts``/``us`` are for
expressions inside a statement.
"""

from __future__ import annotations

import asyncpg

PG_EPOCH_US = 946_684_800_000_000  # 2000-01-01T00:00Z, PostgreSQL's timestamp zero


async def use_us_timestamps(conn: asyncpg.Connection) -> None:
    """``timestamptz`` columns and parameters of this connection as int µs since the epoch (no datetime)."""
    await conn.set_type_codec(
        "timestamptz",
        schema="pg_catalog",
        encoder=lambda value: (value - PG_EPOCH_US,),
        decoder=lambda value: value[0] + PG_EPOCH_US,
        format="tuple",
    )


def ts(us_sql: str) -> str:
    """SQL for a µs-since-epoch value (a parameter, column or expression) as ``timestamptz``."""
    return f"(timestamptz 'epoch' + ({us_sql})::bigint * interval '1 microsecond')"


def us(timestamptz_sql: str) -> str:
    """SQL for a ``timestamptz`` value as µs since the epoch."""
    return f"(extract(epoch FROM {timestamptz_sql}) * 1000000)::bigint"
