"""The stream workers' database access: one pool per worker, and writes retried until stored.

Every agent's write goes through ``write_until_stored``: it returns only once the database has the
batch, so faust moves the batch's offsets on only after that (at-least-once; writers are idempotent).

Which errors are retried: every error that says the connection or the server failed, not the
batch. A backend terminated mid-statement surfaces as any of ``ConnectionDoesNotExistError``,
``AdminShutdownError``, ``CrashShutdownError``, ``InterfaceError`` or ``InternalClientError``
("cannot switch to state …; another operation is in progress": the protocol state of a connection
killed under it), or an ``OSError``; a retry that listed only some of them let the agent crash and
faust move on past the unstored batch. The connection that failed is terminated (never handed back
to the pool half-way through an operation) and the batch goes again on a fresh one. An error about
the data (SQLSTATE classes 22, 23, 42, …) would fail the same way forever: it is raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

import asyncpg

from services.backoff import Backoff
from services.db.connect import ensure_database
from services.db.writers import is_transient, prepare_connection
from streams.app import settings

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")
_pool: asyncpg.Pool | None = None
_pool_lock = asyncio.Lock()


async def pool() -> asyncpg.Pool:
    global _pool
    async with _pool_lock:
        if _pool is None:
            await ensure_database(settings.database_url)
            _pool = await asyncpg.create_pool(
                settings.database_url, min_size=1, max_size=4, init=prepare_connection
            )
    return _pool


async def write_until_stored(
    write: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[R]], rows: Sequence[T]
) -> R:
    """Retry one batch until the database has it: offsets only move on after this returns."""
    return await retry_until_stored(pool, write, rows)


async def retry_until_stored(
    get_pool: Callable[[], Awaitable[asyncpg.Pool]],
    write: Callable[[asyncpg.Connection, Sequence[T]], Awaitable[R]],
    rows: Sequence[T],
    initial_delay_s: float = 0.2,
    max_delay_s: float = 10.0,
) -> R:
    """Write one batch on a pooled connection, retrying on a new connection until it is stored."""
    backoff = Backoff(initial_delay_s, max_delay_s)
    while True:
        try:
            async with (await get_pool()).acquire() as conn:
                try:
                    return await write(conn, rows)
                except BaseException:
                    # Whatever state it is in, it is not reused; one that died is already back in the
                    # pool, and terminating it again raises, which would hide the error that matters.
                    with contextlib.suppress(asyncpg.InterfaceError):
                        conn.terminate()
                    raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            log.warning(
                "database write failed (%s); retrying %d rows in %.1f s", exc, len(rows), backoff.next_s
            )
            await backoff.sleep()
