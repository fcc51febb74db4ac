"""Soak: kill each process of the pipeline in turn under load; count sent / stored / lost / duplicated.

    python -m benchmarks.soak [--quick] [--stations 100] [--rate 800] [--interval 30] [--kafka-kill]
    make soak

The pipeline and its parts are started as the tests start them (private Mosquitto with tidewatch's
settings, fresh Tansu, a fresh database). ``benchmarks.load`` publishes at a steady rate for the
whole soak and records which messages the broker acknowledged. Every ``--interval`` seconds one
fault, in this order: ingest kill -9 (restarted), worker kill -9 (restarted), Mosquitto kill -9
(restarted on its persisted state), the worker's database connections terminated every 1.5 s for
half an interval; with ``--kafka-kill`` also Tansu kill -9 (memory storage: it restarts empty, so
this one is expected to lose what Kafka held, and it counts as lost by tidewatch). Then the load
stops and the pipeline drains.

Counted, per message of eight readings the broker acknowledged: readings stored, lost (not stored
after the drain), duplicated rows (the key forbids them: checked), and redelivered readings (written
again and absorbed by the key: a trigger on the soak database records every committed insert attempt).
A lost message is split by whether it reached ingest (the readings topic read back from Kafka, which
holds everything ingest acknowledged; ``benchmarks.ingested``):

* **lost by tidewatch**: it reached ingest and was not stored, or it never reached ingest outside the
  Mosquitto kill (the broker should have kept it for ingest);
* **lost at the broker kill**: acknowledged to the station by Mosquitto less than one autosave period
  (``autosave_interval`` + 1 s, + the publisher's lag) before its SIGKILL, never handed to ingest:
  what the README ("What a broker kill can cost") says a broker kill may lose.

Exit status 0 only when tidewatch lost nothing and the broker kill lost no more than that bound.
With ``--kafka-kill`` the restarted Tansu no longer shows what ingest took before, so a message lost
in the Mosquitto window then counts as the broker's even if ingest had it.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
import numpy as np

from benchmarks.ingested import ingested_messages, not_ingested
from benchmarks.load import LoadPlan, LoadProcess, LoadReport
from benchmarks.pipeline import READINGS_PER_MESSAGE, bench_qc_config, bench_registry
from benchmarks.sustained import drain, write_results
from services.config import load_settings
from services.db.prepare import prepare_database
from services.db.timestamps import ts
from services.stack.kafka import start_tansu
from services.stack.launcher import Stack, start_stack
from services.stack.mqtt import autosave_period_s, run_broker
from services.stack.pipeline import Pipeline
from services.stack.process import Child
from streams.indicators.catalogue import INDICATORS
from tests.support.database import fresh_database

# Every committed insert attempt on observations, including those the key turns away (ON CONFLICT
# DO NOTHING fires BEFORE triggers first): attempts − distinct keys = readings written again.
WRITE_LOG_DDL = """
CREATE UNLOGGED TABLE IF NOT EXISTS soak_observation_writes (
    station_id text, variable text, time timestamptz
);
CREATE OR REPLACE FUNCTION soak_note_write() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO soak_observation_writes VALUES (NEW.station_id, NEW.variable, NEW.time);
    RETURN NEW;
