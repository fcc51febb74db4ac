"""``tidewatch import FILE…``: historical readings straight into ``observations``, judged in batch.

Why not through Kafka and the worker: the worker stores ~6–21k readings/s on this machine (README,
"The 45,000-message runs"), faust costs ~150 µs a record, and a backfill would queue in front of
live data for the whole import; judged here in one batch per station, the readings reach the table
at 114–142k readings/s, 0.35–0.64 × plain COPY (``benchmarks/bench_import.py``). Each station's
readings are judged by the stream's own QC code together with its stored readings around them
(``judge.py``), stored with their flags, and the stored readings whose flags the new ones change are
corrected (``qc_revisions`` keeps old and new). Indicators and alerts are not computed for imported history
(not yet: the worker never sees these readings, and ``reprocess`` recomputes QC only).

Idempotent: readings whose (station, variable, time) is stored are not stored again (the first
value wins, as in ingest), and dead letters carry the file's modification time as their receive
time, so importing the same file again adds nothing.
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import pandas as pd

from schemas.records import DeadLetter, storable_text
from schemas.registry import Registry
from services.db.provenance import register_versions
from services.db.writers import insert_dead_letters
from services.history import store
from services.history.file_readings import FileReadings, RowRefusal
from services.history.judge import Columns, Judged, judge
from services.history.provenance import code_version, config_digest
from services.history.sources import iter_readings, stations_in
from services.history.validate import check
from streams.qc import QcConfig
from streams.qc.config import POSITION_VARIABLES
from streams.qc.provenance import qc_version

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


@dataclass(slots=True)
class _Pipeline:
    """One batch judged while the one before it is being written.

    Reads and QC of a batch (``reader``) overlap the COPY of the previous batch (``writer``): the
    database inserts on one core while this process judges on the other. A batch of the station
    just written waits for that write (its context includes it); with one connection for both,
    nothing overlaps.
    """

    writer: asyncpg.Connection
    reader: asyncpg.Connection | None
    config: QcConfig
    registry: Registry
    run_id: int
    received_us: int
    versions: Mapping[str, int]  # station → the QC version its flags are stored with
    counts: dict[str, int] = field(default_factory=lambda: {"stored": 0, "duplicates": 0, "flags_changed": 0})
    _pending: asyncio.Task | None = None
    _pending_station: str | None = None

    async def settle(self) -> None:
        """Wait for the write under way (before the writer's connection is used for anything else)."""
        await self._settle()

    async def _settle(self) -> None:
        if self._pending is not None:
            task, self._pending = self._pending, None
            for key, value in (await task).items():
                self.counts[key] += value

    async def add(self, station: str, part: Columns) -> None:
        if self.reader is None or self._pending_station == station:
            await self._settle()
        judged = await self._judge(self.reader or self.writer, station, part)
        await self._settle()
        self._pending = asyncio.create_task(self._write(station, judged))
        self._pending_station = station

    async def close(self, failed: bool = False) -> None:
        if failed and self._pending is not None:
            self._pending.cancel()
        try:
            await self._settle()
        except asyncio.CancelledError:
            if not failed:
                raise

    async def _judge(self, conn: asyncpg.Connection, station: str, part: Columns) -> Judged:
        config, variables = self.config, judged_with(part, self.registry.stations[station].variables)
        first, last = int(part.time_us[0]), int(part.time_us[-1])
        influence = store.influence_reach(config, station, variables)
        affected = await store.bounds(conn, station, first, last + 1, *influence)
        window = (affected[0], affected[1] + 1)
        lo, hi = await store.bounds(conn, station, *window, *store.context_reach(config, station, variables))
        stored = await store.fetch_stored(conn, station, lo, hi, variables)
        overrides = await store.manual_overrides(conn, station, lo, hi)
        return await asyncio.to_thread(judge, config, station, stored, part, window, overrides)

    async def _write(self, station: str, judged: Judged) -> dict[str, int]:
        version = self.versions.get(station)
        stored = await store.copy_new(self.writer, station, judged.new, self.received_us, version)
        changed = await store.write_changed(
            self.writer,
            self.run_id,
            station,
            judged.changed,
            judged.old_flag,
            judged.old_code,
            self.received_us,
            version,
        )
        return {"stored": stored, "duplicates": judged.duplicates, "flags_changed": changed}


def judged_with(part: Columns, measured: Iterable[str]) -> list[str]:
    """The variables whose stored readings judging ``part`` needs: its own (QC judges each series on its
    own), and both positions when either comes (the location test pairs them). A block of a file in
    the export's order holds one variable of a station: judged without the station's other series."""
    wanted = set(part.variable.tolist())
    if wanted & set(POSITION_VARIABLES):
        wanted |= set(POSITION_VARIABLES)
    return sorted(wanted & set(measured))


def _mtime_us(path: Path) -> int:
    return os.stat(path).st_mtime_ns // 1000


async def import_file(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, run_id: int,
    blocks: Iterable[FileReadings], path: Path, progress: Callable[[str], None],
    reader: asyncpg.Connection | None = None,
) -> FileCounts:  # fmt: skip
    """Check, judge and store one file's readings a block of the file at a time (``iter_readings``):
    within a block station by station, in batches in time order. A block's readings are judged with
    the stored readings around them, so the blocks of a file need no order between them."""
    started = time.perf_counter()
    received_us = time.time_ns() // 1000
    counts = FileCounts()
    versions: dict[str, int] = {}
    pipeline = _Pipeline(conn, reader, config, registry, run_id, received_us, versions)
    done = 0
    try:
        for readings in blocks:
            checked = check(registry, readings, received_us)
            refusals = readings.refused + checked.refused
            counts.read += len(readings) + len(readings.refused)
            counts.refused += len(refusals)
            counts.ignored = readings.ignored
            await pipeline.settle()  # the block's dead letters and versions go on the writer's connection
            counts.dead_letters += await insert_dead_letters(
                conn, letters_of(path, readings.row_label, refusals, _mtime_us(path))
            )
            accepted = checked.accepted
            station_code, stations = pd.factorize(readings.station[accepted])
            unseen = [str(s) for s in stations if str(s) not in versions]
            if unseen:
                versions.update(await register_versions(conn, [qc_version(config, s) for s in unseen]))
            for k, station in enumerate(stations):
                index = accepted[station_code == k]
                index = index[np.argsort(readings.time_us[index], kind="stable")]
                for a, b in _chunks(readings.time_us[index], CHUNK_READINGS):
                    part = index[a:b]
                    await pipeline.add(
                        str(station),
                        Columns(readings.variable[part], readings.time_us[part], readings.value[part]),
                    )
                    done += len(part)
                    rate = done / (time.perf_counter() - started)
                    progress(
                        f"{path.name}: {done:,} readings stored or judged ({station}), {rate:,.0f} readings/s"
                    )
    except BaseException:
        await pipeline.close(failed=True)
        raise
    await pipeline.close()
    counts.stored = pipeline.counts["stored"]
    counts.duplicates = pipeline.counts["duplicates"]
    counts.flags_changed = pipeline.counts["flags_changed"]
    counts.seconds = time.perf_counter() - started
    return counts


async def run_import(
    conn: asyncpg.Connection, config: QcConfig, registry: Registry, paths: Sequence[Path], *,
    fmt: str | None = None, station: str | None = None, names: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None, reader: asyncpg.Connection | None = None,
) -> tuple[int, dict[str, FileCounts]]:  # fmt: skip
    """Import files in order, one run record for all; returns the run id and counts per file.

    ``reader``, a second connection, lets the next batch be read and judged while one is written."""
    say = progress or (lambda line: print(line, file=sys.stderr, flush=True))
    # Every file's format and stations first (a file that cannot be read stops the run before it stores
    # anything); the readings are then read a block at a time.
    named = set().union(*(stations_in(p, fmt, station) for p in paths))
    stations = sorted(named & set(registry.stations))
    digest = config_digest(config, stations)
    request = {"files": [str(p) for p in paths], "format": fmt, "station": station, "map": dict(names or {})}
    key = store.request_key("import", request, digest)
    run_id = await store.start_run(conn, "import", request, key, digest, code_version())
    results: dict[str, FileCounts] = {}
    try:
        for path in paths:
            blocks = iter_readings(path, fmt, station, names, frozenset(registry.variables))
            results[str(path)] = await import_file(conn, config, registry, run_id, blocks, path, say, reader)
            await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()})
    except BaseException:
        await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()}, state="failed")
        raise
    await store.save_progress(conn, run_id, {p: c.as_dict() for p, c in results.items()}, state="done")
    return run_id, results
