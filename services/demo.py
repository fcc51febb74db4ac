"""``tidewatch demo``: the whole pipeline on one machine with a simulated station network.

Starts (or reuses) PostgreSQL, MQTT and Kafka, migrates the database, then runs a stream worker,
ingest, the API with the alert console, and the simulator as child processes, printing their addresses,
a demo operator's sign-in and one live line of readings received, stored and refused. The story leaves
a hazard open at live time (a failing battery at the Yalu estuary), so there is an alert to acknowledge.
Ctrl-C stops them in pipeline order so nothing in flight is lost.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from schemas.registry import load_registry
from services.config import Settings
from services.db.connect import drop_database, ensure_database
from services.stack.launcher import start_stack
from services.stack.metrics_page import metric_total, scrape_metrics
from services.stack.pipeline import CLI, Pipeline
from services.stack.process import Child, free_port, port_open, start_child, wait_for_port

WORK_DIR = Path(".tidewatch") / "demo"
DEMO_OPERATOR = ("demo", "Demo Operator · 演示值班员")
# A station counts as reporting while its newest stored reading moved within this much wall time
# (replay) or is younger than this many of its sampling intervals of wall time (live).
MOVED_WITHIN_S = 60.0
LIVE_INTERVALS = 3.0


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
    parser.add_argument(
        "--api-port",
        type=int,
        default=None,
        help="port of the API and console (default 8080 when free, else any free port)",
    )


def _last_seen(text: str) -> dict[str, float]:
    """Each station's newest stored sample time (s since the epoch) from the worker's metrics page."""
    seen = {}
    for line in text.splitlines():
        if line.startswith("tidewatch_station_last_seen_timestamp_seconds{"):
            labels, value = line.rsplit(" ", 1)
            station = labels.split('station="', 1)[1].split('"', 1)[0]
            seen[station] = float(value)
    return seen


@dataclass
class StationActivity:
    """Which stations are reporting, judged so that a fast replay does not make most look silent.

    During a replay an hour of data time passes in a fraction of a second, and the worker's Kafka
    partitions run a few seconds apart, so stations' newest data times differ by hours: comparing
    them in data time counted 2 of 14 stations. Here a station reports when its newest reading moved
    in the last `moved_within_s` of wall time (replay), or is younger than `live_intervals` of its
    sampling intervals by the wall clock (live, where a half-hourly station moves only every 30 min).
    """

    sampling_interval_s: dict[str, float]
    moved_within_s: float = MOVED_WITHIN_S
    live_intervals: float = LIVE_INTERVALS
    _seen: dict[str, tuple[float, float]] = field(default_factory=dict)  # station: (data time, moved at)

    def update(self, last_seen_s: dict[str, float], wall_s: float) -> int:
        """Record a scrape at wall time `wall_s`; return how many stations are reporting."""
        for station, data_s in last_seen_s.items():
            before = self._seen.get(station)
            if data_s > 0 and (before is None or data_s != before[0]):
                self._seen[station] = (data_s, wall_s)
        return sum(1 for station in self._seen if self.reporting(station, wall_s))

    def reporting(self, station: str, wall_s: float) -> bool:
        data_s, moved_s = self._seen[station]
        interval_s = self.sampling_interval_s.get(station, 600.0)
        return wall_s - moved_s < self.moved_within_s or wall_s - data_s < self.live_intervals * interval_s

    def data_lag_s(self, wall_s: float) -> float | None:
        """How far the newest stored reading is behind the wall clock (None before any)."""
        if not self._seen:
            return None
        return wall_s - max(data_s for data_s, _ in self._seen.values())


def describe_lag(lag_s: float | None) -> str:
    """The live line's data clock: how far the replay still is from now, or live."""
    if lag_s is None:
        return "data: none yet"
    if lag_s < 600:
        return "data: live"
    if lag_s < 2 * 86_400:
        return f"data: replay, {lag_s / 3600:.0f} h behind now"
    return f"data: replay, {lag_s / 86_400:.1f} d behind now"


