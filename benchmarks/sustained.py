"""Sustained load through the whole pipeline, beside the naive baseline, in one run (issue 12).

    python -m benchmarks.sustained [--quick] [--stations 1000] [--rate 20000] [--duration 900] …

Starts what the tests start (a private Mosquitto with tidewatch's settings, a fresh Tansu per case,
the machine's PostgreSQL with a fresh database), then per case:
- **naive**: ``benchmarks.naive`` (one subscriber, one INSERT per reading, autocommit);
- **pipeline**: ingest + worker (QC, indicators, alerts) at ``--stations`` stations;
- **burst**: the pipeline at 10 stations × 300 messages/s each (did the worker crash? throughput).
The load comes from ``benchmarks.load`` in its own process, paced, eight readings per message,
sample time = scheduled publish time. Reported per case: offered / published / stored readings/s
(stored over the steady part, after ``--warmup``), backlog when the load stopped, p50/p99 sample
time → committed row, CPU µs per stored reading per process and RSS start/mid/end/peak (/proc),
changelog records and bytes per stored reading (state written), ratios against the naive case.
Results: ``benchmarks/results/sustained[-quick].md`` and ``.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import calendar
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from benchmarks.load import LoadPlan, LoadProcess, LoadReport
from benchmarks.pipeline import READINGS_PER_MESSAGE, bench_qc_config, bench_registry
from benchmarks.procstat import ProcessSampler, database_backends
from services.config import Settings, load_settings
from services.db.prepare import prepare_database
from services.stack.kafka import start_tansu
from services.stack.launcher import Stack, start_stack
from services.stack.pipeline import CLI, Pipeline, wait_for_log
from services.stack.process import Child, start_child
from streams.indicators.catalogue import INDICATORS
from tests.support.database import fresh_database

RESULTS = Path(__file__).resolve().parent / "results"
ROLES = ("publisher", "naive", "ingest", "worker", "mosquitto", "tansu", "postgres")


@dataclass
class CaseResult:
    name: str
    stations: int
    offered_readings_s: float
    load: LoadReport
    duration_s: float
    warmup_s: float
    stored: int = 0
    stored_steady_readings_s: float = 0.0
    backlog_at_load_end: int = 0
    drained_s: float = 0.0
    p50_s: float | None = None
    p99_s: float | None = None
    latency_rows: int = 0
    p50_all_s: float | None = None  # over every stored row (when the steady part was never reached)
    p99_all_s: float | None = None
    per_minute: list[int] = field(default_factory=list)
    cpu_s: dict[str, float] = field(default_factory=dict)
    rss_mb: dict[str, tuple[float, float, float, float]] = field(default_factory=dict)
    changelog_records: int | None = None
    changelog_bytes: int | None = None
    changelog_estimated: bool = False
    crashed: str = ""
    restart: str = ""  # with --restart: the worker killed at the end and started again, how long it took
    errors: list[str] = field(default_factory=list)
    profile: str = ""
    load_average: float = 0.0  # of the machine over the last 5 minutes at the end (other users' work too)

    @property
    def cpu_us_per_reading(self) -> dict[str, float]:
        n = max(self.stored, 1)
        return {role: cpu / n * 1e6 for role, cpu in self.cpu_s.items()}


def _plan(
    settings: Settings, network: str, stations: int, rate_msg_s: float, duration_s: float, time_scale: float
) -> LoadPlan:
    start_us = time.time_ns() // 1000 + 2_000_000  # the publisher process starts in well under 2 s
    return LoadPlan(
        settings.mqtt_publish_url, network, stations, rate_msg_s, duration_s, start_us, time_scale=time_scale
    )


def _published_at(plan: LoadPlan, column: str = "time") -> str:
    """SQL for the scheduled publish time of a stored reading, from its sample time under the plan."""
    return (
        f"to_timestamp(({plan.start_us} + (extract(epoch FROM {column}) * 1e6 - {plan.data_start_us})"
        f" / {plan.time_scale}) / 1e6)"
    )


async def _stored(conn: asyncpg.Connection, table: str) -> int:
    """Rows inserted so far (the statistics collector's count: cheap, a second or so behind)."""
    await conn.execute("SELECT pg_stat_clear_snapshot()")
    value = await conn.fetchval("SELECT n_tup_ins FROM pg_stat_user_tables WHERE relname = $1", table)
    return int(value or 0)


async def changelog_state(bootstrap: str, app_id: str, budget_s: float = 120.0) -> tuple[int, int, bool]:
    """Records and bytes (key + value) in the worker's changelog topics: the state it wrote.

    Reads the topics back from the start; past ``budget_s`` the bytes are extrapolated from the
    records read (the record count is exact, from the end offsets).
    """
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        topics = [t for t in await consumer.topics() if t.startswith(app_id) and t.endswith("-changelog")]
        parts = [TopicPartition(t, p) for t in topics for p in consumer.partitions_for_topic(t) or ()]
        if not parts:
            return 0, 0, False
        consumer.assign(parts)
        await consumer.seek_to_beginning(*parts)
        ends = await consumer.end_offsets(parts)
        total = sum(ends.values())
        seen = size = 0
        deadline = time.monotonic() + budget_s
        while seen < total and time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=1000, max_records=10_000)
            if not batches:
                break
            for records in batches.values():
                seen += len(records)
                size += sum(len(r.key or b"") + len(r.value or b"") for r in records)
        if seen < total and seen:
            return total, int(size / seen * total), True
        return total, size, False
    finally:
        await consumer.stop()