END $$;
DROP TRIGGER IF EXISTS soak_note_write ON observations;
CREATE TRIGGER soak_note_write BEFORE INSERT ON observations FOR EACH ROW EXECUTE FUNCTION soak_note_write();
"""


@dataclass
class Fault:
    name: str
    started_s: float = 0.0  # since the load started
    recovered_s: float = 0.0
    detail: str = ""


@dataclass
class SoakResult:
    load: LoadReport
    faults: list[Fault] = field(default_factory=list)
    sent_readings: int = 0
    acked_readings: int = 0
    stored_readings: int = 0
    lost_readings: int = 0
    lost_by_tidewatch: int = 0  # readings: reached ingest (in Kafka), or lost outside the broker kill
    lost_at_broker_kill: int = 0  # readings: never reached ingest, acknowledged just before the kill
    broker_kill_bound: int = 0  # readings the README allows a broker kill to lose at this rate
    lost_by_window: dict[str, int] = field(default_factory=dict)
    lost_at_s: list[float] = field(default_factory=list)  # publish times of the first lost messages
    duplicate_rows: int = 0
    redelivered_readings: int = 0
    drained_s: float = 0.0


class Soak:
    def __init__(self, stack: Stack, pipeline: Pipeline, tansu: Child, args: argparse.Namespace) -> None:
        self.stack, self.pipeline, self.tansu, self.args = stack, pipeline, tansu, args
        self.t0 = 0.0
        self.keep_pids: set[int] = set()  # the soak's own connections

    def _now(self) -> float:
        return time.monotonic() - self.t0

    async def ingest(self, fault: Fault) -> None:
        assert self.pipeline.ingest is not None
        self.pipeline.ingest.kill()
        await self.pipeline.start_ingest()

    async def worker(self, fault: Fault) -> None:
        assert self.pipeline.worker is not None
        self.pipeline.worker.kill()
        await self.pipeline.start_worker()

    async def mosquitto(self, fault: Fault) -> None:
        broker = self.stack.mqtt_broker
        assert broker is not None
        old = self.stack.children[0]
        old.kill()
        self.stack.children[0] = await run_broker(broker, old.log_path)

    async def database(self, fault: Fault) -> None:
        conn = await asyncpg.connect(self.pipeline.settings.database_url)
        killed = 0
        try:
            until = time.monotonic() + self.args.interval / 2
            while time.monotonic() < until:
                killed += await conn.fetchval(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    " AND pid <> ALL($1::int[])",
                    list(self.keep_pids),
                )
                await asyncio.sleep(1.5)
        finally:
            await conn.close()
        fault.detail = f"{killed} backends terminated"

    async def kafka(self, fault: Fault) -> None:
        self.tansu.kill()
        port = int(self.pipeline.settings.kafka_bootstrap.rsplit(":", 1)[1])
        self.tansu, _ = await start_tansu(self.tansu.log_path.parent, port)
        fault.detail = "Tansu memory storage: restarts empty"

    async def run_faults(self) -> list[Fault]:
        faults = [Fault(name) for name in ("ingest", "worker", "mosquitto", "database")]
        if self.args.kafka_kill:
            faults.append(Fault("kafka"))
        for fault in faults:
            await asyncio.sleep(self.args.interval)
            fault.started_s = self._now()
            print(f"{fault.started_s:6.0f} s  fault: {fault.name}", flush=True)
            await getattr(self, fault.name)(fault)
            fault.recovered_s = self._now()
        await asyncio.sleep(self.args.interval)
        return faults


async def account(
    conn: asyncpg.Connection,
    plan: LoadPlan,
    acked: np.ndarray,
    ingested: set[tuple[str, int]],
    result: SoakResult,
    save_period_s: float,
) -> None:
    """Compare what the broker acknowledged with what the database holds and what reached ingest."""
    k = np.flatnonzero(acked)
    stations = [plan.station(int(i) % plan.stations) for i in k]
    times = plan.times_us(k)
    await conn.execute("CREATE TEMP TABLE soak_acked (k bigint, station_id text, time_us bigint)")
    await conn.copy_records_to_table(
        "soak_acked", records=list(zip(k.tolist(), stations, times.tolist(), strict=True))
    )
    rows = await conn.fetch(
        "SELECT a.k, a.time_us, count(o.variable) AS n FROM soak_acked a LEFT JOIN observations o"
        " ON o.station_id = a.station_id"
        f" AND o.time = {ts('a.time_us')}"
        " GROUP BY a.k, a.time_us HAVING count(o.variable) < $1",
        READINGS_PER_MESSAGE,
    )
    result.acked_readings = len(k) * READINGS_PER_MESSAGE
    never_ingested = set(
        not_ingested(plan, np.array([r["k"] for r in rows], dtype=np.int64), ingested).tolist()
    )
    # A message the broker acknowledged up to one autosave period (+ the publisher's lag behind its
    # schedule, + a save's duration) before its kill may be gone with the broker's memory.
    lag_s = result.load.max_lag_s
    kill = next((f for f in result.faults if f.name == "mosquitto"), None)
    result.broker_kill_bound = (
        READINGS_PER_MESSAGE * int(np.ceil(plan.rate_msg_s * (save_period_s + lag_s))) if kill else 0
    )
    for r in rows:
        lost = READINGS_PER_MESSAGE - r["n"]
        result.lost_readings += lost
        at = (r["time_us"] - plan.start_us) / 1e6
        if len(result.lost_at_s) < 20:
            result.lost_at_s.append(round(at, 3))
        window = "before any fault"
        for fault in result.faults:
            if at >= fault.started_s:
                window = fault.name
        result.lost_by_window[window] = result.lost_by_window.get(window, 0) + lost
        at_kill = kill is not None and kill.started_s - save_period_s - lag_s - 0.5 <= at <= kill.recovered_s
        if r["k"] in never_ingested and at_kill:
            result.lost_at_broker_kill += lost
        else:
            result.lost_by_tidewatch += lost
    result.stored_readings = await conn.fetchval("SELECT count(*) FROM observations")
    result.duplicate_rows = await conn.fetchval(
        "SELECT count(*) - count(DISTINCT (station_id, variable, time)) FROM observations"
    )
    result.redelivered_readings = await conn.fetchval(
        "SELECT count(*) - count(DISTINCT (station_id, variable, time)) FROM soak_observation_writes"
    )


def passed(result: SoakResult) -> bool:
    """Nothing lost by tidewatch, and the broker kill within what the README says it may cost."""
    return result.lost_by_tidewatch == 0 and result.lost_at_broker_kill <= result.broker_kill_bound


def report(result: SoakResult, args: argparse.Namespace) -> str:
    lines = [
        f"# tidewatch soak ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())})",
        "",
        f"Command: `python -m benchmarks.soak {' '.join(sys.argv[1:])}`; {args.stations} stations, "
        f"{args.rate:,.0f} readings/s offered, one fault every {args.interval:.0f} s.",
        "",
        "| fault | at s | back after s | detail |",
        "|---|---:|---:|---|",
    ]
    for f in result.faults:
        lines.append(f"| {f.name} | {f.started_s:.0f} | {f.recovered_s - f.started_s:.1f} | {f.detail} |")
    lost = ", ".join(f"{w}: {n:,}" for w, n in result.lost_by_window.items()) or "none"
    times = ", ".join(f"{t:.1f}" for t in sorted(result.lost_at_s))
    lost_at = f" (published at {times} s)" if times else ""
    lines += [
        "",
        "| readings | count |",
        "|---|---:|",
        f"| sent (messages × {READINGS_PER_MESSAGE}) | {result.sent_readings:,} |",
        f"| acknowledged by the broker | {result.acked_readings:,} |",
        f"| stored | {result.stored_readings:,} |",
        f"| lost (acknowledged by the broker, not stored) | {result.lost_readings:,} |",
        "| **lost by tidewatch** (reached ingest, or outside the broker kill) "
        f"| **{result.lost_by_tidewatch:,}** |",
        f"| lost at the broker kill (never reached ingest; allowed {result.broker_kill_bound:,}) "
        f"| {result.lost_at_broker_kill:,} |",
        f"| duplicated rows | {result.duplicate_rows:,} |",
        f"| redelivered, absorbed by the key | {result.redelivered_readings:,} |",
        "",
        f"Lost by the fault window they were published in: {lost}{lost_at}. "
        f"Publisher: {result.load.connects} connections, "
        f"{result.load.resent:,} messages resent, at most {result.load.max_lag_s:.2f} s behind its schedule; "
        f"drain {result.drained_s:.0f} s. Verdict: {'passed' if passed(result) else 'FAILED'}.",
    ]
    return "\n".join(lines)


async def main(args: argparse.Namespace) -> int:
    work = Path(tempfile.mkdtemp(prefix="tidewatch-soak-"))
    stack = await start_stack(load_settings(), work, fresh_kafka=False, private_mqtt=True)
    tansu, kafka_url = await start_tansu(work / "tansu")
    network = f"s{uuid.uuid4().hex[:8]}"
    try:
        async with fresh_database("soak") as db:
            settings = stack.settings.with_(
                database_url=db.database_url,
                kafka_url=kafka_url,
                registry_path=str(bench_registry(work / "registry.yaml", network, args.stations)),
                qc_config_path=str(bench_qc_config(work)),
                worker_id=f"soak-{network}",
            )
            await prepare_database(settings, INDICATORS)
            conn = await asyncpg.connect(settings.database_url)
            await conn.execute(WRITE_LOG_DDL)
            pipeline = Pipeline(settings, network, work / "logs")
            await pipeline.start_worker()
            await pipeline.start_ingest()
            soak = Soak(stack, pipeline, tansu, args)
            soak.keep_pids.add(conn.get_server_pid())
            try:
                plan = LoadPlan(
                    settings.mqtt_publish_url,
                    network,
                    args.stations,
                    args.rate / READINGS_PER_MESSAGE,
                    24 * 3600,  # until stopped
                    time.time_ns() // 1000 + 2_000_000,
                )
                load = LoadProcess(plan, work, keep_acks=True)
                soak.t0 = time.monotonic() + 2
                faults = await soak.run_faults()
                load.stop()
                result = SoakResult(await load.wait(), faults)
                result.sent_readings = result.load.sent * READINGS_PER_MESSAGE
                result.drained_s = await drain(
                    lambda: conn.fetchval("SELECT count(*) FROM observations"),
                    result.load.acked * READINGS_PER_MESSAGE,
                    args.drain,
                    quiet_s=20,
                    poll_s=2,
                )
                ingested = await ingested_messages(settings.kafka_bootstrap)
                save_period_s = autosave_period_s(stack.mqtt_broker.config) if stack.mqtt_broker else 0.0
                await account(conn, plan, load.acked(), ingested, result, save_period_s)
            finally:
                pipeline.stop()
                soak.tansu.stop()
                await conn.close()
    finally:
        stack.stop()
    write_results("soak-quick" if args.quick else "soak", report(result, args), asdict(result), work)
    return 0 if passed(result) else 1


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="short intervals (smoke)")
    parser.add_argument("--stations", type=int, default=100)
    parser.add_argument("--rate", type=float, default=800, help="offered readings/s")
    parser.add_argument("--interval", type=float, default=40, help="seconds between faults")
    parser.add_argument("--drain", type=float, default=240, help="longest wait for the backlog, s")
    parser.add_argument("--kafka-kill", action="store_true", help="also kill Tansu (memory: loses data)")
    args = parser.parse_args(argv)
    if args.quick:
        args.interval, args.drain = 15, 120
    return args


if __name__ == "__main__":
    sys.exit(asyncio.run(main(parse_args())))
