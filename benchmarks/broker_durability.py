"""What a Mosquitto kill -9 loses of acknowledged messages, and what its persistence costs (issue 19).

Two cases, per broker setting (docker/mosquitto/mosquitto.conf with the autosave lines replaced):

* ``offline``: an offline ingest session (the ingest's identity and subscription) queues N QoS 1
  messages of a buoy's size; the broker is killed right after the last PUBACK, restarted, and the
  session drained. Messages lost; broker CPU and bytes written (``/proc/<pid>/io`` write_bytes)
  while they arrived; bytes/s written afterwards while the restored backlog just waits.
* ``online``: the real ingest running against Tansu, a paced publisher, the broker killed
  ``--kills`` times. Acknowledged messages that never reached Kafka (what ingest produces; it
  acknowledges only what Kafka holds) per kill; broker CPU and write rate over the run.

    .venv/bin/python -m benchmarks.broker_durability [messages] [--case offline|online|both]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import psutil

from benchmarks.ingested import ingested_messages, not_ingested
from benchmarks.load import LoadPlan, LoadProcess
from benchmarks.pipeline import bench_registry
from schemas.contract import readings_topic
from services.config import Settings, load_settings
from services.stack.kafka import start_tansu
from services.stack.mqtt import PrivateBroker, prepare_private_broker, run_broker
from services.stack.pipeline import Pipeline
from services.stack.process import Child
from tests.support.mqtt_broker import drain, publish_acknowledged, subscribe_and_leave

SETTINGS = {
    "autosave_interval 30 (before)": ("autosave_on_changes false", "autosave_interval 30"),
    "autosave_interval 1 (shipped)": ("autosave_on_changes false", "autosave_interval 1"),
    "autosave_on_changes, every 1000": ("autosave_on_changes true", "autosave_interval 1000"),
    "autosave_on_changes, every 100": ("autosave_on_changes true", "autosave_interval 100"),
    "queue bounded: max_queued_messages 1000": (
        "autosave_on_changes false",
        "autosave_interval 1",
        "max_queued_messages 1000",
    ),
}
MESSAGE_BYTES = 230  # a buoy's eight readings as benchmarks.load sends them
IDLE_S = 5.0
DRAIN_S = 60.0  # online: how long a message may take to reach Kafka after the load stops
DRAIN_QUIET_S = 10.0  # online: ingest connected and nothing more reached Kafka for this long: done


@dataclass
class BrokerMeter:
    """CPU seconds and bytes written by every incarnation of the broker (each starts from zero)."""

    cpu_s: float = 0.0
    written: int = 0

    def add(self, child: Child) -> None:
        cpu_s, written = _snapshot(child)
        self.cpu_s += cpu_s
        self.written += written


def _snapshot(child: Child) -> tuple[float, int]:
    process = psutil.Process(child.process.pid)
    return sum(process.cpu_times()[:2]), process.io_counters().write_bytes


def _option(line: str) -> str:
    return line.split(None, 1)[0] if line.strip() else ""


def shipped_broker(work: Path, lines: tuple[str, ...]) -> PrivateBroker:
    """A private broker with the shipped settings, ``lines`` replacing the options they name."""
    broker = prepare_private_broker(work / uuid.uuid4().hex[:6])
    replaced = {_option(line) for line in lines}
    kept = [line for line in broker.config.read_text().splitlines() if _option(line) not in replaced]
    broker.config.write_text("\n".join(kept + list(lines)) + "\n")
    return broker


async def offline_round(label: str, lines: tuple[str, ...], messages: int, work: Path) -> dict[str, object]:
    broker = shipped_broker(work, lines)
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"bd{uuid.uuid4().hex[:8]}"
    log = broker.config.parent / "mqtt.log"
    child = await run_broker(broker, log)
    await subscribe_and_leave(broker, settings, network)
    (cpu0, written0), wall0 = _snapshot(child), time.perf_counter()
    topic = readings_topic(network, "s1")
    acked = publish_acknowledged(broker.url("gateway"), topic, messages, size_bytes=MESSAGE_BYTES)
    wall = time.perf_counter() - wall0
    cpu, written = (a - b for a, b in zip(_snapshot(child), (cpu0, written0), strict=True))
    child.kill()
    child = await run_broker(broker, log)
    try:
        idle0 = _snapshot(child)
        await asyncio.sleep(IDLE_S)  # the restored backlog waits for ingest
        idle_cpu, idle = ((a - b) / IDLE_S for a, b in zip(_snapshot(child), idle0, strict=True))
        kept = len(await drain(broker, settings))
    finally:
        child.stop()
    return {
        "setting": label,
        "acked": acked,
        "lost": acked - kept,
        "publish_s": wall,
        "broker_cpu_s": cpu,
        "written_mb_s": written / wall / 1e6,
        "idle_mb_s": idle / 1e6,
        "idle_cpu": idle_cpu,
    }


async def online_round(label: str, lines: tuple[str, ...], args: argparse.Namespace, work: Path) -> dict:
    broker = shipped_broker(work, lines)
    log = broker.config.parent / "mqtt.log"
    network = f"bo{uuid.uuid4().hex[:8]}"
    child = await run_broker(broker, log)
    tansu, kafka_url = await start_tansu(work / f"tansu-{network}")
    settings = load_settings().with_(
        mqtt_url=broker.url("ingest"),
        mqtt_publish_url=broker.url("gateway"),
        mqtt_alerts_url=broker.url("alerts"),
        kafka_url=kafka_url,
        registry_path=str(bench_registry(work / f"registry-{network}.yaml", network, args.stations)),
        ingest_max_inflight=args.ingest_inflight or load_settings().ingest_max_inflight,
    )
    pipeline = Pipeline(settings, network, work / f"logs-{network}")
    meter = BrokerMeter()
    try:
        await pipeline.start_ingest()
        plan = LoadPlan(
            broker.url("gateway"),
            network,
            args.stations,
            args.rate,
            24 * 3600,
            time.time_ns() // 1000 + 1_000_000,
        )
        load = LoadProcess(plan, work, keep_acks=True)
        started = time.monotonic()
        kills_us: list[int] = []
        for _ in range(args.kills):
            await asyncio.sleep(args.every)
            meter.add(child)
            kills_us.append(time.time_ns() // 1000)
            child.kill()
            child = await run_broker(broker, log)
        await asyncio.sleep(args.every)
        load.stop()
        report = await load.wait()
        wall = time.monotonic() - started
        meter.add(child)
        acked = np.flatnonzero(load.acked())
        deadline = time.monotonic() + DRAIN_S
        last, since = -1, time.monotonic()
        while True:  # until ingest has taken what the broker still holds (a slow machine: later)
            missing = not_ingested(plan, acked, await ingested_messages(settings.kafka_bootstrap))
            if len(missing) != last:
                last, since = len(missing), time.monotonic()
            # Lost at a kill, they never come: once ingest (connected again) has taken nothing for
            # DRAIN_QUIET_S, the broker holds nothing more for it (waiting out DRAIN_S took 60 s).
            quiet = time.monotonic() - since >= DRAIN_QUIET_S and _connected_since_last_kill(pipeline)
            if not len(missing) or quiet or time.monotonic() > deadline:
                break
            await asyncio.sleep(2)
    finally:
        pipeline.stop()
        child.stop()
        tansu.stop()
    return {
        "setting": label,
        "acked": report.acked,
        "lost": len(missing),
        "lost_per_kill": len(missing) / args.kills,
        "lost_publish_us": plan.times_us(missing).tolist(),  # scheduled publish times (UTC µs)
        "kills_us": kills_us,
        "max_lag_s": report.max_lag_s,
        "broker_cpu_s": meter.cpu_s,
        "cpu_share": meter.cpu_s / wall,
        "written_mb_s": meter.written / wall / 1e6,
    }


def _connected_since_last_kill(pipeline: Pipeline) -> bool:
    """Ingest's log ends with a subscription (it reconnected after the last broker restart)."""
    assert pipeline.ingest is not None
    log = pipeline.ingest.log_path.read_text(errors="replace")
    return log.rfind("ingest subscribed") > log.rfind("MQTT connection lost")


