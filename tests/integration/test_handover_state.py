"""A second worker joining takes over state the first one wrote, all of it (issue 12).

One worker computes the sea-level indicators of the sample network's first hours; a second worker
joins (a graceful rebalance: half the partitions move, with their state tables) and the next hours
of the same UTC day follow. Every gauge's hourly and daily mean sea level must then equal the mean
of its stored QC-good water levels, on the moved partitions and on the kept ones. Tansu reported
the end of a changelog partition as the start of its last batch + 1 and recovery stopped there: the
worker taking a partition over restored the state without the tail of the last write (for a gauge
whose whole last write was one batch, no state at all: "rebuilt from scratch") and the daily means
left those readings out.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from schemas.records import partition_for
from schemas.registry import load_registry
from services.config import Settings
from services.db.connect import drop_database
from services.simulate.model import Simulation
from services.simulate.scenario import default_scenario
from services.stack.launcher import Stack
from services.stack.pipeline import CLI, wait_for_log
from services.stack.process import start_child
from tests.support.pipeline import Publisher, pipeline_on_own_database, stop_together, wait_until_worked_off

pytestmark = pytest.mark.integration
START_US = 1_790_000_000 * 1_000_000  # 2026-09-21 13:33:20 UTC
HOUR_US = 3_600_000_000
# Data hours from START_US: the first worker alone, then both (one UTC day, 2026-09-21 14–23 h).
FIRST, SECOND = (1 * HOUR_US, 5 * HOUR_US), (5 * HOUR_US, 10 * HOUR_US)

GOOD_LEVELS = (
    "SELECT station_id, date_trunc('hour', time) AS hour, date_trunc('day', time) AS day, value"
    " FROM observations WHERE variable = 'water_level_m' AND qc_flag = 1 AND value IS NOT NULL"
)
MEANS = (
    "SELECT station_id, indicator, time, value FROM indicators"
    " WHERE indicator IN ('msl_hourly_m', 'msl_daily_m')"
)


async def _settled(settings: Settings, conn: asyncpg.Connection) -> None:
    """The workers have committed everything they were given, and nothing new is stored."""
    await wait_until_worked_off(settings, conn, ("observations", "indicators"), quiet_s=2.0, timeout_s=180.0)


def _publish(publisher: Publisher, simulation: Simulation, window: tuple[int, int]) -> int:
    messages = simulation.messages_between(START_US + window[0], START_US + window[1])
    return publisher.publish_many([(m.station, m.payload) for m in messages], 1500)


async def test_a_joining_worker_restores_the_whole_state_of_its_partitions(
    stack: Stack, tmp_path: Path
) -> None:
    network = f"h{uuid.uuid4().hex[:8]}"
    pipeline = await pipeline_on_own_database(stack.settings, tmp_path, network, tmp_path / "logs")
    settings = pipeline.settings
    second = None
    registry = load_registry(settings.registry_path)
    simulation = Simulation(registry, default_scenario(), seed=3, start_us=START_US)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await pipeline.start_worker()
        await pipeline.start_ingest()
        publisher = Publisher(settings, network)
        try:
            await asyncio.to_thread(_publish, publisher, simulation, FIRST)
            await _settled(settings, conn)
            env = {**pipeline.env, "TIDEWATCH_DATA_DIR": str(tmp_path / "b")}
            log_path = tmp_path / "logs" / "worker-1.log"
            second = start_child("worker-1", [*CLI, "worker"], log_path, env)
            await wait_for_log(second, "Worker]: Ready", timeout_s=120)
            await asyncio.to_thread(_publish, publisher, simulation, SECOND)
        finally:
            publisher.close()
        await _settled(settings, conn)
        rows = await conn.fetch(GOOD_LEVELS)
        means = {(r["station_id"], r["indicator"], r["time"]): r["value"] for r in await conn.fetch(MEANS)}
        second_log = log_path.read_text()
    finally:
        await conn.close()
        await asyncio.to_thread(stop_together, [second, pipeline.ingest, pipeline.worker])
        pipeline.stop()
        await drop_database(settings.database_url)

    levels: dict[tuple[str, str, object], list[float]] = defaultdict(list)
    for r in rows:
        levels[r["station_id"], "msl_hourly_m", r["hour"]].append(r["value"])
        levels[r["station_id"], "msl_daily_m", r["day"]].append(r["value"])
    gauges = {s for s, _, _ in means}
    moved = {s for s in gauges if partition_for(s, settings.topic_partitions) in _partitions_of(second_log)}
    assert moved and moved != gauges, (moved, gauges)  # some gauges changed workers, some did not
    wrong = {
        key: (round(means.get(key, float("nan")), 4), round(sum(v) / len(v), 4), len(v))
        for key, v in levels.items()
        if key[0] in gauges and not abs(means.get(key, float("nan")) - sum(v) / len(v)) < 1e-6
    }
    assert not wrong, sorted(wrong.items())[:10]
    assert "not restored" not in second_log


def _partitions_of(log: str) -> set[int]:
    """The readings partitions faust assigned to the second worker (the assignment table it logs)."""
    found: set[int] = set()
    for line in log.splitlines():
        if "tidewatch.readings.v1" in line and "|" in line:
            cells = [c.strip() for c in line.split("|") if c.strip()]
            if len(cells) == 2 and cells[1].startswith("{"):
                found |= _expand(cells[1])
    return found


def _expand(cell: str) -> set[int]:
    out: set[int] = set()
    for part in cell.strip("{}").split(","):
        lo, _, hi = part.strip().partition("-")
        out |= set(range(int(lo), int(hi or lo) + 1))
    return out
