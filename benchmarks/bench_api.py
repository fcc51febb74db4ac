"""API benchmark: query latency for a year of 10-minute data at one station (raw and buckets), and
exports of every station for a day, a week and a month (rows/s out, peak memory of the API process).

Run: .venv/bin/python -m benchmarks.bench_api [--repeat 3] [--keep-db]
Writes into a scratch database (dropped afterwards) and runs the API under uvicorn in a child process,
so its resident memory is measured alone. Baselines in the same run: the same SQL fetched with plain
asyncpg (no HTTP, no encoding), so every figure is also a ratio to what the database alone delivers.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import psutil

from schemas.registry import load_registry
from services.config import load_settings, settings_env
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, upsert_observations
from streams.indicators.catalogue import INDICATORS

ROOT = Path(__file__).resolve().parents[1]
S = 1_000_000
DAY_US = 86_400 * S
YEAR_START_US = int(dt.datetime(2023, 1, 1, tzinfo=dt.UTC).timestamp()) * S
MONTH_START_US = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp()) * S
YEAR_STATION = "dalian"
YEAR_VARIABLE = "water_level_m"
WRITE_BATCH = 50_000


def iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / S, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# ---------------------------------------------------------------------------------------------------
# Data


def station_rows(station: str, variables: list[str], start_us: int, days: int, step_s: float) -> list[tuple]:
    rng = np.random.default_rng(abs(hash(station)) % 2**32)
    n = int(days * 86_400 / step_s)
    times = (start_us + np.arange(n, dtype=np.int64) * int(step_s * S)).tolist()
    hours = np.arange(n) * step_s / 3600
    rows: list[tuple] = []
    for k, variable in enumerate(sorted(variables)):
        values = (10 + 2 * np.sin(2 * np.pi * hours / 12.42 + k) + rng.normal(0, 0.1, n)).round(4).tolist()
        flags = np.where(rng.random(n) < 0.02, 3, 1).tolist()
        rows += [
            (t, station, variable, v, f, None, t, False) for t, v, f in zip(times, values, flags, strict=True)
        ]
    return rows


async def load_data(url: str) -> dict[str, int]:
    registry = load_registry()
    conn = await asyncpg.connect(url)
    counts = {}
    try:
        await prepare_connection(conn)
        plans = [(YEAR_STATION, [YEAR_VARIABLE], YEAR_START_US, 365, 600.0)]
        plans += [
            (s.id, sorted(s.variables), MONTH_START_US, 30, s.sampling_interval_s)
            for s in registry.stations.values()
        ]
        for station, variables, start, days, step in plans:
            rows = station_rows(station, variables, start, days, step)
            for k in range(0, len(rows), WRITE_BATCH):
                await upsert_observations(conn, rows[k : k + WRITE_BATCH])
            counts[f"{station} {days} d"] = len(rows)
        await conn.execute("ANALYZE observations")
    finally:
        await conn.close()
    return counts


# ---------------------------------------------------------------------------------------------------
# The API in a child process, and its memory


@dataclass
class Server:
    process: subprocess.Popen
    url: str

    def rss(self) -> int:
        return psutil.Process(self.process.pid).memory_info().rss


def start_server(settings_env_vars: dict[str, str]) -> Server:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    code = (
        "import asyncio; from services.api.app import serve; from services.config import load_settings; "
        f"asyncio.run(serve(load_settings(), {port}, log_level='warning'))"
    )
    env = {**os.environ, **settings_env_vars, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(200):
        try:
            if httpx.get(url + "/health", timeout=1).status_code == 200:
                return Server(process, url)
        except httpx.TransportError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError("the API did not start")


class PeakRss:
    """Samples a process's RSS every 10 ms in a thread; ``peak`` is the highest seen."""

    def __init__(self, server: Server) -> None:
        self.server, self.peak, self._stop = server, 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss())
            time.sleep(0.01)

    def __enter__(self) -> PeakRss:
        self.peak = self.server.rss()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


# ---------------------------------------------------------------------------------------------------
# Measurements


@dataclass
class Result:
    name: str
    rows: int
    seconds: float
    baseline_s: float | None = None
    bytes_out: int = 0
    rss_growth_mb: float | None = None

    def line(self) -> str:
        ratio = f"{self.seconds / self.baseline_s:.1f}" if self.baseline_s else ""
        base = f"{self.baseline_s * 1e3:.0f}" if self.baseline_s else ""
        rss = f"{self.rss_growth_mb:.1f}" if self.rss_growth_mb is not None else ""
        mb = f"{self.bytes_out / 1e6:.1f}" if self.bytes_out else ""
        return (
            f"| {self.name} | {self.rows:,} | {self.seconds * 1e3:.0f} | {self.rows / self.seconds:,.0f} | "
            f"{base} | {ratio} | {mb} | {rss} |"
        )


def timed_get(client: httpx.Client, url: str, repeat: int) -> tuple[float, int, int]:
    """Median seconds, rows (from the body) and bytes of ``repeat`` streamed GETs."""
    times, size, rows = [], 0, 0
    for _ in range(repeat):
        started = time.perf_counter()
        size = 0
        with client.stream("GET", url) as response:
            response.raise_for_status()
            lines = 0
            for block in response.iter_bytes(1 << 16):
                size += len(block)
                lines += block.count(b"\n")
            rows = lines
        times.append(time.perf_counter() - started)
    return statistics.median(times), rows, size