async def main(args: argparse.Namespace) -> None:
    chosen = {k: v for k, v in SETTINGS.items() if not args.only or any(o in k for o in args.only)}
    with tempfile.TemporaryDirectory() as work:
        if args.case in ("offline", "both"):
            print(
                f"Offline ingest, {args.messages:,} messages of {MESSAGE_BYTES} B, kill after the last PUBACK"
            )
            print(
                "| setting | acknowledged | lost | publish s | broker CPU s | write MB/s | idle: MB/s | CPU |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|---:|")
            for label, lines in chosen.items():
                r = await offline_round(label, lines, args.messages, Path(work))
                print(
                    f"| {label} | {r['acked']:,} | {r['lost']:,} | {r['publish_s']:.2f} | "
                    f"{r['broker_cpu_s']:.2f} | {r['written_mb_s']:.1f} | {r['idle_mb_s']:.1f} | "
                    f"{r['idle_cpu']:.2f} |",
                    flush=True,
                )
        if args.case in ("online", "both"):
            print(
                f"\nIngest online, {args.rate:,.0f} msg/s over {args.stations} stations, "
                f"{args.kills} broker kills {args.every:.0f} s apart"
            )
            print(
                "| setting | acknowledged | not in Kafka | per kill | broker CPU s | CPU share | write MB/s |"
            )
            print("|---|---:|---:|---:|---:|---:|---:|")
            for label, lines in chosen.items():
                r = await online_round(label, lines, args, Path(work))
                print(
                    f"| {label} | {r['acked']:,} | {r['lost']:,} | {r['lost_per_kill']:.1f} | "
                    f"{r['broker_cpu_s']:.2f} | {r['cpu_share']:.3f} | {r['written_mb_s']:.2f} |",
                    flush=True,
                )


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("messages", type=int, nargs="?", default=20_000, help="offline backlog")
    parser.add_argument("--case", choices=("offline", "online", "both"), default="both")
    parser.add_argument("--only", nargs="*", help="settings whose label contains one of these")
    parser.add_argument("--rate", type=float, default=200, help="online: messages/s")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--kills", type=int, default=5)
    parser.add_argument("--every", type=float, default=4.0, help="online: seconds between kills")
    parser.add_argument("--ingest-inflight", type=int, help="online: TIDEWATCH_INGEST_MAX_INFLIGHT")
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
