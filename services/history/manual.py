"""Manual QC: ``tidewatch qc flag`` — an operator judges a range of a series good, suspect or bad.

The judgement is stored with who (an existing console operator, role operator or admin), when and
why (``manual_flags``), applied at once to the stored readings in the range (their aggregate flag,
what every API view, export and SensorThings shows; the old and new flags in ``qc_revisions`` under a
``manual_qc`` run) and recorded in the audit log. Import and reprocess keep it (``judge`` applies it
after the automatic tests). The live worker does not know it: a reading it re-flags later (a late
neighbour within ``late_horizon_s`` of live data) gets the automatic flag again; judge ranges older
than that, or run ``tidewatch reprocess`` over the range afterwards.
"""

from __future__ import annotations

import getpass

import asyncpg

from schemas.registry import Registry
from services.console.access import record, role_at_least
from services.history import store
from services.history.provenance import code_version
from services.history.validate import iso

FLAGS = {"good": 1, "suspect": 3, "bad": 4}


class ManualQcError(ValueError):
    """A judgement refused as asked (unknown station, operator without the role, empty reason, …)."""


def _os_login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


async def flag_range(
    conn: asyncpg.Connection, registry: Registry, station: str, variable: str | None, start: int, end: int,
    flag: str, reason: str, operator: str,
) -> tuple[int, int, int]:  # fmt: skip
    """Store and apply one judgement; (flag id, run id, readings whose flag changed)."""
    if station not in registry.stations:
        raise ManualQcError(f"unknown station {station!r}")
    if variable is not None and variable not in registry.stations[station].variables:
        raise ManualQcError(f"{variable!r} is not measured at {station}")
    if flag not in FLAGS:
        raise ManualQcError(f"--flag: one of {', '.join(FLAGS)}, not {flag!r}")
    if not reason.strip():
        raise ManualQcError("a manual flag needs a --reason")
    if end <= start:
        raise ManualQcError("--to must be after --from")
    role = await conn.fetchval("SELECT role FROM operators WHERE username = $1", operator)
    if role is None or not role_at_least(role, "operator"):
        raise ManualQcError(f"{operator!r} is not a console operator with the operator or admin role")
    request = {
        "station": station, "variable": variable, "from": iso(start), "to": iso(end), "flag": flag,
        "reason": reason, "operator": operator,
    }  # fmt: skip
    async with conn.transaction():
        key = store.request_key("manual_qc", request, "manual")
        run_id = await store.start_run(conn, "manual_qc", request, key, "manual", code_version())
        flag_id, changed = await store.add_manual_flag(
            conn, run_id, station, variable, start, end, FLAGS[flag], reason.strip(), operator
        )
        await record(
            conn, f"cli:{_os_login()}", "manual_qc", station, "local", {**request, "flag_id": flag_id}
        )
        await store.save_progress(conn, run_id, {"changed": changed}, end, state="done")
    return flag_id, run_id, changed
