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

from schemas.registry import load_registry
from services.config import Settings
from services.db.connect import drop_database, ensure_database
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


def _scrape(port: int) -> str:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            return response.read().decode()
    except OSError:
        return ""  # still starting


def _total(text: str, name: str) -> float:
    """Sum every series of a metric in a Prometheus text page."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if (line.startswith(name + "{") or line.startswith(name + " ")) and not line.startswith("#")
    )


def _stations_reporting(text: str, within_s: float = 3600.0) -> int:
    """Stations whose newest stored reading is less than an hour of data time old (replay-safe)."""
    times = [
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("tidewatch_station_last_seen_timestamp_seconds{")
    ]
    newest = max(times, default=0.0)
    return sum(1 for t in times if t > 0 and newest - t < within_s)


async def _progress(
    ingest_port: int, worker_port: int, children: list[Child], stop: asyncio.Event, deadline: float | None
) -> None:
    """One live line from the two processes' metrics: nothing here scans a table."""
    started, last_stored = time.monotonic(), None
    try:
        while not stop.is_set():
            ingest, worker = _scrape(ingest_port), _scrape(worker_port)
            stored = _total(worker, "tidewatch_readings_stored_total")
            rate = "" if last_stored is None else f" ({(stored - last_stored) / 2:,.0f}/s)"
            last_stored = stored
            print(
                f"\r[{time.monotonic() - started:5.0f} s] readings received "
                f"{_total(ingest, 'tidewatch_ingest_readings_total'):,.0f} · stored {stored:,.0f}{rate} · "
                f"refused {_total(ingest, 'tidewatch_ingest_refused_total'):,.0f} "
                f"(dead letters {_total(worker, 'tidewatch_dead_letters_stored_total'):,.0f}) · "
                f"stations {_stations_reporting(worker)} · "
                f"indicators {_total(worker, 'tidewatch_indicators_total'):,.0f} · "
                f"alerts firing {_total(worker, 'tidewatch_open_alerts'):,.0f}   ",
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
        print()


async def _fresh_database(url: str, name: str = "tidewatch_demo") -> str:
    demo_url = f"{url.rsplit('/', 1)[0]}/{name}"
    await drop_database(demo_url)
    await ensure_database(demo_url)
    return demo_url


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
        if stack.mqtt_broker is not None:
            broker = stack.mqtt_broker
            print(
                "  MQTT accounts: no anonymous access. Each station logs in as its own account"
                " (username = station id; it may publish only tidewatch/v1/<network>/<station>/readings):"
                f" `tidewatch station credentials <station> --password-file {broker.password_file}`."
                " Here the simulator publishes as the `gateway` account. TLS:"
                f" mqtts://127.0.0.1:{broker.tls_port} with CA {broker.ca_file}"
            )
        if "Tansu" in " ".join(stack.notes):
            print("  Kafka: Tansu keeps topics in memory only (lost on restart); production: a durable Kafka")
        # The demo replays the same deterministic days each run: start it on an empty database of its
        # own, so a second run shows new rows, not duplicates of the first.
        stack.settings = stack.settings.with_(database_url=await _fresh_database(stack.settings.database_url))
        print(f"  database: {stack.settings.database_url} (recreated for this run)")
        print("  " + await prepare_database(stack.settings))
        ingest_port, worker_port = free_port(), free_port()
        logs = WORK_DIR / "logs"
        network = load_registry(stack.settings.registry_path).network
        # Replay moves event time fast: look for tide refits often (a refit is due once per data day).
        pipeline = Pipeline(
            stack.settings,
            network,
            logs,
            extra_env={"TIDEWATCH_TIDE_REFIT_CHECK_S": "30", "TIDEWATCH_METRICS_PORT": str(worker_port)},
        )
        print("  starting the stream worker (joining its Kafka consumer group takes a few seconds) …")
        children.append(await pipeline.start_worker())
        pipeline.extra_env["TIDEWATCH_METRICS_PORT"] = str(ingest_port)
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
        print(
            f"  logs: {logs}/  ·  metrics: ingest http://127.0.0.1:{ingest_port}/metrics, "
            f"worker http://127.0.0.1:{worker_port}/metrics"
        )
        print(f"  data: psql {stack.settings.database_url} -c 'SELECT * FROM observations LIMIT 5'")
        print("  Ctrl-C stops everything cleanly.")
        deadline = time.monotonic() + args.seconds if args.seconds else None
        await _progress(ingest_port, worker_port, children, stop, deadline)
    finally:
        print("stopping: simulator, ingest (drains in-flight messages), worker, stack …")
        for child in reversed(children):  # simulator first, then ingest, then the worker
            await asyncio.to_thread(child.stop, 20.0)
        stack.stop()
    print("stopped.")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_demo(args, settings))
