"""A write retried after its connection died says why it failed (real PostgreSQL).

The worker's writes go through ``retry_until_stored``: a backend terminated under a write makes it
retry on a new connection. The log line of that retry must name the failure itself, not the cleanup
of the dead connection (asyncpg's pool has already taken it back, so terminating it again raises).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

import asyncpg
import pytest

from streams.durable_writes import retry_until_stored
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration


async def test_the_retry_names_the_error_that_made_it(caplog: pytest.LogCaptureFixture) -> None:
    tries = 0

    async def write(conn: asyncpg.Connection, rows: Sequence[int]) -> int:
        nonlocal tries
        tries += 1
        if tries == 1:  # the backend goes away mid-write, as when PostgreSQL restarts
            await conn.execute("SELECT pg_terminate_backend(pg_backend_pid())")
        return int(await conn.fetchval("SELECT $1::int", len(rows)))

    async def get_pool() -> asyncpg.Pool:
        return pool

    async with fresh_database("tidewatch_retry") as settings:
        pool = await asyncpg.create_pool(settings.database_url, min_size=1, max_size=2)
        try:
            with caplog.at_level(logging.WARNING, logger="streams.durable_writes"):
                assert await retry_until_stored(get_pool, write, [1, 2, 3], 0.01, 0.01) == 3
        finally:
            await pool.close()
    (line,) = [r.getMessage() for r in caplog.records if "database write failed" in r.getMessage()]
    assert tries == 2 and "terminat" in line and "released back to the pool" not in line, line