async def _latency_and_rate(
    conn: asyncpg.Connection, table: str, plan: LoadPlan, warm_us: int, end_us: int
) -> tuple[int, float | None, float | None, int, list[int]]:
    """Rows stored in the steady window, p50/p99 of stored_at − publish time there, rows per minute."""
    t0_us, published = plan.start_us, _published_at(plan)
    window = f"{published} >= to_timestamp($1 / 1e6) AND {published} < to_timestamp($2 / 1e6)"
    steady = await conn.fetchval(
        f"SELECT count(*) FROM {table}"
        " WHERE stored_at >= to_timestamp($1 / 1e6) AND stored_at < to_timestamp($2 / 1e6)",
        warm_us,
        end_us,
    )
    row = await conn.fetchrow(
        "SELECT count(*) AS n,"
        f" percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - {published})) AS p50,"
        f" percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - {published})) AS p99"
        f" FROM {table} WHERE {window}",
        warm_us,
        end_us,
    )
    minutes = await conn.fetch(
        f"SELECT floor(extract(epoch FROM stored_at - to_timestamp($1 / 1e6)) / 60)::int AS m, count(*) AS n"
        f" FROM {table} GROUP BY 1 ORDER BY 1",
        t0_us,
    )
    return steady, row["p50"], row["p99"], row["n"], [r["n"] for r in minutes if r["m"] >= 0]


async def drain(
    stored: Callable[[], Awaitable[int]],
    expected: int,
    limit_s: float,
    quiet_s: float = 10,
    poll_s: float = 1,
) -> float:
    """Wait until ``expected`` rows are stored, nothing moved for ``quiet_s``, or ``limit_s``.

    Returns the seconds waited: the backlog's drain time when it completed.
    """
    started = time.monotonic()
    last, still_since = -1, started
    while time.monotonic() - started < limit_s:
        count = await stored()
        if count >= expected:
            break
        if count != last:
            last, still_since = count, time.monotonic()
        elif time.monotonic() - still_since > quiet_s:
            break
        await asyncio.sleep(poll_s)
    return time.monotonic() - started


def _worker_errors(log: Path) -> list[str]:
    if not log.exists():
        return []
    lines = log.read_text(errors="replace").splitlines()
    keys = ("Error", "crashed", "Traceback")
    return [line[:300] for line in lines if any(k in line for k in keys)][:20]


async def _py_spy(pid: int, seconds: float, out: Path) -> str:
    """A py-spy profile of ``pid`` (top functions by own time), when py-spy is installed."""
    binary = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    if not Path(binary).exists():
        return "py-spy not installed (pip install py-spy)"
    raw = out.with_suffix(".txt")
    proc = await asyncio.create_subprocess_exec(
        binary, "record", "-p", str(pid), "-d", str(int(seconds)), "-r", "50", "-f", "raw", "-o", str(raw),
        "--nonblocking", stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
    )  # fmt: skip
    await proc.wait()
    if not raw.exists():
        return f"py-spy failed ({proc.returncode})"
    return summarise_folded(raw.read_text())


