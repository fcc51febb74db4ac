"""µs since the epoch ↔ timestamptz in SQL (services/db/timestamps.py) on the real PostgreSQL: exact."""

from __future__ import annotations

import asyncpg
import pytest

from services.config import load_settings
from services.db.timestamps import ts, us

pytestmark = pytest.mark.integration

TIMES_US = [0, 1, -1, 1_764_633_600_123_457, 946_684_800_000_000, -631_152_000_000_001, 4_102_444_799_999_999]


async def test_microseconds_survive_the_round_trip_and_mean_utc():
    conn = await asyncpg.connect(load_settings().database_url.rsplit("/", 1)[0] + "/postgres")
    try:
        await conn.execute("SET TIME ZONE 'Asia/Shanghai'")  # the session's zone must not matter
        for time_us in TIMES_US:
            assert await conn.fetchval(f"SELECT {us(ts('$1::bigint'))}", time_us) == time_us
        text = await conn.fetchval(
            f"SELECT to_char({ts('$1')} AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')", TIMES_US[3]
        )
        assert text == "2025-12-02 00:00:00.123457"
    finally:
        await conn.close()
