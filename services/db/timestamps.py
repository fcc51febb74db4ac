"""µs since the epoch (the project's time unit) ↔ PostgreSQL ``timestamptz``, in SQL: one spelling each.

Both are exact: ``timestamptz`` has µs resolution. The API's pool does the same conversion in its binary
codec (services/api/db.py) for whole columns; these are for expressions inside a statement.
"""

from __future__ import annotations


def ts(us_sql: str) -> str:
    """SQL for a µs-since-epoch value (a parameter, column or expression) as ``timestamptz``."""
    return f"(timestamptz 'epoch' + ({us_sql})::bigint * interval '1 microsecond')"


def us(timestamptz_sql: str) -> str:
    """SQL for a ``timestamptz`` value as µs since the epoch."""
    return f"(extract(epoch FROM {timestamptz_sql}) * 1000000)::bigint"
