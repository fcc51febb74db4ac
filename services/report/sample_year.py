"""A simulated year of the sample network stored through the whole pipeline, to report on.

``python -m services.report.sample_year --year 2025 --database tidewatch_year`` recreates that
database, starts the stack as ``tidewatch demo`` does (a private Mosquitto, a fresh Tansu, a stream
worker with every agent, ingest), replays the simulator from 1 December of the year before to 2 January
of the year after at ``--speedup`` (paced at ``--rate`` messages a second), waits until the worker has
stored what ingest received, and stops. The indicators, alerts, QC flags and dead letters are then the
stream's own, so ``tidewatch report --year 2025`` against that database reports what the pipeline made.
``--stations`` limits the replay to some stations (the rest of the registry then has no data, which the
report says). There is no faster path with indicators: ``tidewatch import`` stores readings only.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import time
from pathlib import Path

import asyncpg

from schemas.registry import load_registry
from services.config import Settings, load_settings
from services.db.connect import drop_database, ensure_database
from services.db.timestamps import us
from services.report.base import year_bounds_us
from services.stack.launcher import start_stack
from services.stack.metrics_page import metric_total, scrape_metrics
from services.stack.pipeline import CLI, Pipeline
from services.stack.process import Child, free_port, start_child

WORK_DIR = Path(".tidewatch") / "sample-year"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.report.sample_year", description=__doc__)
    parser.add_argument("--year", type=int, required=True, help="the calendar year to simulate")
    parser.add_argument("--database", default="tidewatch_sample_year", help="database name (recreated)")
    parser.add_argument("--stations", default=None, help="comma-separated station ids (default: all)")
    parser.add_argument("--speedup", type=float, default=2_000_000.0, help="simulated s per real s")
    parser.add_argument("--rate", type=float, default=2500.0, help="most MQTT messages a second")
    parser.add_argument(
        "--lead-in-days", type=float, default=200.0, help="quiet days before the demo story's events"
    )
    return parser


async def _indicators_behind(url: str, stations: list[str], end_us: int) -> list[str]:
    """The stations whose newest stored indicator is still before ``end_us`` (the year's end)."""
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f"SELECT station_id, {us('max(time)')} AS t FROM indicators"
            " WHERE station_id = ANY($1) GROUP BY 1",
            stations,
        )
    finally:
        await conn.close()
    newest = {r["station_id"]: r["t"] for r in rows}
    return [s for s in stations if newest.get(s, 0) < end_us]


async def _settle(
    ingest_port: int, worker_port: int, simulator: Child, url: str, stations: list[str], end_us: int
) -> str:
    """Wait for the simulator to finish, the worker's stored count to stop moving and every station's
    indicators to reach the year's end (the indicator agent runs behind storage: tide refits)."""
    last, since = -1.0, time.monotonic()
    started = time.monotonic()
    while True:
        await asyncio.sleep(10)
        stored = metric_total(scrape_metrics(worker_port), "tidewatch_readings_stored_total")
        received = metric_total(scrape_metrics(ingest_port), "tidewatch_ingest_readings_total")
        behind = await _indicators_behind(url, stations, end_us) if not simulator.alive() else stations
        print(
            f"[{time.monotonic() - started:6.0f} s] received {received:,.0f} stored {stored:,.0f}"
            f" indicators behind the year's end: {', '.join(behind) or 'none'}",
            flush=True,
        )
        if stored != last:
            last, since = stored, time.monotonic()
        elif not simulator.alive() and not behind and time.monotonic() - since > 30.0:
            return f"received {received:,.0f}, stored {stored:,.0f} in {time.monotonic() - started:.0f} s"


async def _run(args: argparse.Namespace, settings: Settings) -> int:
    from services.db.prepare import prepare_database
    from streams.indicators.catalogue import INDICATORS

    start = dt.datetime(args.year - 1, 12, 1, tzinfo=dt.UTC)
    days = (dt.datetime(args.year + 1, 1, 2, tzinfo=dt.UTC) - start).days
    stack = await start_stack(settings, WORK_DIR, fresh_kafka=True, private_mqtt=True)
    children: list[Child] = []
    try:
        url = f"{stack.settings.database_url.rsplit('/', 1)[0]}/{args.database}"
        await drop_database(url)
        await ensure_database(url)
        stack.settings = stack.settings.with_(database_url=url)
        print(await prepare_database(stack.settings, INDICATORS))
        ingest_port, worker_port = free_port(), free_port()
        network = load_registry(stack.settings.registry_path).network
        pipeline = Pipeline(
            stack.settings,
            network,
            WORK_DIR / "logs",
            extra_env={"TIDEWATCH_TIDE_REFIT_CHECK_S": "60"},
        )
        children += await pipeline.start_with_metrics(worker_port, ingest_port)
        simulate = [
            *CLI,
            "simulate",
            "--start",
            start.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "--duration",
            f"{days}d",
        ]
        simulate += ["--speedup", str(args.speedup), "--rate", str(args.rate)]
        simulate += ["--lead-in-days", str(args.lead_in_days), "--progress-interval", "30"]
        if args.stations:
            simulate += ["--stations", args.stations]
        simulator = start_child("simulator", simulate, WORK_DIR / "logs" / "simulator.log", pipeline.env)
        children.append(simulator)
        registry = load_registry(stack.settings.registry_path)
        ids = args.stations.split(",") if args.stations else sorted(registry.stations)
        end_us = year_bounds_us(args.year)[1]
        print(await _settle(ingest_port, worker_port, simulator, url, ids, end_us))
        print(f"database: {url}")
    finally:
        for child in reversed(children):
            await asyncio.to_thread(child.stop, 30.0)
        stack.stop()
    return 0


def main() -> int:
    args = _parser().parse_args()
    return asyncio.run(_run(args, load_settings()))


if __name__ == "__main__":
    raise SystemExit(main())
