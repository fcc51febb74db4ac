"""The API's connection pool, what the database can do (TimescaleDB? the hourly rollup?), and reads.

The pool decodes and encodes ``timestamptz`` as int µs since epoch UTC, the project's interface unit,
so no datetime object is built per row. Pages are one query; exports read through a server-side cursor
inside a read-only repeatable-read transaction, one chunk at a time, so the API's memory stays flat and
the export is one consistent snapshot.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from services.db.timestamps import use_us_timestamps

EXPORT_CHUNK_ROWS = 10_000


@dataclass(frozen=True, slots=True)
class Backend:
    timescaledb: str | None  # extension version, or None on plain PostgreSQL
    hourly_rollup: bool  # the observations_hourly continuous aggregate exists

    def describe(self) -> str:
        if not self.timescaledb:
            return "PostgreSQL: buckets with date_bin (calendar months by date arithmetic) on raw readings"
        rollup = "; hourly+ mean/min/max/count from observations_hourly" if self.hourly_rollup else ""
        return f"TimescaleDB {self.timescaledb}: buckets with time_bucket{rollup}"


async def _init_connection(conn: asyncpg.Connection) -> None:
    await use_us_timestamps(conn)
    await conn.set_type_codec(
        "jsonb", schema="pg_catalog", encoder=lambda v: orjson.dumps(v).decode(), decoder=orjson.loads
    )


async def detect_backend(conn: asyncpg.Connection) -> Backend:
    version = await conn.fetchval("SELECT extversion FROM pg_extension WHERE extname = 'timescaledb'")
    rollup = False
    if version:
        rollup = bool(
            await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates "
                "WHERE view_name = 'observations_hourly')"
            )
        )
    return Backend(version, rollup)


class Database:
    """Opened on first use (so the app also works when mounted without its lifespan), closed at exit."""

    def __init__(self, url: str, statement_timeout_ms: int, max_connections: int = 10) -> None:
        self.url = url
        self.max_connections = max_connections
        # TIDEWATCH_API_STATEMENT_TIMEOUT_MS: no API or console query runs longer.
        self.statement_timeout_ms = statement_timeout_ms
        self.export_chunk_rows = EXPORT_CHUNK_ROWS
        self._pool: asyncpg.Pool | None = None
        self._backend: Backend | None = None
        self._lock = asyncio.Lock()

    async def pool(self) -> asyncpg.Pool:
        if self._pool is None:
            async with self._lock:
                if self._pool is None:
                    pool = await asyncpg.create_pool(
                        self.url,
                        min_size=1,
                        max_size=self.max_connections,
                        init=_init_connection,
                        server_settings={
                            "application_name": "tidewatch-api",
                            "statement_timeout": f"{self.statement_timeout_ms}ms",
                            "TimeZone": "UTC",
                        },
                    )
                    async with pool.acquire() as conn:
                        self._backend = await detect_backend(conn)
                    self._pool = pool
        return self._pool

    async def backend(self) -> Backend:
        await self.pool()
        assert self._backend is not None
        return self._backend

    def connection_counts(self) -> tuple[int, int]:
        """(open, in use) connections of the pool, for the API's metrics; (0, 0) before the first query."""
        if self._pool is None:
            return 0, 0
        size = self._pool.get_size()
        return size, size - self._pool.get_idle_size()

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.close()
            self._pool = None

    async def fetch(self, sql: str, args: Sequence[Any] = ()) -> list[asyncpg.Record]:
        pool = await self.pool()
        return await pool.fetch(sql, *args)

    @contextlib.asynccontextmanager
    async def snapshot(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection inside a read-only repeatable-read transaction: several reads, one snapshot."""
        pool = await self.pool()
        async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
            yield conn

    async def chunks(
        self, conn: asyncpg.Connection, sql: str, args: Sequence[Any] = ()
    ) -> AsyncIterator[list[asyncpg.Record]]:
        """Rows in chunks through a server-side cursor on a ``snapshot`` connection."""
        chunk_rows = self.export_chunk_rows
        cursor = await conn.cursor(sql, *args)
        while True:
            rows = await cursor.fetch(chunk_rows)
            if rows:
                yield rows
            if len(rows) < chunk_rows:
                return

    async def stream(self, sql: str, args: Sequence[Any] = ()) -> AsyncIterator[list[asyncpg.Record]]:
        """Rows in chunks through a server-side cursor; the connection is held until the end."""
        async with self.snapshot() as conn:
            async for rows in self.chunks(conn, sql, args):
                yield rows
