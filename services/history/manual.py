"""Manual QC and data status: an operator judges a range of a series good, suspect or bad
(``tidewatch qc flag``), or marks it verified (reviewed) or preliminary again (``tidewatch qc verify``).

One mechanism for the command line and the console's write routes (services/console/manual_qc.py):
both call ``flag_range`` and ``review_range``, which check the request, check that the operator is an
existing console operator with the operator or admin role, store the act with who and when, and write
the audit-log entry (the command line as ``cli:<OS login>`` from ``local``, the console as the signed-in
operator from the client's address).

A judgement is stored in ``manual_flags`` and applied at once to the stored readings in the range
(their aggregate flag, what every API view, export and SensorThings shows; the old and new flags in
``qc_revisions`` under a ``manual_qc`` run); then what depends on it is done again over the range
(``reprocess_judged``: the indicators, and the alerts as history). Import and reprocess keep it
(``judge`` applies it after the automatic tests), and so do the live worker's writes
(``services.db.writers``: a correction or a late reading inside the range is stored with the
judgement). The worker's own QC state does not know it: within ``late_horizon_s`` of live data its
indicators may be written again from the automatic flags (judge older ranges, or reprocess again).

A review is stored in ``data_reviews`` (migration 0010) and read when readings are served: a reading is
verified when the newest review covering it says so, else preliminary.
"""

from __future__ import annotations

import getpass
import time
from dataclasses import dataclass
from typing import Any

import asyncpg

from schemas.contract import EARLIEST_TIME_US
from schemas.registry import Registry
from services.api.data_status import STATUSES
from services.config import Settings
from services.console.access import record, role_at_least
from services.history import store
from services.history.alerts import engine_factory
from services.history.provenance import code_version
from services.history.reprocess import run_reprocess
from services.history.validate import iso
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.qc import load_qc_config

FLAGS = {"good": 1, "suspect": 3, "bad": 4}
DEPENDENT = ("indicators", "alerts")  # what a judgement is followed by (``reprocess_judged``)
FLAG_NAMES = {number: name for name, number in FLAGS.items()}
MAX_REASON = 500
AHEAD_US = 366 * 86_400_000_000  # a range may reach a year ahead (planned maintenance), not further


class ManualQcError(ValueError):
    """A judgement or review refused as asked (unknown station, operator without the role, …)."""


@dataclass(frozen=True, slots=True)
class Actor:
    """Who the audit log names and from where: the command line by default."""

    name: str
    client: str = "local"


def _os_login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


def cli_actor() -> Actor:
    return Actor(f"cli:{_os_login()}")


def check_range(
    registry: Registry, station: str, variable: str | None, start: int, end: int, now_us: int | None = None
) -> None:
    """A known station and variable, and a range [start, end) inside what readings can have."""
    if station not in registry.stations:
        raise ManualQcError(f"unknown station {station!r}")
    if variable is not None and variable not in registry.stations[station].variables:
        raise ManualQcError(f"{variable!r} is not measured at {station}")
    if end <= start:
        raise ManualQcError(f"to ({iso(end)}) must be after from ({iso(start)})")
    now_us = time.time_ns() // 1000 if now_us is None else now_us
    if start < EARLIEST_TIME_US:
        raise ManualQcError(f"from ({iso(start)}) is before 1990-01-01, older than any reading accepted")
    if end > now_us + AHEAD_US:
        raise ManualQcError(f"to ({iso(end)}) is more than a year ahead of now")


