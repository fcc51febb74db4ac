"""Two workers on the four partitions, one killed mid-run, store what one worker stores (issue 12).

The same twelve simulated hours of the sample network (the storm: surges and high waves, with the
simulator's duplicates and sensor faults) go through two pipelines, each on a stack of its own
(database, MQTT and Kafka-protocol brokers: the topics' names are fixed, so two pipelines on one
broker would each read the other's records too): one with a single worker, one with two workers in
one consumer group (two partitions each, after a rebalance that moves state), the second killed with
SIGKILL while the backlog is being
worked and started again (its partitions move to the first worker and back). Observations with their
QC flags, indicator values and alert events (ids, sequence, kind, severity, data time) must be
identical. The events' arrival stamps (received, late) are wall-clock facts of each run and are left
out.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import asyncpg
import pytest

from schemas.registry import load_registry
from services.config import Settings
from services.db.connect import drop_database
from services.simulate.model import Simulation
from services.simulate.scenario import default_scenario
from services.stack.launcher import Stack, start_stack
from services.stack.pipeline import CLI, wait_for_log
from services.stack.process import start_child
from tests.support.pipeline import (
    Publisher,
    pipeline_on_own_database,
    stop_together,
    wait_until_worked_off,
)

START_US = 1_790_000_000 * 1_000_000  # scenario hour 0
WINDOW_US = (28 * 3_600_000_000, 40 * 3_600_000_000)  # the storm: surges, high waves

OBSERVATIONS = "SELECT station_id, variable, time, value, qc_flag FROM observations ORDER BY 1, 2, 3"
INDICATOR_ROWS = "SELECT station_id, indicator, time, value FROM indicators ORDER BY 1, 2, 3"
# What a worker logs once a rebalance's assignment is restored and its streams run again.
REBALANCED = "Recovery]: Worker ready"
EVENTS = (
    "SELECT alert_id, seq, kind, severity, rule, station_id, time FROM alert_events ORDER BY alert_id, seq"
)


async def _settled(settings: Settings, conn: asyncpg.Connection, timeout_s: float = 300.0) -> None:
    """Wait until the workers have committed everything they were given and nothing new was stored
    for a while (readings, indicators and events): events are sparse, so the alert agent can be busy
    for many seconds without storing one; its committed offsets say when it is done."""
    tables = ("observations", "indicators", "alert_events")
    await wait_until_worked_off(settings, conn, tables, quiet_s=3.0, timeout_s=timeout_s)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def _run(stack: Stack, tmp: Path, workers: int) -> dict[str, list[tuple]]:
    network = f"t{uuid.uuid4().hex[:8]}"
    tmp.mkdir(parents=True)
    pipeline = await pipeline_on_own_database(stack.settings, tmp, network, tmp / f"logs-{workers}")
    settings = pipeline.settings
    others, others_env = [], []
    ingest: asyncio.Task | None = None
    try:
        first = await pipeline.start_worker()
        # Ingest starts while the other workers join (it only waits for messages meanwhile).
        ingest = asyncio.create_task(pipeline.start_ingest())
        for k in range(1, workers):
            log_path = tmp / f"logs-{workers}" / f"worker-{k}.log"
            env = {**pipeline.env, "TIDEWATCH_DATA_DIR": str(tmp / f"w{k}")}
            seen = _size(first.log_path)
            child = start_child(f"worker-{k}", [*CLI, "worker"], log_path, env)
            others.append(child)
            others_env.append(env)
            await wait_for_log(child, "Worker]: Ready", timeout_s=120)
            # The first worker gave up half its partitions and is ready again.
            await wait_for_log(first, REBALANCED, timeout_s=60, offset=seen)
        await ingest
        simulation = Simulation(
            load_registry(settings.registry_path), default_scenario(), seed=3, start_us=START_US
        )
        window = (START_US + WINDOW_US[0], START_US + WINDOW_US[1])
        # Off the event loop: the other run goes on meanwhile.
        messages = await asyncio.to_thread(lambda: list(simulation.messages_between(*window)))
        publisher = Publisher(settings, network)
        try:
            publishing = asyncio.create_task(
                asyncio.to_thread(publisher.publish_many, [(m.station, m.payload) for m in messages], 1500)
            )
            if others:
                # Mid-run, while the backlog is being worked: the second worker dies without leaving
                # its group (kill -9); the first takes its partitions over from the state tables, the
                # database and the uncommitted records, then gives them back when it restarts.
                await asyncio.sleep(3)
                seen = _size(first.log_path)
                others[0].kill()
                # The group dropped the dead member (its session timed out) and the first worker has
                # taken its partitions over.
                await wait_for_log(first, REBALANCED, timeout_s=60, offset=seen)
                others[0] = start_child(
                    "worker-1", [*CLI, "worker"], tmp / f"logs-{workers}" / "worker-1b.log", others_env[0]
                )
                await wait_for_log(others[0], "Worker]: Ready", timeout_s=120)
            await publishing
        finally:
            publisher.close()
        conn = await asyncpg.connect(settings.database_url)
        try:
            await _settled(settings, conn)
            return {
                "observations": [tuple(r) for r in await conn.fetch(OBSERVATIONS)],
                "indicators": [tuple(r) for r in await conn.fetch(INDICATOR_ROWS)],
                "events": [tuple(r) for r in await conn.fetch(EVENTS)],
            }
        finally:
            await conn.close()
    finally:
        if ingest is not None and not ingest.done():
            ingest.cancel()
        await asyncio.to_thread(stop_together, [*others, pipeline.ingest, pipeline.worker])
        pipeline.stop()
        await drop_database(settings.database_url)


@pytest.fixture(scope="module")
async def runs(stack, tmp_path_factory) -> dict[int, dict[str, list[tuple]]]:
    tmp = tmp_path_factory.mktemp("two-workers")
    # Side by side, each on its own brokers: their waits overlap.
    second = await start_stack(stack.settings, tmp / "stack-2", fresh_kafka=True, private_mqtt=True)
    try:
        one, two = await asyncio.gather(_run(stack, tmp / "workers-1", 1), _run(second, tmp / "workers-2", 2))
    finally:
        second.stop()
    return {1: one, 2: two}


def _same(runs: dict[int, dict[str, list[tuple]]], name: str) -> None:
    one, two = runs[1][name], runs[2][name]
    only_one, only_two = sorted(set(one) - set(two)), sorted(set(two) - set(one))
    assert two == one, (name, only_one[:10], only_two[:10])


@pytest.mark.timeout(900)
async def test_two_workers_store_the_readings_and_flags_one_worker_stores(runs) -> None:
    assert len(runs[1]["observations"]) > 10_000 and runs[1]["indicators"]
    _same(runs, "observations")


async def test_two_workers_raise_the_alert_events_one_worker_raises(runs) -> None:
    assert {e[2] for e in runs[1]["events"]} >= {"firing"}  # the storm raised warnings
    _same(runs, "events")


async def test_two_workers_compute_the_indicators_one_worker_computes(runs) -> None:
    _same(runs, "indicators")
