"""Recurring silences created in the console: their table, and the runner that turns each occurrence
into an ordinary silence action on the alert-inputs log when it begins.

The runner lives in the console's process (``tidewatch api``): every ``check_s`` it looks at the
schedules and submits the occurrence running now, once, as a ``silence`` action whose id is
``{schedule}@{start µs}`` and whose time is the occurrence's start. The engine applies it in log order
like any silence (a replay gives the same events); two API processes submitting it both store one
silence and change no alert twice. An occurrence missed while no console ran starts late, when one
runs again, and still ends on time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from alerts.schedules import SilenceSchedule
from schemas.actions import AlertAction, SilenceAction, action_document
from services.console.actions import ActionsUnavailable
from services.db.timestamps import us

log = logging.getLogger("tidewatch.console")

COLUMNS = f"""id, station_id AS station, rule, start_minute, duration_min, weekdays, timezone,
    created_by AS actor, comment, {us("created_at")} AS created_us"""


def schedule_of(row: asyncpg.Record | dict) -> SilenceSchedule:
    fields = ("id", "station", "rule", "start_minute", "duration_min", "timezone", "actor", "comment")
    return SilenceSchedule(**{f: row[f] for f in fields}, weekdays=frozenset(row["weekdays"]))


async def store_schedule(conn: asyncpg.Connection, schedule: SilenceSchedule) -> None:
    await conn.execute(
        """
        INSERT INTO silence_schedules (id, station_id, rule, start_minute, duration_min, weekdays, timezone,
                                       created_by, comment)
        VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
        """,
        schedule.id,
        schedule.station,
        schedule.rule,
        schedule.start_minute,
        schedule.duration_min,
        sorted(schedule.weekdays),
        schedule.timezone,
        schedule.actor,
        schedule.comment,
    )


async def active_schedules(conn: asyncpg.Connection) -> list[dict]:
    rows = await conn.fetch(f"SELECT {COLUMNS} FROM silence_schedules WHERE removed_at IS NULL ORDER BY id")
    return [dict(r) | {"weekdays": list(r["weekdays"])} for r in rows]


async def remove_schedule(conn: asyncpg.Connection, schedule_id: str) -> bool:
    status = await conn.execute(
        "UPDATE silence_schedules SET removed_at = now() WHERE id = $1 AND removed_at IS NULL", schedule_id
    )
    return status != "UPDATE 0"


async def stored_silence_ids(conn: asyncpg.Connection, ids: list[str]) -> set[str]:
    rows = await conn.fetch("SELECT id FROM silences WHERE id = ANY($1::text[])", ids)
    return {r["id"] for r in rows}


class ScheduleRunner:
    """Submit each schedule's running occurrence once as a silence action."""

    def __init__(
        self,
        pool: Callable[[], Awaitable[asyncpg.Pool]],
        actions: Callable[[AlertAction], Awaitable[None]],
        check_s: float = 30.0,
    ) -> None:
        self.pool, self.actions, self.check_s = pool, actions, check_s
        self.submitted: set[str] = set()
        self.task: asyncio.Task | None = None

    async def run_once(self, now_us: int | None = None) -> list[dict]:
        """The silence actions submitted for occurrences running at `now_us` (default: now)."""
        now_us = time.time_ns() // 1000 if now_us is None else now_us
        async with (await self.pool()).acquire() as conn:
            due = []
            for row in await active_schedules(conn):
                schedule = schedule_of(row)
                running = schedule.current(now_us)
                if running is not None and (silence := schedule.silence(*running)).id not in self.submitted:
                    due.append(silence)
            stored = await stored_silence_ids(conn, [s.id for s in due])
        submitted = []
        for silence in due:
            if silence.id not in stored:
                action = SilenceAction(
                    id=silence.id,
                    station=silence.station,
                    rule=silence.rule,
                    ends_us=silence.ends_us,
                    actor=silence.actor,
                    time_us=silence.created_us,
                    comment=silence.comment,
                )
                await self.actions(action)
                submitted.append(action_document(action))
            self.submitted.add(silence.id)
        return submitted

    def start(self) -> None:
        if self.task is None:
            self.task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task
            self.task = None

    async def _run(self) -> None:
        while True:
            try:
                await self.run_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ActionsUnavailable) as exc:
                log.warning("recurring silences not submitted (%s); retrying in %.0f s", exc, self.check_s)
            await asyncio.sleep(self.check_s)
