"""``tidewatch reprocess``: QC of stored readings judged again with the current configuration.

The range is walked in time slices (``--slice-hours``, default a day). Per slice and station the
stored readings of the slice and their context are read (``store.bounds``), judged by one fresh
``QcEngine`` over the sorted series (``judge.judge``: what the stream gives a series that arrived
in order), and the readings whose flags changed are corrected, with their old and new flags in
``qc_revisions``, in one transaction with the run's checkpoint. So a killed run resumes at the
slice it was in (the same request and configuration find their unfinished run), a run repeated
changes nothing (run twice = run once), and nothing outside [from, to) is written.

With ``indicators`` in ``what``, each station's indicators of [from, to) are then computed again
from the stored readings as they now are (``services/history/indicators.py``), in one transaction
per station; a run killed there does that part again when resumed (it is idempotent). With
``alerts``, last, each station's alerts of the range are judged again over the stored readings and
indicators and kept beside the live ones (``services/history/alerts.py``), never notified.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import asyncpg
import numpy as np
import orjson

from schemas.provenance import digest_of
from schemas.registry import Registry
from services.db.provenance import register_versions
from services.db.timestamps import ts
from services.history import store
from services.history.alerts import OUTCOMES, EngineFactory, reprocess_alerts
from services.history.indicators import reprocess_indicators
from services.history.judge import empty_columns, judge
from services.history.provenance import code_version, config_digest
from services.history.validate import iso
from streams.indicators.ecology import Climatology
from streams.qc import QcConfig
from streams.qc.provenance import qc_version

WHAT = ("qc", "indicators", "alerts")
HOUR_US = 3_600_000_000


class ReprocessError(ValueError):
    """The request cannot be run as asked (unknown station or variable, empty range, …)."""


def check_request(
    registry: Registry, stations: Sequence[str], variable: str | None, from_us: int, to_us: int,
    what: Sequence[str],
) -> None:  # fmt: skip
    unknown = [s for s in stations if s not in registry.stations]
    if unknown:
        raise ReprocessError(f"unknown station(s): {', '.join(unknown)}")
    if variable is not None:
        missing = [s for s in stations if variable not in registry.stations[s].variables]
        if missing:
            raise ReprocessError(f"{variable!r} is not measured at {', '.join(missing)}")
    if to_us <= from_us:
        raise ReprocessError("--to must be after --from")
    other = [w for w in what if w not in WHAT]
    if other:
        raise ReprocessError(f"--what {','.join(other)}: unknown (one or more of {', '.join(WHAT)})")


async def _count(
    conn: asyncpg.Connection, stations: Sequence[str], variable: str | None, a: int, b: int
) -> int:
    return await conn.fetchval(
        f"SELECT count(*) FROM observations WHERE station_id = ANY($1::text[]) "
        f"AND ($2::text IS NULL OR variable = $2) "
        f"AND time >= {ts('$3::bigint')} AND time < {ts('$4::bigint')}",
        list(stations),
        variable,
        a,
        b,
    )


async def reprocess_slice(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, run_id: int, station: str,
    variable: str | None, window: tuple[int, int], now_us: int, version: int,
) -> dict[str, Any]:  # fmt: skip
    """Judge one station's stored readings of ``window`` again; write what changed, and the QC version
    of ``window``'s readings."""
    variables = sorted(registry.stations[station].variables)
    lo, hi = await store.bounds(conn, station, *window, *store.context_reach(config, station, variables))
    stored = await store.fetch_stored(conn, station, lo, hi)
    overrides = await store.manual_overrides(conn, station, lo, hi)
    judged = judge(config, station, stored, empty_columns(), window, overrides)
    changed, old_flag, old_code = judged.changed, judged.old_flag, judged.old_code
    if variable is not None:
        pick = np.flatnonzero(changed.variable == variable)
        changed, old_flag, old_code = changed.take(pick), old_flag[pick], old_code[pick]
    inside = (stored.time_us >= window[0]) & (stored.time_us < window[1])
    if variable is not None:
        inside &= stored.variable == variable
    written = await store.write_changed(conn, run_id, station, changed, old_flag, old_code, now_us, version)
    await store.stamp_version(conn, station, variable, window, version)
    assert changed.flag is not None
    return {
        "judged": int(inside.sum()),
        "changed": written,
        "transitions": store.transitions(old_flag, changed.flag),
    }