async def baseline_fetch(url: str, sql: str, args: list, repeat: int) -> tuple[float, int]:
    conn = await asyncpg.connect(url)
    try:
        times, n = [], 0
        for _ in range(repeat):
            started = time.perf_counter()
            n = len(await conn.fetch(sql, *args))
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return statistics.median(times), n


RAW_SQL = (
    "SELECT time, station_id, variable, value, qc_flag FROM observations "
    "WHERE {where} AND time >= $1::timestamptz AND time < $2::timestamptz ORDER BY station_id, variable, time"
)
HOURLY_SQL = (
    "SELECT date_bin('1 hour', time, '2000-01-03') AS b, avg(value), min(value), max(value), count(value) "
    "FROM observations WHERE station_id = $3 AND variable = $4 AND time >= $1::timestamptz "
    "AND time < $2::timestamptz AND qc_flag = ANY('{1,2}') GROUP BY 1 ORDER BY 1"
)


def _ts(us: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(us / S, dt.UTC)


async def run(repeat: int, keep_db: bool) -> str:
    base = load_settings()
    name = f"tidewatch_bench_api_{uuid.uuid4().hex[:6]}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}")
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    started = time.perf_counter()
    counts = await load_data(settings.database_url)
    load_s = time.perf_counter() - started
    server = start_server(settings_env(settings))
    results: list[Result] = []
    try:
        client = httpx.Client(base_url=server.url, timeout=600)
        span = f"start={iso(YEAR_START_US)}&end={iso(MONTH_START_US)}"
        one = f"station={YEAR_STATION}&variable={YEAR_VARIABLE}&{span}"
        timed_get(client, f"/api/v1/observations?{one}&limit=10", 1)  # warm the pool and imports
        year = [_ts(YEAR_START_US), _ts(MONTH_START_US)]
        raw_base, _ = await baseline_fetch(
            settings.database_url, RAW_SQL.format(where="station_id = $3 AND variable = $4"),
            [*year, YEAR_STATION, YEAR_VARIABLE], repeat,
        )  # fmt: skip
        hourly_base, _ = await baseline_fetch(
            settings.database_url, HOURLY_SQL, [*year, YEAR_STATION, YEAR_VARIABLE], repeat
        )
        for label, query, baseline in [
            ("1 station-year raw, JSON page", f"{one}&limit=100000&format=json", raw_base),
            ("1 station-year raw, CSV page", f"{one}&limit=100000&format=csv", raw_base),
            ("1 station-year raw, Parquet page", f"{one}&limit=100000&format=parquet", raw_base),
            ("1 station-year hourly mean/min/max/count, JSON", f"{one}&bucket=1h&limit=100000", hourly_base),
            (
                "1 station-year hourly + p50/p90, JSON",
                f"{one}&bucket=1h&agg=mean,count,p50,p90&limit=9000",
                None,
            ),
            ("1 station-year daily mean/min/max/count, JSON", f"{one}&bucket=1d", None),
            ("1 station-year monthly mean/min/max/count, JSON", f"{one}&bucket=1mo", None),
        ]:
            seconds, _, size = timed_get(client, f"/api/v1/observations?{query}", repeat)
            as_json = query.split("&format=")[0]
            rows = client.get(f"/api/v1/observations?{as_json}").json()["meta"]["rows"]
            results.append(Result(label, rows, seconds, baseline, size))
        for days, label in [(1, "day"), (7, "week"), (30, "month")]:
            span = [_ts(MONTH_START_US), _ts(MONTH_START_US + days * DAY_US)]
            base_s, n = await baseline_fetch(settings.database_url, RAW_SQL.format(where="true"), span, 1)
            for fmt in ("csv", "ndjson", "parquet"):
                window = f"start={iso(MONTH_START_US)}&end={iso(MONTH_START_US + days * DAY_US)}"
                url = f"/api/v1/observations/export?{window}&format={fmt}"
                idle = server.rss()
                with PeakRss(server) as peak:
                    seconds, _, size = timed_get(client, url, 1)
                growth_mb = (peak.peak - idle) / 1e6
                results.append(
                    Result(f"all stations, a {label}, export {fmt}", n, seconds, base_s, size, growth_mb)
                )
        client.close()
    finally:
        server.process.terminate()
        server.process.wait(10)
        if not keep_db:
            await drop_database(settings.database_url)
    total = sum(counts.values())
    lines = [
        f"# tidewatch API benchmark ({dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
        f"PostgreSQL, median of {repeat} for queries)",
        "",
        f"Loaded {total:,} readings in {load_s:.1f} s: {YEAR_STATION} {YEAR_VARIABLE} every 10 min for a "
        f"year ({counts[f'{YEAR_STATION} 365 d']:,}) and every registry station at its own interval "
        "for 30 days.",
        "Baseline: the same SQL fetched with plain asyncpg in the benchmark process (no HTTP, no encoding).",
        "RSS growth: the API process's peak resident memory during the request minus before it.",
        "",
        "| request | rows | ms | rows/s | baseline ms | × baseline | MB out | API RSS growth MB |",
        "|---|---|---|---|---|---|---|---|",
        *(r.line() for r in results),
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--keep-db", action="store_true")
    args = parser.parse_args()
    print(asyncio.run(run(args.repeat, args.keep_db)))


if __name__ == "__main__":
    main()
