"""``tidewatch demo``: the whole pipeline on one machine with a simulated station network.

Starts (or reuses) PostgreSQL, MQTT and Kafka, migrates the database, then runs a stream worker,
ingest and the simulator as child processes, printing one live line of readings received, stored
and refused. Ctrl-C stops them in pipeline order so nothing in flight is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import time
import urllib.request
from pathlib import Path

import asyncpg

from schemas.registry import load_registry
from services.config import Settings
from services.stack.launcher import start_stack
from services.stack.pipeline import CLI, Pipeline
from services.stack.process import Child, free_port, start_child

WORK_DIR = Path(".tidewatch") / "demo"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--speedup",
        type=float,
        default=14400.0,
        help="simulated seconds per real second while replaying history (default 14400: 4 h a second)",
    )
    parser.add_argument(
        "--lead-in-days",
        type=float,
        default=16.0,
        help="quiet days replayed before the demo story (default 16: enough history for a tide model, "
        "so the storm surge shows as a surge); the story itself is 10 days",
    )
    parser.add_argument(
        "--rate", type=float, default=1500.0, help="most MQTT messages a second (default 1500)"
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=0,
        help="stop by itself after this many seconds (default: run until Ctrl-C)",
    )


def _ingest_counter(port: int, name: str) -> float:
    """Sum a counter from the ingest's Prometheus endpoint (0 while it is starting)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            text = response.read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith(name) and not line.startswith("#")
    )


async def _progress(
    settings: Settings, metrics_port: int, children: list[Child], stop: asyncio.Event, deadline: float | None
) -> None:
    conn = await asyncpg.connect(settings.database_url)
    started, last_stored = time.monotonic(), None
    since = await conn.fetchval("SELECT now()")  # count this run's rows, not an earlier demo's
    try:
        while not stop.is_set():
            received = _ingest_counter(metrics_port, "tidewatch_ingest_readings_total")
            refused = _ingest_counter(metrics_port, "tidewatch_ingest_refused_total")
            stored = await conn.fetchval("SELECT count(*) FROM observations WHERE stored_at >= $1", since)
            dead = await conn.fetchval("SELECT count(*) FROM dead_letters WHERE stored_at >= $1", since)
            stations = await conn.fetchval(
                "SELECT count(DISTINCT station_id) FROM observations "
                "WHERE stored_at > now() - interval '1 minute'"
            )
            indicators = await conn.fetchval("SELECT count(*) FROM indicators WHERE computed_at >= $1", since)
            alerts = await conn.fetchval(
                "SELECT count(*) FROM alerts a WHERE state = 'firing' AND EXISTS "
                "(SELECT 1 FROM alert_events e WHERE e.alert_id = a.alert_id AND e.recorded_at >= $1)",
                since,
            )
            rate = "" if last_stored is None else f" ({(stored - last_stored) / 2:,.0f}/s)"
            last_stored = stored
            elapsed = time.monotonic() - started
            print(
                f"\r[{elapsed:5.0f} s] readings received {received:,.0f} · stored {stored:,}{rate} · "
                f"refused {refused:,.0f} (dead letters {dead:,}) · stations {stations} · "
                f"indicators {indicators:,} · alerts firing {alerts}   ",
                end="",
                flush=True,
            )
            for child in children:
                if not child.alive():
                    print(f"\n{child.name} exited ({child.process.returncode}); its log:\n{child.tail()}")
                    stop.set()
            if deadline is not None and time.monotonic() > deadline:
                stop.set()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 2.0)
    finally:
        await conn.close()
        print()


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.cli import prepare_database

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    print("tidewatch demo: starting the stack …")
    # An explicitly configured broker is used as it is; otherwise a private Mosquitto with the
    # broker settings ingest needs (see docker/mosquitto/mosquitto.conf).
    stack = await start_stack(settings, WORK_DIR, private_mqtt="TIDEWATCH_MQTT_URL" not in os.environ)
    children: list[Child] = []
    try:
        for note in stack.notes:
            print("  " + note)
        print("  database: " + await prepare_database(stack.settings))
        metrics_port = free_port()
        logs = WORK_DIR / "logs"
        network = load_registry(stack.settings.registry_path).network
        # Replay moves event time fast: look for tide refits often (a refit is due once per data day).
        pipeline = Pipeline(stack.settings, network, logs, extra_env={"TIDEWATCH_TIDE_REFIT_CHECK_S": "30"})
        print("  starting the stream worker (joining its Kafka consumer group takes a few seconds) …")
        children.append(await pipeline.start_worker())
        pipeline.extra_env["TIDEWATCH_METRICS_PORT"] = str(metrics_port)
        children.append(await pipeline.start_ingest())
        simulate = [
            *CLI,
            "simulate",
            "--speedup",
            str(args.speedup),
            "--rate",
            str(args.rate),
            "--lead-in-days",
            str(args.lead_in_days),
            "--progress-interval",
            "10",
        ]
        children.append(start_child("simulator", simulate, logs / "simulator.log", pipeline.env))
        print(f"  logs: {logs}/  ·  ingest metrics: http://127.0.0.1:{metrics_port}/metrics")
        print(f"  data: psql {stack.settings.database_url} -c 'SELECT * FROM observations LIMIT 5'")
        print("  Ctrl-C stops everything cleanly.")
        deadline = time.monotonic() + args.seconds if args.seconds else None
        await _progress(stack.settings, metrics_port, children, stop, deadline)
    finally:
        print("stopping: simulator, ingest (drains in-flight messages), worker, stack …")
        for child in reversed(children):  # simulator first, then ingest, then the worker
            await asyncio.to_thread(child.stop, 20.0)
        stack.stop()
    print("stopped.")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_demo(args, settings))