def _text(value: str, what: str, *, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise ManualQcError(f"a {what} needs a reason")
    if len(text) > MAX_REASON or "\x00" in text:
        raise ManualQcError(f"the reason: at most {MAX_REASON} characters, without NUL")
    return text


async def _check_operator(conn: asyncpg.Connection, operator: str) -> None:
    role = await conn.fetchval("SELECT role FROM operators WHERE username = $1", operator)
    if role is None or not role_at_least(role, "operator"):
        raise ManualQcError(f"{operator!r} is not a console operator with the operator or admin role")


async def _accepted(
    conn: asyncpg.Connection, registry: Registry, station: str, variable: str | None, start: int, end: int,
    operator: str, **asked: str,
) -> dict[str, Any]:  # fmt: skip
    """The checks judgements and reviews share; the request as the run record and the audit log keep it."""
    check_range(registry, station, variable, start, end)
    await _check_operator(conn, operator)
    return {"station": station, "variable": variable, "from": iso(start), "to": iso(end), **asked,
            "operator": operator}  # fmt: skip


async def flag_range(
    conn: asyncpg.Connection, registry: Registry, station: str, variable: str | None, start: int, end: int,
    flag: str, reason: str, operator: str, actor: Actor | None = None,
) -> tuple[int, int, int]:  # fmt: skip
    """Store and apply one judgement; (flag id, run id, readings whose flag changed)."""
    if flag not in FLAGS:
        raise ManualQcError(f"flag: one of {', '.join(FLAGS)}, not {flag!r}")
    reason = _text(reason, "manual flag", required=True)
    request = await _accepted(
        conn, registry, station, variable, start, end, operator, flag=flag, reason=reason
    )
    actor = actor or cli_actor()
    async with conn.transaction():
        key = store.request_key("manual_qc", request, "manual")
        run_id = await store.start_run(conn, "manual_qc", request, key, "manual", code_version())
        flag_id, changed = await store.add_manual_flag(
            conn, run_id, station, variable, start, end, FLAGS[flag], reason, operator
        )
        await record(conn, actor.name, "manual_qc", station, actor.client, {**request, "flag_id": flag_id})
        await store.save_progress(conn, run_id, {"changed": changed}, end, state="done")
    return flag_id, run_id, changed


async def reprocess_judged(
    conn: asyncpg.Connection, settings: Settings, registry: Registry, station: str, start: int, end: int
) -> tuple[int, dict[str, Any]]:
    """What depends on a judgement, done again over its range as a reprocess run: the station's
    indicators from the stored flags as they now are, and its alerts judged again as history (never
    notified); (run id, counts). A second judgement of the same range makes another run."""
    return await run_reprocess(
        conn, load_qc_config(registry, settings.qc_config_path), registry, [station], None, start, end,
        what=DEPENDENT, progress=lambda _: None,
        climatologies=climatologies_in(settings.climatology_dir or PACKAGED_DIR, [station]),
        new_engine=engine_factory(registry, settings),
    )  # fmt: skip


async def review_range(
    conn: asyncpg.Connection, registry: Registry, station: str, variable: str | None, start: int, end: int,
    status: str, note: str, operator: str, actor: Actor | None = None,
) -> tuple[int, int]:  # fmt: skip
    """Mark [start, end) of a series verified or preliminary; (review id, stored readings in the range)."""
    if status not in STATUSES:
        raise ManualQcError(f"status: one of {', '.join(STATUSES)}, not {status!r}")
    note = _text(note, "review", required=False)
    request = await _accepted(
        conn, registry, station, variable, start, end, operator, status=status, note=note
    )
    actor = actor or cli_actor()
    async with conn.transaction():
        review_id, readings = await store.add_review(
            conn, station, variable, start, end, status, note, operator
        )
        detail = {**request, "review_id": review_id}
        await record(conn, actor.name, "data_review", station, actor.client, detail)
    return review_id, readings


def flag_documents(rows: list[asyncpg.Record]) -> list[dict]:
    """``store.list_manual_flags`` rows as the API and the console list them."""
    return [
        {
            "flag_id": r["flag_id"], "station_id": r["station_id"], "variable": r["variable"],
            "start": iso(r["a"]), "end": iso(r["b"]), "flag": r["flag"], "flag_name": FLAG_NAMES[r["flag"]],
            "reason": r["reason"], "operator": r["operator"], "created": iso(r["created_us"]),
            "run_id": r["run_id"],
        }
        for r in rows
    ]  # fmt: skip


def review_documents(rows: list[asyncpg.Record]) -> list[dict]:
    """``store.list_reviews`` rows as the API and the console list them."""
    return [
        {
            "review_id": r["review_id"], "station_id": r["station_id"], "variable": r["variable"],
            "start": iso(r["a"]), "end": iso(r["b"]), "status": r["status"], "note": r["note"],
            "operator": r["operator"], "created": iso(r["created_us"]),
        }
        for r in rows
    ]  # fmt: skip