def summarise_folded(text: str, top: int = 15) -> str:
    """Own-time and inclusive shares of the hottest frames of a folded-stack profile."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in text.splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
    if not total:
        return "no samples"
    lines = [f"{total} samples", "own time:"]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in sorted(own.items(), key=lambda x: -x[1])[:top]]
    lines.append("inclusive (excluding the event loop's frames):")
    loop_frames = (
        "run_forever",
        "_run_once",
        "_run (asyncio",
        "<module>",
        "run (",
        "execute_from_commandline",
        "run_until_complete",
        "_run_code",
        "_run_module_as_main",
        "main (",
        "_bootstrap",
        "run_worker",
        "cmd_worker",
    )
    hot = [(f, n) for f, n in inclusive.items() if not any(k in f for k in loop_frames)]
    lines += [f"  {n / total:6.1%}  {f}" for f, n in sorted(hot, key=lambda x: -x[1])[:top]]
    return "\n".join(lines)


class Bench:
    def __init__(self, stack: Stack, settings: Settings, work: Path, args: argparse.Namespace) -> None:
        self.stack, self.settings, self.work, self.args = stack, settings, work, args
        self.database = settings.database_url.rsplit("/", 1)[1]

    async def _measure(
        self,
        name: str,
        stations: int,
        rate_msg_s: float,
        duration_s: float,
        table: str,
        pids: dict[str, Child | list[Child] | None],
        network: str,
        worker: Child | None = None,
    ) -> CaseResult:
        monitor = await asyncpg.connect(self.settings.database_url)
        progress = await asyncpg.connect(self.settings.database_url)
        exclude = frozenset({progress.get_server_pid()})
        mosquitto = self.stack.children[0]
        roles = {
            role: (
                lambda c=child: [
                    k.process.pid for k in (c if isinstance(c, list) else [c]) if k is not None and k.alive()
                ]
            )
            for role, child in pids.items()
        }
        roles["mosquitto"] = lambda: [mosquitto.process.pid]
        roles["postgres"] = lambda: database_backends(monitor, self.database, exclude)
        # The statistics count inserts since they were reset, not since the table was emptied.
        inserted_before = await _stored(progress, table)

        async def stored_now() -> int:
            return await _stored(progress, table) - inserted_before

        warmup_s = min(self.args.warmup, duration_s / 2)
        plan = _plan(self.settings, network, stations, rate_msg_s, duration_s, self.args.time_scale)
        sampler = ProcessSampler({"publisher": lambda: [], **roles}, interval_s=self.args.sample_s)
        sampler.start()
        load = LoadProcess(plan, self.work)
        sampler.roles["publisher"] = lambda: [load.pid] if load.process.poll() is None else []
        result = CaseResult(
            name, stations, rate_msg_s * READINGS_PER_MESSAGE, LoadReport(), duration_s, warmup_s
        )
        profile_task = None
        if self.args.profile and worker is not None:
            at = warmup_s + (duration_s - warmup_s) / 2 - 15

            async def profile_later() -> str:
                await asyncio.sleep(max(at, 0))
                return await _py_spy(worker.process.pid, 30, self.work / f"profile-{network}")

            profile_task = asyncio.create_task(profile_later())
        try:
            while load.process.poll() is None:
                await asyncio.sleep(1)
                if worker is not None and not worker.alive() and not result.crashed:
                    result.crashed = (
                        f"worker exited with {worker.process.returncode} at {sampler.samples[-1].at_s:.0f} s"
                    )
            result.load = await load.wait()
            load_end_us = plan.start_us + int(duration_s * 1e6)
            result.backlog_at_load_end = result.load.acked * READINGS_PER_MESSAGE - await stored_now()
            # The naive case only falls further behind: its drain would measure nothing new.
            drain_limit = self.args.drain if worker is not None else min(self.args.drain, 15)
            result.drained_s = await drain(stored_now, result.load.acked * READINGS_PER_MESSAGE, drain_limit)
            result.load_average = os.getloadavg()[1]
            await sampler.stop()
            if profile_task is not None:
                result.profile = await profile_task
            result.stored = await progress.fetchval(f"SELECT count(*) FROM {table}")
            (
                steady,
                result.p50_s,
                result.p99_s,
                result.latency_rows,
                result.per_minute,
            ) = await _latency_and_rate(
                progress, table, plan, plan.start_us + int(warmup_s * 1e6), load_end_us
            )
            result.stored_steady_readings_s = steady / (duration_s - warmup_s)
            latency = f"extract(epoch FROM stored_at - {_published_at(plan)})"
            result.p50_all_s, result.p99_all_s = await progress.fetchrow(
                f"SELECT percentile_cont(0.5) WITHIN GROUP (ORDER BY {latency}),"
                f" percentile_cont(0.99) WITHIN GROUP (ORDER BY {latency})"
                f" FROM {table}"
            )
            result.cpu_s = sampler.cpu_between(0, sampler.samples[-1].at_s)
            result.rss_mb = {
                role: tuple(v / 2**20 for v in sampler.rss_profile(role)) for role in sampler.roles
            }
        finally:
            await monitor.close()
            await progress.close()
        return result

    async def naive(self) -> CaseResult:
        network = f"n{uuid.uuid4().hex[:8]}"
        child = start_child(
            "naive",
            [
                sys.executable,
                "-m",
                "benchmarks.naive",
                self.settings.database_url,
                self.settings.mqtt_url,
                network,
            ],
            self.work / "naive.log",
        )
        try:
            await wait_for_log(child, "naive subscriber ready", timeout_s=30)
            return await self._measure(
                "naive: one subscriber, one INSERT per reading",
                self.args.stations,
                self.args.rate / READINGS_PER_MESSAGE,
                self.args.naive_duration,
                "naive_observations",
                {"naive": child},
                network,
            )
        finally:
            child.kill()

    async def pipeline(
        self, name: str, stations: int, rate_msg_s: float, duration_s: float, workers: int = 1
    ) -> CaseResult:
        network = f"b{uuid.uuid4().hex[:8]}"
        case_dir = self.work / network
        tansu, kafka_url = await start_tansu(case_dir)
        settings = self.settings.with_(
            kafka_url=kafka_url,
            # One message per station every stations / rate s of wall time carries time_scale times as
            # much data time: declare that as the stations' sampling interval, so QC and indicators see
            # the cadence they are configured for.
            registry_path=str(
                bench_registry(
                    case_dir / "registry.yaml",
                    network,
                    stations,
                    sampling_interval_s=max(60.0, self.args.time_scale * stations / rate_msg_s),
                )
            ),
            qc_config_path=str(bench_qc_config(case_dir)),
            worker_id=f"bench-{network}",
        )
        await prepare_database(settings, INDICATORS)
        conn = await asyncpg.connect(settings.database_url)
        await conn.execute("TRUNCATE observations, indicators, alert_events, alerts, dead_letters")
        await conn.close()
        pipeline = Pipeline(settings, network, case_dir / "logs")
        others: list[Child] = []
        try:
            await pipeline.start_worker()
            others = await _more_workers(pipeline, workers - 1)
            await pipeline.start_ingest()
            result = await self._measure(
                name,
                stations,
                rate_msg_s,
                duration_s,
                "observations",
                {"ingest": pipeline.ingest, "worker": [pipeline.worker, *others], "tansu": tansu},
                network,
                worker=pipeline.worker,
            )
            result.errors = _worker_errors(case_dir / "logs" / "worker.log")
            (
                result.changelog_records,
                result.changelog_bytes,
                result.changelog_estimated,
            ) = await changelog_state(settings.kafka_bootstrap, settings.worker_id)
            if self.args.restart:
                result.restart = await _restart(pipeline)
            return result
        finally:
            for child in others:
                child.stop(20)
            pipeline.stop()
            tansu.stop()


async def _more_workers(pipeline: Pipeline, count: int) -> list[Child]:
    """Further workers in the first one's consumer group (each its own data folder); returns once the
    group has rebalanced and the first worker is ready again."""
    children = []
    for k in range(1, count + 1):
        env = {**pipeline.env, "TIDEWATCH_DATA_DIR": str(pipeline.logs.parent / f"worker-{k}")}
        child = start_child(f"worker-{k}", [*CLI, "worker"], pipeline.logs / f"worker-{k}.log", env)
        children.append(child)
        await wait_for_log(child, "Worker]: Ready", timeout_s=120)
    if children:
        await asyncio.sleep(15)  # the first worker gives up partitions and is ready again
    return children


async def _restart(pipeline: Pipeline) -> str:
    """Kill the worker (-9), start it again on the same data folder, and time it: until ready, and the
    part of that spent reading the state tables back (faust's recovery, from its log)."""
    log_path = pipeline.logs / "worker.log"
    offset = log_path.stat().st_size
    pipeline.worker.kill()  # type: ignore[union-attr]
    started = time.monotonic()
    await pipeline.start_worker(timeout_s=900)
    ready_s = time.monotonic() - started
    text = log_path.read_bytes()[offset:].decode(errors="replace")
    stamps = {}
    for line in text.splitlines():
        for mark in ("Restoring state from changelog", "Done reading from changelog"):
            if mark in line and mark not in stamps:
                stamps[mark] = (
                    calendar.timegm(time.strptime(line[1:20], "%Y-%m-%d %H:%M:%S")) + int(line[21:24]) / 1e3
                )
    reading = ""
    if "Restoring state from changelog" in stamps and "Done reading from changelog" in stamps:
        reading_s = stamps["Done reading from changelog"] - stamps["Restoring state from changelog"]
        reading = f", of which reading the state tables {reading_s:.1f} s"
    return f"ready {ready_s:.1f} s after the kill{reading}"


def _seconds(value: float | None) -> str:
    return "" if value is None else f"{value:.1f}"


def _mb(values: tuple[float, ...]) -> str:
    return " / ".join(f"{v:.0f}" for v in values)


def report(results: list[CaseResult], args: argparse.Namespace) -> str:
    naive = next((r for r in results if r.name.startswith("naive")), None)
    lines = [
        f"# tidewatch sustained benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.2f} at the end)",
        "",
        f"Command: `python -m benchmarks.sustained {' '.join(sys.argv[1:])}`. "
        f"{READINGS_PER_MESSAGE} readings "
        "per MQTT message; every process of the pipeline, the publisher and PostgreSQL share the machine. "
        "Stored readings/s are over the steady part (after the warm-up, until the load stopped); latency is "
        "sample time (= scheduled publish time) → committed row, over the rows of that part stored by the "
        "end "
        "of the drain.",
        "",
        "| case | s | offered r/s | published r/s | stored r/s | × naive | backlog at end | drain s "
        "| steady rows stored | p50 s | p99 s | p50 / p99 s, all rows | crash | load avg |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ]
    for r in results:
        ratio = f"{r.stored_steady_readings_s / naive.stored_steady_readings_s:.2f}" if naive else ""
        published = r.load.achieved_msg_s * READINGS_PER_MESSAGE
        steady_offered = int(r.offered_readings_s * (r.duration_s - r.warmup_s))
        p50 = "" if r.p50_s is None else f"{r.p50_s:.2f}"
        p99 = "" if r.p99_s is None else f"{r.p99_s:.2f}"
        lines.append(
            f"| {r.name} ({r.stations} stations) | {r.duration_s:.0f} | {r.offered_readings_s:,.0f} "
            f"| {published:,.0f} "
            f"| {r.stored_steady_readings_s:,.0f} | {ratio} | {r.backlog_at_load_end:,} | {r.drained_s:.0f} "
            f"| {r.latency_rows:,} of {steady_offered:,} | {p50} "
            f"| {p99} | {_seconds(r.p50_all_s)} / {_seconds(r.p99_all_s)} "
            f"| {r.crashed or ('errors in log' if r.errors else 'no')} | {r.load_average:.1f} |"
        )
    lines += [
        "",
        "CPU µs per stored reading, by process (whole case: load and drain):",
        "",
        "| case | " + " | ".join(ROLES) + " | total | × naive |",
        "|---|" + "---:|" * (len(ROLES) + 2),
    ]
    naive_total = sum(naive.cpu_us_per_reading.values()) if naive else None
    for r in results:
        per = r.cpu_us_per_reading
        total = sum(per.values())
        ratio = f"{total / naive_total:.2f}" if naive_total else ""
        cells = " | ".join(f"{per[role]:.1f}" if role in per else "" for role in ROLES)
        lines.append(f"| {r.name} | {cells} | {total:.1f} | {ratio} |")
    lines += [
        "",
        "Publisher: "
        + "; ".join(
            f"{r.name}: {r.load.cores:.3f} core, lag ≤ {r.load.max_lag_s:.2f} s, "
            f"{r.load.acked:,} of {r.load.offered:,} messages acknowledged"
            for r in results
        ),
        "",
        "RSS MB start / mid / end / peak, by process:",
        "",
        "| case | " + " | ".join(ROLES) + " |",
        "|---|" + "---|" * len(ROLES),
    ]
    for r in results:
        lines.append(
            f"| {r.name} | "
            + " | ".join(_mb(r.rss_mb[role]) if role in r.rss_mb else "" for role in ROLES)
            + " |"
        )
    restarts = [f"- {r.name}: {r.restart}" for r in results if r.restart]
    if restarts:
        lines += ["", "Restart after kill -9 (same data folder):", "", *restarts]
    lines += ["", "State written (changelog topics, key + value bytes):", ""]
    for r in results:
        if r.changelog_records is None:
            continue
        per = (r.changelog_bytes or 0) / max(r.stored, 1)
        est = " (bytes extrapolated)" if r.changelog_estimated else ""
        lines.append(
            f"- {r.name}: {r.changelog_records:,} records, {(r.changelog_bytes or 0) / 2**20:,.1f} MiB{est}, "
            f"{per:,.0f} bytes per stored reading, "
            f"{r.changelog_records / max(r.stored, 1):.3f} records per reading"
        )
    lines += ["", "Stored readings per minute of each case (from the first publish):", ""]
    for r in results:
        lines.append(f"- {r.name}: {', '.join(f'{n:,}' for n in r.per_minute)}")
    for r in results:
        if r.errors:
            lines += [
                "",
                f"Worker log errors ({r.name}), first {len(r.errors)}:",
                "",
                "```",
                *r.errors,
                "```",
            ]
        if r.profile:
            lines += [
                "",
                f"py-spy of the worker, 30 s in the middle of {r.name}:",
                "",
                "```",
                r.profile,
                "```",
            ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: short cases")
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=20_000, help="offered readings/s")
    parser.add_argument("--duration", type=float, default=900, help="seconds of load, pipeline case")
    parser.add_argument("--naive-duration", type=float, default=180)
    parser.add_argument("--burst-duration", type=float, default=180, help="10 stations × 300 msg/s")
    parser.add_argument("--warmup", type=float, default=120, help="seconds left out of the steady figures")
    parser.add_argument("--drain", type=float, default=120, help="longest wait for the backlog, s")
    parser.add_argument("--sample-s", type=float, default=2.0, help="/proc sampling interval")
    parser.add_argument("--cases", default="naive,pipeline,burst")
    parser.add_argument("--profile", action="store_true", help="py-spy the worker mid-run (needs py-spy)")
    parser.add_argument(
        "--workers", default="1", help="pipeline case once per worker count, e.g. 1,2 (one consumer group)"
    )
    parser.add_argument(
        "--time-scale",
        type=float,
        default=1.0,
        help="seconds of data per second of load (e.g. 600: each station's 1 msg/s is a 10-min buoy), so "
        "the stations' windows and states reach their steady size within the run",
    )
    parser.add_argument(
        "--restart",
        action="store_true",
        help="kill -9 the worker after the pipeline case and time its restart",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.duration, args.naive_duration, args.burst_duration = 40, 20, 20
        args.warmup, args.drain = 10, 30
    return args


async def main(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="tidewatch-sustained-"))
    stack = await start_stack(load_settings(), work, fresh_kafka=False, private_mqtt=True)
    results: list[CaseResult] = []
    try:
        async with fresh_database("bench_sustained") as db:
            settings = stack.settings.with_(database_url=db.database_url)
            bench = Bench(stack, settings, work, args)
            cases = args.cases.split(",")
            if "naive" in cases:
                results.append(await bench.naive())
            if "pipeline" in cases:
                for workers in (int(w) for w in args.workers.split(",")):
                    name = "pipeline" if workers == 1 else f"pipeline, {workers} workers"
                    results.append(
                        await bench.pipeline(
                            name, args.stations, args.rate / READINGS_PER_MESSAGE, args.duration, workers
                        )
                    )
            if "burst" in cases:
                results.append(
                    await bench.pipeline("burst: 10 stations × 300 msg/s", 10, 3000, args.burst_duration)
                )
    finally:
        stack.stop()
    stem = "sustained-quick" if args.quick else "sustained"
    write_results(stem, report(results, args), [asdict(r) for r in results], work)


def write_results(stem: str, text: str, data: object, work: Path) -> None:
    """``benchmarks/results/<stem>.md`` and ``.json``, and the report on stdout."""
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{stem}.md").write_text(text + "\n")
    (RESULTS / f"{stem}.json").write_text(json.dumps(data, indent=1, default=str) + "\n")
    print(text)
    print(f"\nwork folder (logs): {work}")


if __name__ == "__main__":
    asyncio.run(main(parse_args()))
