"""Peak memory of ``tidewatch import`` of an export-format CSV, read a block at a time against the same
file read as one block, in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_import_memory [--days 60] [--stations 7]``. Writes 1-minute
water level and temperature of ``--stations`` tide gauges for ``--days`` in the export's order (station,
variable, time), then imports it into a fresh scratch database once per case, each in its own process
(peak RSS is per process): blocks of 16 MiB (the default) and one block as large as the file. Prints a
markdown table: readings, seconds, readings/s, peak RSS, and the ratios. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time
import uuid
from pathlib import Path
from tempfile import TemporaryDirectory

import numpy as np

GAUGES = ["dalian", "lushun", "zhuanghe", "dandong", "bayuquan", "yingkou", "huludao"]


def write_csv(path: Path, days: int, stations: int) -> int:
    n = days * 1440
    stamps = np.datetime_as_string(np.datetime64("2025-01-01T00:00:00", "s") + np.arange(n) * 60)
    hours = np.arange(n) / 60
    with path.open("w") as out:
        out.write("time,station_id,variable,value,unit\n")
        for station in GAUGES[:stations]:
            for variable, unit, values in (
                ("water_level_m", "m", 2 + 2.5 * np.sin(2 * np.pi * hours / 12.42)),
                ("water_temperature_degC", "degC", 8 + 0.3 * np.sin(np.arange(n) / 300)),
            ):
                out.writelines(
                    f"{t}Z,{station},{variable},{v:.4f},{unit}\n" for t, v in zip(stamps, values, strict=True)
                )
    return 2 * n * stations


async def _import_once(path: Path, block_bytes: int) -> dict[str, float]:
    from schemas.registry import load_registry
    from services.config import load_settings
    from services.db.connect import drop_database, ensure_database
    from services.db.prepare import prepare_database
    from services.history import sources
    from services.history.importer import run_import
    from services.history.store import open_connection
    from streams.indicators.catalogue import INDICATORS
    from streams.qc import load_qc_config

    sources.CSV_BLOCK_BYTES = block_bytes
    base = load_settings()
    url = base.database_url.rsplit("/", 1)[0] + f"/bench_import_memory_{uuid.uuid4().hex[:8]}"
    await ensure_database(url)
    try:
        await prepare_database(base.with_(database_url=url), INDICATORS)
        registry = load_registry()
        conn, reader = await open_connection(url), await open_connection(url)
        try:
            started = time.perf_counter()
            _, counts = await run_import(
                conn, load_qc_config(registry), registry, [path], progress=lambda _: None, reader=reader
            )
            seconds = time.perf_counter() - started
        finally:
            await conn.close()
            await reader.close()
    finally:
        await drop_database(url)
    stored = sum(c.stored for c in counts.values())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"readings": stored, "seconds": seconds, "peak_mb": peak_mb}


def _case(path: Path, block_bytes: int) -> dict[str, float]:
    """One import in a process of its own."""
    code = (
        "import asyncio, json; from pathlib import Path; "
        "from benchmarks.bench_import_memory import _import_once; "
        f"print(json.dumps(asyncio.run(_import_once(Path({str(path)!r}), {block_bytes}))))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=60)
    parser.add_argument("--stations", type=int, default=7)
    args = parser.parse_args()
    with TemporaryDirectory() as folder:
        path = Path(folder) / "gauges.csv"
        write_csv(path, args.days, args.stations)
        size = path.stat().st_size
        cases = {"one block (whole file)": size + 1, "blocks of 16 MiB": 16 << 20}
        got = {name: _case(path, block) for name, block in cases.items()}
    whole = got["one block (whole file)"]
    print(f"{args.stations} gauges × {args.days} days, {size / 1e6:.0f} MB of CSV\n")
    print("| case | readings | s | readings/s | × whole | peak RSS MB | × whole |")
    print("|---|---|---|---|---|---|---|")
    for name, r in got.items():
        rate = r["readings"] / r["seconds"]
        print(
            f"| {name} | {r['readings']:,.0f} | {r['seconds']:.1f} | {rate:,.0f} | "
            f"{rate / (whole['readings'] / whole['seconds']):.2f} | {r['peak_mb']:,.0f} | "
            f"{r['peak_mb'] / whole['peak_mb']:.2f} |"
        )


if __name__ == "__main__":
    main()
