"""``tidewatch import FILE…``: historical readings straight into ``observations``, judged in batch.

Why not through Kafka and the worker: the worker stores ~6–21k readings/s on this machine (README,
"The 45,000-message runs"), faust costs ~150 µs a record, and a backfill would queue in front of live
data for the whole import; judged here in one batch per station the readings reach the table at COPY
speed (``benchmarks/bench_import.py``). Each station's readings are judged by the stream's own QC code
together with its stored readings around them (``services/history/judge.py``), stored with their
flags, and the stored readings whose flags the new ones change are corrected (``qc_revisions``
keeps old and new). Indicators and alerts of imported history come from ``tidewatch reprocess``.

Idempotent: readings whose (station, variable, time) is stored are not stored again (the first
value wins, as in ingest), and dead letters carry the file's modification time as their receive
time, so importing the same file again adds nothing.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from schemas.records import DeadLetter, storable_text
from schemas.registry import Registry
from services.db.writers import insert_dead_letters
from services.history import store
from services.history.judge import Columns, judge
from services.history.provenance import code_version, config_digest
from services.history.sources import FileReadings, RowRefusal, read_file
from services.history.validate import check
from streams.qc import QcConfig

CHUNK_READINGS = 500_000  # per station and batch: bounds memory, one QC call and one COPY each


@dataclass(slots=True)
class FileCounts:
    read: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    dead_letters: int = 0
    flags_changed: int = 0
    seconds: float = 0.0
    ignored: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "read": self.read,
            "stored": self.stored,
            "duplicates": self.duplicates,
            "refused": self.refused,
            "dead_letters": self.dead_letters,
            "flags_changed": self.flags_changed,
        }


def letters_of(path: Path, label: str, refusals: Sequence[RowRefusal], received_us: int) -> list[DeadLetter]:
    source = storable_text(f"import:{path}")
    return [
        DeadLetter(received_us, source, r.reason, storable_text(f"{label} {r.row}: {r.detail}")[:4096],
                   r.payload, r.station)
        for r in refusals
    ]  # fmt: skip


def _chunks(times: np.ndarray, size: int) -> list[tuple[int, int]]:
    """Index ranges of sorted ``times`` of about ``size`` readings, never splitting one time."""
    edges = [0]
    while edges[-1] < len(times):
        cut = edges[-1] + size
        if cut >= len(times):
            edges.append(len(times))
            break
        nxt = int(np.searchsorted(times, times[cut], side="left"))
        edges.append(nxt if nxt > edges[-1] else int(np.searchsorted(times, times[cut], side="right")))
    return list(pairwise(edges))


async def import_station(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, run_id: int, station: str,
    incoming: Columns, received_us: int, chunk: int = CHUNK_READINGS,
) -> dict[str, int]:  # fmt: skip
    """Judge and store one station's accepted readings, batch by batch in time order."""
    variables = sorted(registry.stations[station].variables)
    order = np.argsort(incoming.time_us, kind="stable")
    incoming = incoming.take(order)
    counts = {"stored": 0, "duplicates": 0, "flags_changed": 0}
    for a, b in _chunks(incoming.time_us, chunk):
        part = incoming.take(np.arange(a, b))
        first, last = int(part.time_us[0]), int(part.time_us[-1])
        affected = await store.bounds(
            conn, station, first, last + 1, *store.influence_reach(config, station, variables)
        )
        window = (affected[0], affected[1] + 1)
        lo, hi = await store.bounds(
            conn, station, window[0], window[1], *store.context_reach(config, station, variables)
        )
        stored = await store.fetch_stored(conn, station, lo, hi)
        judged = judge(config, station, stored, part, window)
        counts["stored"] += await store.copy_new(conn, station, judged.new, received_us)
        counts["duplicates"] += judged.duplicates
        counts["flags_changed"] += await store.write_changed(
            conn, run_id, station, judged.changed, judged.old_flag, judged.old_code, received_us
        )
    return counts


def _mtime_us(path: Path) -> int:
    return os.stat(path).st_mtime_ns // 1000


async def import_file(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, run_id: int, readings: FileReadings,
    progress: Callable[[str], None],
) -> FileCounts:  # fmt: skip
    started = time.perf_counter()
    path = Path(readings.path)
    received_us = time.time_ns() // 1000
    checked = check(registry, readings, received_us)
    refusals = readings.refused + checked.refused
    counts = FileCounts(read=len(readings) + len(readings.refused), refused=len(refusals))
    counts.ignored = readings.ignored
    counts.dead_letters = await insert_dead_letters(
        conn, letters_of(path, readings.row_label, refusals, _mtime_us(path))
    )
    accepted = checked.accepted
    station_code, stations = pd.factorize(readings.station[accepted])
    done = 0
    for k, station in enumerate(stations):
        index = accepted[station_code == k]
        incoming = Columns(readings.variable[index], readings.time_us[index], readings.value[index])
        part = await import_station(conn, config, registry, run_id, str(station), incoming, received_us)
        counts.stored += part["stored"]
        counts.duplicates += part["duplicates"]
        counts.flags_changed += part["flags_changed"]
        done += len(index)
        elapsed = time.perf_counter() - started
        progress(
            f"{path.name}: {done:,}/{len(accepted):,} readings ({station}), {done / elapsed:,.0f} readings/s"
        )
    counts.seconds = time.perf_counter() - started
    return counts


async def run_import(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, paths: Sequence[Path], *,
    fmt: str | None = None, station: str | None = None, names: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[int, dict[str, FileCounts]]:  # fmt: skip
    """Import files in order, one run record for all; returns the run id and counts per file."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    files = [read_file(p, fmt, station, names, frozenset(registry.variables)) for p in paths]
    stations = sorted({str(s) for f in files for s in set(f.station.tolist())} & set(registry.stations))
    digest = config_digest(config, stations)
    request = {"files": [str(p) for p in paths], "format": fmt, "station": station, "map": dict(names or {})}
    key = store.request_key("import", request, digest)
    run_id = await store.start_run(conn, "import", request, key, digest, code_version())
    results: dict[str, FileCounts] = {}
    try:
        for readings in files:
            results[readings.path] = await import_file(conn, config, registry, run_id, readings, say)
            await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()})
    except BaseException:
        await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()}, state="failed")
        raise
    await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()}, state="done")
    return run_id, results