async def _progress(
    ingest_port: int,
    worker_port: int,
    activity: StationActivity,
    children: list[Child],
    stop: asyncio.Event,
    deadline: float | None,
) -> None:
    """One live line from the two processes' metrics: nothing here scans a table."""
    started, last_stored = time.monotonic(), None
    try:
        while not stop.is_set():
            ingest, worker = scrape_metrics(ingest_port), scrape_metrics(worker_port)
            stored = metric_total(worker, "tidewatch_readings_stored_total")
            rate = "" if last_stored is None else f" ({(stored - last_stored) / 2:,.0f}/s)"
            last_stored = stored
            reporting = activity.update(_last_seen(worker), time.time())
            print(
                f"\r[{time.monotonic() - started:5.0f} s] readings received "
                f"{metric_total(ingest, 'tidewatch_ingest_readings_total'):,.0f} · "
                f"stored {stored:,.0f}{rate} · "
                f"refused {metric_total(ingest, 'tidewatch_ingest_refused_total'):,.0f} "
                f"(dead letters {metric_total(worker, 'tidewatch_dead_letters_stored_total'):,.0f}) · "
                f"stations {reporting}/{len(activity.sampling_interval_s)} · "
                f"indicators {metric_total(worker, 'tidewatch_indicators_total'):,.0f} · "
                f"alerts firing {metric_total(worker, 'tidewatch_open_alerts'):,.0f} · "
                f"{describe_lag(activity.data_lag_s(time.time()))}   ",
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


def _forget_broker_queue(broker_dir: Path) -> None:
    """Drop the private broker's saved state from the last run: the database is recreated each run, so
    messages still queued for ingest then belong to no run; reloaded, they were stored again as this
    run's data, and a queue of ~200 MB rewritten every second (autosave) slowed the broker to ~30 msg/s."""
    for name in ("mosquitto.db", "mosquitto.db.new"):
        (broker_dir / name).unlink(missing_ok=True)


def _api_port(requested: int | None) -> int:
    if requested is not None:
        return requested
    return 8080 if not port_open("127.0.0.1", 8080) else free_port()


async def _start_api(pipeline: Pipeline, port: int, logs: Path) -> Child:
    """`tidewatch api` (the console mounted at /console) as a child, once it accepts connections."""
    env = {**pipeline.env, "TIDEWATCH_API_PORT": str(port), "TIDEWATCH_API_HOST": "127.0.0.1"}
    env.pop("TIDEWATCH_METRICS_PORT", None)  # the API serves its metrics at /metrics on its own port
    api = start_child("api", [*CLI, "api"], logs / "api.log", env)
    await wait_for_port("127.0.0.1", port, timeout_s=60, child=api)
    return api


async def _demo_operator(database_url: str) -> tuple[str, str]:
    """A console operator for this run, with a fresh password printed once."""
    from services.console.operators import add_operator

    username, display_name = DEMO_OPERATOR
    password = secrets.token_hex(5)  # letters and digits: easy to type
    await add_operator(database_url, username, display_name, password)
    return username, password


async def _demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.db.prepare import prepare_database
    from streams.indicators.catalogue import INDICATORS

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)

    print("tidewatch demo: starting the stack …")
    private_mqtt = "mqtt_url" not in settings.given
    if private_mqtt:
        _forget_broker_queue(WORK_DIR / "mqtt")
    # An explicitly configured broker is used as it is; otherwise a private Mosquitto with the
    # broker settings ingest needs (see docker/mosquitto/mosquitto.conf).
    stack = await start_stack(settings, WORK_DIR, private_mqtt=private_mqtt)
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
        print("  " + await prepare_database(stack.settings, INDICATORS))
        ingest_port, worker_port = free_port(), free_port()
        logs = WORK_DIR / "logs"
        registry = load_registry(stack.settings.registry_path)
        network = registry.network
        # Replay moves event time fast: look for tide refits often (a refit is due once per data day).
        pipeline = Pipeline(
            stack.settings,
            network,
            logs,
            extra_env={"TIDEWATCH_TIDE_REFIT_CHECK_S": "30"},
        )
        print("  starting the stream worker (joining its Kafka consumer group takes a few seconds) …")
        children += await pipeline.start_with_metrics(worker_port, ingest_port)
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
        api_port = _api_port(args.api_port)
        children.append(await _start_api(pipeline, api_port, logs))
        username, password = await _demo_operator(stack.settings.database_url)
        children.append(start_child("simulator", simulate, logs / "simulator.log", pipeline.env))
        print(
            f"  logs: {logs}/  ·  metrics: ingest http://127.0.0.1:{ingest_port}/metrics, "
            f"worker http://127.0.0.1:{worker_port}/metrics, API http://127.0.0.1:{api_port}/metrics"
        )
        print(f"  API: http://127.0.0.1:{api_port}/docs  (e.g. /api/v1/stations)")
        print(
            f"  alert console: http://127.0.0.1:{api_port}/console/  ·  sign in as {username}"
            f" / {password} (an operator created for this run)"
        )
        print(
            "  the replay reaches live time in about 3–4 minutes; a failing battery at the Yalu estuary"
            " stays open then, for you to acknowledge on the console"
        )
        print(f"  data: psql {stack.settings.database_url} -c 'SELECT * FROM observations LIMIT 5'")
        print("  Ctrl-C stops everything cleanly.")
        deadline = time.monotonic() + args.seconds if args.seconds else None
        intervals = {sid: float(st.sampling_interval_s) for sid, st in registry.stations.items()}
        activity = StationActivity(intervals)
        await _progress(ingest_port, worker_port, activity, children, stop, deadline)
    finally:
        print("stopping: simulator, API and console, ingest (drains in-flight messages), worker, stack …")
        for child in reversed(children):  # simulator first, then the API, ingest, the worker
            await asyncio.to_thread(child.stop, 20.0)
        stack.stop()
    print("stopped.")
    return 0


def run_demo(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_demo(args, settings))
