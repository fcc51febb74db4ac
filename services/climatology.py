"""``tidewatch climatology build``: a station's marine-heatwave climatology from its own stored history.

The stream stores each station's daily mean SST (indicator ``sst_daily_mean_degC``, QC-good readings
only). This command reads those days for a baseline period (plus the window days just outside it,
which the reference implementation pools too), computes the Hobday climatology and writes the file
the worker loads at start-up (``$TIDEWATCH_CLIMATOLOGY_DIR/<station>.csv``), with the baseline and its
coverage in the file's comment lines. A baseline whose coverage is below ``--min-coverage-pct`` is
refused: the file would claim a period its data do not span. The worker reads climatologies when it
starts, so restart it after a rebuild (a periodic rebuild is this command from cron or a timer).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import sys
from pathlib import Path

import asyncpg
import numpy as np

from schemas.registry import load_registry
from services.config import Settings
from services.db.timestamps import ts, us
from services.years import parse_year_span
from streams.indicators.ecology.calendar import DAY_US, from_date
from streams.indicators.ecology.climatology import (
    PERCENTILE,
    SMOOTH_WIDTH_D,
    WINDOW_HALF_WIDTH_D,
    ClimatologyError,
    baseline_coverage,
    climatology_to_csv,
    compute_climatology,
)
from streams.indicators.ecology.heatwave import SST_DAILY, TEMPERATURE

# A baseline must have a daily SST on at least this share of its days unless the operator says less.
DEFAULT_MIN_COVERAGE_PCT = 80.0


async def stored_daily_sst(
    conn: asyncpg.Connection, station: str, first_day: int, end_day: int
) -> tuple[np.ndarray, np.ndarray]:
    """Day numbers and daily mean SST (°C) stored for ``station`` on days first_day..end_day-1."""
    rows = await conn.fetch(
        f"""
        SELECT {us("time")} AS t_us, value
        FROM indicators
        WHERE station_id = $1 AND indicator = $2 AND value IS NOT NULL
          AND time >= {ts("$3")} AND time < {ts("$4")}
        ORDER BY time
        """,
        station,
        SST_DAILY,
        first_day * DAY_US,
        end_day * DAY_US,
    )
    days = np.array([r["t_us"] // DAY_US for r in rows], dtype=np.int64)
    return days, np.array([r["value"] for r in rows], dtype=float)


async def build_climatology_file(
    conn: asyncpg.Connection,
    station: str,
    baseline: tuple[int, int],
    *,
    min_coverage_pct: float = DEFAULT_MIN_COVERAGE_PCT,
    built_at: str | None = None,
) -> str:
    """The climatology file's text; raises ClimatologyError when the baseline is not covered."""
    half = WINDOW_HALF_WIDTH_D
    first_day = from_date(dt.date(baseline[0], 1, 1)) - half
    end_day = from_date(dt.date(baseline[1] + 1, 1, 1)) + half
    days, sst = await stored_daily_sst(conn, station, first_day, end_day)
    coverage = baseline_coverage(days, sst, baseline)
    if coverage.pct < min_coverage_pct:
        raise ClimatologyError(
            f"station {station}: baseline {baseline[0]}-{baseline[1]} has daily SST on "
            f"{coverage.describe()}; below {min_coverage_pct:g} % "
            "(lower --min-coverage-pct or choose years the record covers)"
        )
    clim = compute_climatology(
        days, sst, baseline_years=baseline, source=f"station {station} daily mean SST ({SST_DAILY})"
    )
    stamp = built_at or dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    notes = {
        "station": station,
        "baseline": f"{baseline[0]}-{baseline[1]}",
        "coverage": coverage.describe(),
        "coverage_pct": f"{coverage.pct:.2f}",
        "method": (
            f"Hobday et al. 2016: {2 * half + 1}-day window (pooling the days just outside the baseline), "
            f"p{PERCENTILE:g}, {SMOOTH_WIDTH_D}-day circular smoothing"
        ),
        "built": f"{stamp} by tidewatch climatology build",
    }
    return climatology_to_csv(clim, notes)


def write_atomically(path: Path, text: str) -> None:
    """Replace the file in one rename, so a worker starting meanwhile reads the old or the new one."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def output_folder(args: argparse.Namespace, settings: Settings) -> Path | None:
    if not settings.climatology_dir and not (args.out and args.station):
        raise ClimatologyError("set TIDEWATCH_CLIMATOLOGY_DIR (the folder the worker loads) or give --out")
    return Path(settings.climatology_dir) if settings.climatology_dir else None


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("climatology", help="marine-heatwave SST climatologies")
    sub = p.add_subparsers(dest="climatology_command", required=True)
    build = sub.add_parser("build", help="build a station's climatology from its stored daily mean SST")
    which = build.add_mutually_exclusive_group(required=True)
    which.add_argument("--station")
    which.add_argument(
        "--all",
        action="store_true",
        help="every station measuring water temperature whose record covers the baseline (a periodic "
        "rebuild); the others are listed and left as they are",
    )
    build.add_argument(
        "--baseline", type=parse_year_span, required=True, help="years FIRST-LAST, e.g. 1991-2020"
    )
    build.add_argument(
        "--min-coverage-pct",
        type=float,
        default=DEFAULT_MIN_COVERAGE_PCT,
        help=f"refuse a baseline with daily SST on fewer of its days (default {DEFAULT_MIN_COVERAGE_PCT:g})",
    )
    build.add_argument(
        "--out", help="file to write, with --station (default: $TIDEWATCH_CLIMATOLOGY_DIR/<station>.csv)"
    )
    build.set_defaults(func=run_build)


def run_build(args: argparse.Namespace, settings: Settings) -> int:
    """Exit 0 when every station asked for (with --all: at least one) got its file, else 2."""
    registry = load_registry(settings.registry_path)
    if args.all:
        stations = [s.id for s in registry.stations.values() if TEMPERATURE in s.variables]
    else:
        station = registry.stations.get(args.station)
        if station is None or TEMPERATURE not in station.variables:
            print(
                f"station {args.station!r}: not in the registry or measures no {TEMPERATURE}", file=sys.stderr
            )
            return 2
        stations = [args.station]
    try:
        folder = output_folder(args, settings)
    except ClimatologyError as exc:
        print(exc, file=sys.stderr)
        return 2

    async def go() -> dict[str, str | ClimatologyError]:
        conn = await asyncpg.connect(settings.database_url)
        out: dict[str, str | ClimatologyError] = {}
        try:
            for sid in stations:
                try:
                    out[sid] = await build_climatology_file(
                        conn, sid, args.baseline, min_coverage_pct=args.min_coverage_pct
                    )
                except ClimatologyError as exc:
                    out[sid] = exc
        finally:
            await conn.close()
        return out

    built = 0
    for sid, result in asyncio.run(go()).items():
        if isinstance(result, ClimatologyError):
            print(result, file=sys.stderr)
            continue
        if args.out and not args.all:
            path = Path(args.out)
        else:
            assert folder is not None  # output_folder refuses no folder unless --out names the file
            path = folder / f"{sid}.csv"
        write_atomically(path, result)
        coverage = next(line for line in result.splitlines() if line.startswith("# coverage: "))
        print(f"{path}: baseline {args.baseline[0]}-{args.baseline[1]}, {coverage[12:]}")
        built += 1
    return 0 if built and (args.all or built == len(stations)) else 2
