"""The worker's observation write (``upsert_observations``: COPY into the stage, insert new readings,
apply QC corrections) on the real PostgreSQL, against COPY into the stage alone in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_writes [--readings 200000] [--batch 2000] [--repeat 3]``.
Each case writes ``--readings`` readings of 14 stations in worker-sized batches into a fresh scratch
database: new readings, then every reading again as a QC correction (half of them changing the flag);
once with no manual QC judgement stored, once with 200 judgements of other stations and once with
judgements covering every written reading (each write then looks the judgement up), and once with no
judgement but each station's QC version id bound as the worker binds them (provenance: the batch's
stations), and once binding those of 1,000 stations. Prints a
markdown table: readings/s per case and the ratio to COPY alone. Nothing is asserted. One case drops
the report summary's triggers on observations (migration 0012) to show what they cost.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
import uuid
from collections.abc import Sequence

import asyncpg

from services.config import load_settings
from services.db.alerts import create_operator
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.db.timestamps import ts
from services.db.writers import STAGE_COLUMNS, ObservationRow, prepare_connection, upsert_observations
from streams.indicators.catalogue import INDICATORS

START_US = 1_735_689_600 * 1_000_000  # 2025-01-01T00:00:00Z
STATIONS = [f"bench-{k:02d}" for k in range(14)]
MINUTE_US = 60_000_000


def rows(n: int, *, revised: bool, flag: int) -> list[ObservationRow]:
    tests = json.dumps({"gross_range": flag})
    per = n // len(STATIONS)
    return [
        (START_US + i * MINUTE_US, s, "water_level_m", 2.0 + 0.001 * i, flag if i % 2 else 1, tests,
         START_US + i * MINUTE_US, revised)
        for i in range(per) for s in STATIONS
    ]  # fmt: skip


async def judge(conn: asyncpg.Connection, stations: Sequence[str], spans: int, cover_us: int) -> None:
    await create_operator(conn, "bench", "Bench", "a long passphrase", "operator")
    for s in stations:
        for k in range(spans):
            start = START_US + k * cover_us // spans
            await conn.execute(
                "INSERT INTO manual_flags (station_id, variable, time_from, time_to, flag, reason, operator) "
                f"VALUES ($1, NULL, {ts('$2::bigint')}, {ts('$3::bigint')}, 3, 'bench', 'bench')",
                s, start, start + cover_us // spans,
            )  # fmt: skip


async def case(url: str, name: str, n: int, batch: int) -> dict[str, float]:
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        span_us = (n // len(STATIONS) + 1) * MINUTE_US
        if name == "other stations judged":
            await judge(conn, [f"other-{k}" for k in range(20)], 10, span_us)
        elif name == "every reading judged":
            await judge(conn, STATIONS, 10, span_us)
        if name == "no judgement, no summary triggers":
            for trigger in ("inserted", "updated", "deleted", "truncate"):
                await conn.execute(f"DROP TRIGGER observation_days_{trigger} ON observations")
        versions = None
        if name == "QC versions bound":
            versions = {s: k + 1 for k, s in enumerate(STATIONS)}
        elif name == "versions of 1,000 stations":
            versions = {s: k + 1 for k, s in enumerate(STATIONS + [f"other-{k}" for k in range(986)])}
        out: dict[str, float] = {}
        for label, data in (
            ("new", rows(n, revised=False, flag=1)),
            ("corrections", rows(n, revised=True, flag=3)),
        ):
            t0 = time.perf_counter()
            for k in range(0, len(data), batch):
                if name == "COPY alone":
                    async with conn.transaction():
                        await conn.copy_records_to_table(
                            "observations_stage", records=data[k : k + batch], columns=STAGE_COLUMNS
                        )
                else:
                    await upsert_observations(conn, data[k : k + batch], versions)
            out[label] = len(data) / (time.perf_counter() - t0)
        return out
    finally:
        await conn.close()


async def run(n: int, batch: int, repeat: int) -> None:
    base = load_settings()
    cases = [
        "COPY alone", "no judgement, no summary triggers", "no judgement", "QC versions bound",
        "versions of 1,000 stations",
        "other stations judged", "every reading judged",
    ]  # fmt: skip
    best: dict[str, dict[str, float]] = {}
    for _ in range(repeat):
        for name in cases:
            url = base.database_url.rsplit("/", 1)[0] + f"/bench_writes_{uuid.uuid4().hex[:8]}"
            await ensure_database(url)
            try:
                await prepare_database(base.with_(database_url=url), INDICATORS)
                got = await case(url, name, n, batch)
            finally:
                await drop_database(url)
            for label, rate in got.items():
                best.setdefault(name, {})[label] = max(best.get(name, {}).get(label, 0.0), rate)
    print(f"{n:,} readings in batches of {batch:,}, best of {repeat}\n")
    print("| case | new readings/s | × COPY | corrections/s | × COPY |\n|---|---|---|---|---|")
    copy = best["COPY alone"]
    for name in cases:
        b = best[name]
        print(
            f"| {name} | {b['new']:,.0f} | {b['new'] / copy['new']:.2f} | "
            f"{b['corrections']:,.0f} | {b['corrections'] / copy['corrections']:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(run(args.readings, args.batch, args.repeat))


if __name__ == "__main__":
    main()