async def run_reprocess(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, stations: Sequence[str],
    variable: str | None, from_us: int, to_us: int, *, what: Sequence[str] = ("qc",),
    slice_hours: float = 24.0, progress: Callable[[str], None] | None = None,
    climatologies: Mapping[str, Climatology] | None = None,
    new_engine: EngineFactory | None = None,
) -> tuple[int, dict[str, Any]]:  # fmt: skip
    """Reprocess, resuming an unfinished run of the same request and configuration; (run id, counts).
    ``new_engine`` makes a blank alert engine with the current rules (needed for ``alerts``)."""
    check_request(registry, stations, variable, from_us, to_us, what)
    if "alerts" in what and new_engine is None:
        raise ReprocessError("alerts: no alert engine given to judge them with")
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    stations = sorted(set(stations))
    request = {
        "stations": stations,
        "variable": variable,
        "from": iso(from_us),
        "to": iso(to_us),
        "what": list(what),
    }
    digest = config_digest(config, stations)
    if "alerts" in what and new_engine is not None:  # judged with the rules and routing too
        digest = digest_of({"qc": digest, "alerts": new_engine.digest})
    key = store.request_key("reprocess", request, digest)
    found = await store.resumable_run(conn, key)
    if found is not None:
        run_id, at, counts = found["run_id"], int(found["checkpoint_us"]), orjson.loads(found["counts"])
        say(f"resuming run {run_id} at {iso(at)}")
    else:
        run_id = await store.start_run(conn, "reprocess", request, key, digest, code_version(), from_us)
        at, counts = from_us, {"judged": 0, "changed": 0, "transitions": {}}
    if "qc" not in what:
        at = to_us
    versions = await register_versions(conn, [qc_version(config, s) for s in stations])
    total = await _count(conn, stations, variable, from_us, to_us) if "qc" in what else 0
    step = max(int(slice_hours * HOUR_US), 1)
    started, done_before = time.perf_counter(), counts["judged"]
    while at < to_us:
        end = min(at + step, to_us)
        async with conn.transaction():
            now_us = time.time_ns() // 1000
            for station in stations:
                part = await reprocess_slice(
                    conn, config, registry, run_id, station, variable, (at, end), now_us, versions[station]
                )
                store.add_counts(counts, part)
            await store.save_progress(conn, run_id, counts, end)
        at = end
        elapsed = time.perf_counter() - started
        rate = (counts["judged"] - done_before) / elapsed if elapsed > 0 else 0.0
        left = (total - counts["judged"]) / rate if rate > 0 else 0.0
        say(
            f"reprocess run {run_id}: {counts['judged']:,}/{total:,} readings to {iso(at)}, "
            f"{counts['changed']:,} flags changed, {rate:,.0f} readings/s, {left:,.0f} s left"
        )
    if "indicators" in what:
        for station in stations:
            async with conn.transaction():
                part = await reprocess_indicators(
                    conn, registry.stations[station], from_us, to_us, (climatologies or {}).get(station)
                )
            store.add_counts(counts, part)
            say(
                f"reprocess run {run_id}: {station} indicators: {part['indicators_written']:,} written, "
                f"{part['indicators_removed']:,} removed, {part['indicators_outside']:,} outside the range "
                "differ (reprocess a wider range to refresh them)"
            )
    if "alerts" in what and new_engine is not None:
        for station in stations:
            async with conn.transaction():
                part = await reprocess_alerts(conn, new_engine, run_id, station, from_us, to_us)
            store.add_counts(counts, part)
            say(
                f"reprocess run {run_id}: {station} alerts: "
                + ", ".join(f"{part[f'alerts_{k}']:,} {k}" for k in OUTCOMES)
            )
    await store.save_progress(conn, run_id, counts, to_us, state="done")
    return run_id, counts
