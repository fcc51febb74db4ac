"""``tidewatch import`` and ``tidewatch reprocess``: the command lines of services/history."""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

import orjson

from schemas.contract import parse_time_us
from schemas.registry import load_registry
from services.config import Settings
from services.history.file_readings import FileFormatError
from services.history.sources import FORMATS
from services.history.store import open_connection
from streams.qc import QcConfigError, load_qc_config


def _names(pairs: list[str]) -> dict[str, str]:
    out = {}
    for pair in pairs:
        name, sep, variable = pair.partition("=")
        if not sep or not name or not variable:
            raise SystemExit(f"--map {pair!r}: expected FILE_NAME=VARIABLE_ID")
        out[name] = variable
    return out


def _time(text: str) -> int:
    try:
        return parse_time_us(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


async def _connect(settings: Settings) -> Any:
    from services.db.prepare import prepare_database
    from streams.indicators.catalogue import INDICATORS

    await prepare_database(settings, INDICATORS)
    return await open_connection(settings.database_url)


async def _import(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.importer import run_import

    registry = load_registry(settings.registry_path)
    config = load_qc_config(registry, settings.qc_config_path)
    conn = await _connect(settings)
    reader = await open_connection(settings.database_url)
    try:
        run_id, results = await run_import(
            conn, config, registry, [Path(f) for f in args.files], fmt=args.format, station=args.station,
            names=_names(args.map), reader=reader,
        )  # fmt: skip
    finally:
        await reader.close()
        await conn.close()
    for path, c in results.items():
        rate = c.read / c.seconds if c.seconds else 0.0
        ignored = f"; not readings: {', '.join(c.ignored)}" if c.ignored else ""
        print(
            f"{path}: {c.read:,} read, {c.stored:,} stored, {c.duplicates:,} already stored, "
            f"{c.refused:,} refused ({c.dead_letters:,} new dead letters), {c.flags_changed:,} stored flags "
            f"changed, {rate:,.0f} readings/s{ignored}"
        )
    print(f"import run {run_id}")
    return 0


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    try:
        return asyncio.run(_import(args, settings))
    except (FileFormatError, OSError, QcConfigError) as exc:
        print(f"tidewatch import: {exc}", file=sys.stderr)
        return 2


async def _reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.alerts import OUTCOMES, engine_factory
    from services.history.reprocess import run_reprocess
    from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in

    registry = load_registry(settings.registry_path)
    config = load_qc_config(registry, settings.qc_config_path)
    stations = [s.strip() for s in args.station.split(",") if s.strip()]
    what = [w.strip() for w in args.what.split(",") if w.strip()]
    conn = await _connect(settings)
    try:
        run_id, counts = await run_reprocess(
            conn, config, registry, stations, args.variable, args.from_us, args.to_us, what=what,
            slice_hours=args.slice_hours,
            climatologies=climatologies_in(settings.climatology_dir or PACKAGED_DIR, stations),
            new_engine=engine_factory(registry, settings) if "alerts" in what else None,
        )  # fmt: skip
    finally:
        await conn.close()
    changes = ", ".join(f"{k}: {v:,}" for k, v in sorted(counts["transitions"].items())) or "none"
    print(
        f"reprocess run {run_id}: {counts['judged']:,} readings judged, "
        f"{counts['changed']:,} changed ({changes})"
    )
    if "alerts" in what:
        outcomes = ", ".join(f"{counts.get(f'alerts_{k}', 0):,} {k}" for k in OUTCOMES)
        print(f"reprocess run {run_id}: alerts {outcomes} (tidewatch history --run {run_id} --alerts)")
    return 0


def cmd_reprocess(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.reprocess import ReprocessError

    try:
        return asyncio.run(_reprocess(args, settings))
    except (ReprocessError, QcConfigError) as exc:
        print(f"tidewatch reprocess: {exc}", file=sys.stderr)
        return 2


async def _runs(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.store import list_reprocessed_alerts, list_revisions, list_runs
    from services.history.validate import iso

    conn = await _connect(settings)
    try:
        if args.versions or args.version is not None:
            return await _versions(conn, args)
        if args.run is None:
            for r in await list_runs(conn, args.limit):
                print(
                    f"run {r['run_id']} {r['kind']} {r['state']} started {iso(r['started_us'])} "
                    f"config {r['config_digest'][:12]} ({r['code_version']}): {r['request']} -> {r['counts']}"
                )
            return 0
        if args.alerts:
            for r in await list_reprocessed_alerts(conn, args.run, args.limit):
                print(
                    f"{r['outcome']}: {r['alert_id']} peak {r['old_peak'] or '-'} -> {r['new_peak'] or '-'} "
                    f"(events then {_steps(r['old_events'])}; now {_steps(r['new_events'])})"
                )
            return 0
        rows = await list_revisions(conn, args.run, args.limit)
    finally:
        await conn.close()
    for r in rows:
        print(
            f"{r['station_id']} {r['variable']} {iso(r['time_us'])}: flag {r['old_flag']} -> {r['new_flag']} "
            f"({r['old_tests']} -> {r['new_tests']})"
        )
    return 0


async def _versions(conn: Any, args: argparse.Namespace) -> int:
    """The configuration versions stored rows name (``qc_version``, ``version``), newest first; with
    ``--version N`` that version's whole document."""
    from services.db.provenance import LIST_SQL, list_args, version_record
    from services.history.validate import iso

    if args.version is not None:
        rows = await conn.fetch(LIST_SQL, *list_args(ids=[args.version], with_documents=True))
        if not rows:
            print(f"no config version {args.version}", file=sys.stderr)
            return 2
        record = version_record(rows[0])
        record["first_used"] = iso(record["first_used"])
        print(orjson.dumps(record, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS).decode())
        return 0
    stations = [args.station] if args.station else None
    for r in map(version_record, await conn.fetch(LIST_SQL, *list_args(stations=stations, limit=args.limit))):
        print(
            f"version {r['version_id']} {r['kind']} {r['station_id']} {r['digest'][:12]} "
            f"({r['code_version']}) first used {iso(r['first_used'])}"
        )
    return 0


def _steps(document: str) -> str:
    from services.history.validate import iso

    steps = orjson.loads(document)
    return (
        ", ".join(f"{kind} {severity or ''} {iso(t)}".replace("  ", " ") for kind, severity, t in steps)
        or "none"
    )


def cmd_history(args: argparse.Namespace, settings: Settings) -> int:
    return asyncio.run(_runs(args, settings))


async def _qc(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.alerts import OUTCOMES
    from services.history.manual import FLAG_NAMES, flag_range, reprocess_judged, review_range
    from services.history.store import list_manual_flags, list_reviews
    from services.history.validate import iso

    conn = await _connect(settings)
    try:
        if args.qc_command == "flags":
            for r in await list_manual_flags(conn, args.station):
                print(
                    f"flag {r['flag_id']}: {r['station_id']} {r['variable'] or '(every variable)'} "
                    f"[{iso(r['a'])}, {iso(r['b'])}) {FLAG_NAMES[r['flag']]} by {r['operator']} "
                    f"at {iso(r['created_us'])} (run {r['run_id']}): {r['reason']}"
                )
            return 0
        if args.qc_command == "reviews":
            for r in await list_reviews(conn, args.station):
                note = f": {r['note']}" if r["note"] else ""
                print(
                    f"review {r['review_id']}: {r['station_id']} {r['variable'] or '(every variable)'} "
                    f"[{iso(r['a'])}, {iso(r['b'])}) {r['status']} by {r['operator']} "
                    f"at {iso(r['created_us'])}{note}"
                )
            return 0
        registry = load_registry(settings.registry_path)
        if args.qc_command == "verify":
            review_id, readings = await review_range(
                conn, registry, args.station, args.variable, args.from_us, args.to_us, args.status,
                args.note, args.operator,
            )  # fmt: skip
            print(f"review {review_id}: {readings:,} stored readings now {args.status}")
            return 0
        flag_id, run_id, changed = await flag_range(
            conn, registry, args.station, args.variable, args.from_us, args.to_us, args.flag, args.reason,
            args.operator,
        )  # fmt: skip
        print(f"manual flag {flag_id}: {changed:,} stored readings changed (run {run_id})")
        if not args.no_reprocess:
            again, counts = await reprocess_judged(
                conn, settings, registry, args.station, args.from_us, args.to_us
            )
            outcomes = ", ".join(f"{counts.get(f'alerts_{k}', 0):,} {k}" for k in OUTCOMES)
            print(
                f"reprocess run {again}: indicators {counts.get('indicators_written', 0):,} written, "
                f"{counts.get('indicators_removed', 0):,} removed; alerts {outcomes}"
            )
    finally:
        await conn.close()
    return 0


def cmd_qc(args: argparse.Namespace, settings: Settings) -> int:
    from services.history.manual import ManualQcError
    from services.history.reprocess import ReprocessError

    try:
        return asyncio.run(_qc(args, settings))
    except (ManualQcError, ReprocessError) as exc:
        print(f"tidewatch qc: {exc}", file=sys.stderr)
        return 2


def _range_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--station", required=True)
    parser.add_argument("--variable", help="default: every variable of the station")
    parser.add_argument(
        "--from", dest="from_us", metavar="T", type=_time, required=True, help="RFC 3339, inclusive"
    )
    parser.add_argument(
        "--to", dest="to_us", metavar="T", type=_time, required=True, help="RFC 3339, exclusive"
    )


def add_parsers(commands: argparse._SubParsersAction) -> None:
    imp = commands.add_parser(
        "import", help="import historical files (CSV export, NetCDF-CF timeSeries, NOAA CO-OPS CSV)"
    )
    imp.add_argument("files", nargs="+", metavar="FILE")
    imp.add_argument("--format", choices=FORMATS, help="default: recognised from the file's content")
    imp.add_argument("--station", help="the station of files that name none (CO-OPS; single-station NetCDF)")
    imp.add_argument(
        "--map",
        action="append",
        default=[],
        metavar="NAME=ID",
        help="NetCDF variable NAME is vocabulary id ID",
    )
    imp.set_defaults(func=cmd_import)

    rep = commands.add_parser(
        "reprocess", help="judge stored readings again with the current QC configuration"
    )
    rep.add_argument("--station", required=True, help="station id, or several separated by commas")
    rep.add_argument("--variable", help="only this variable (default: every variable of the stations)")
    rep.add_argument("--from", dest="from_us", type=_time, required=True, help="RFC 3339, inclusive")
    rep.add_argument("--to", dest="to_us", type=_time, required=True, help="RFC 3339, exclusive")
    rep.add_argument(
        "--what",
        default="qc",
        help="what to recompute, comma-separated: qc, indicators, alerts (history only, never notified; "
        "default: qc)",
    )
    rep.add_argument("--slice-hours", type=float, default=24.0, help="hours per checkpointed slice")
    rep.set_defaults(func=cmd_reprocess)

    history = commands.add_parser("history", help="import and reprocess runs, and what they changed")
    history.add_argument("--run", type=int, help="list the readings this run changed, old and new flags")
    history.add_argument(
        "--alerts", action="store_true", help="with --run: the run's alerts judged again, old and new"
    )
    history.add_argument(
        "--versions", action="store_true", help="the configuration versions stored flags and indicators name"
    )
    history.add_argument("--version", type=int, help="one configuration version's whole document")
    history.add_argument("--station", help="with --versions: only this station's")
    history.add_argument("--limit", type=int, default=50)
    history.set_defaults(func=cmd_history)

    qc = commands.add_parser(
        "qc", help="manual QC and data status: judge a range good, suspect or bad; mark it verified"
    )
    qc_commands = qc.add_subparsers(dest="qc_command", required=True)
    flag = qc_commands.add_parser(
        "flag", help="judge a range of a station's series (overrides automatic flags)"
    )
    _range_arguments(flag)
    flag.add_argument("--flag", required=True, choices=("good", "suspect", "bad"))
    flag.add_argument("--reason", required=True)
    flag.add_argument(
        "--operator", required=True, help="the console operator judging (role operator or admin)"
    )
    flag.add_argument(
        "--no-reprocess",
        action="store_true",
        help="do not recompute the range's indicators and alerts (history) from the judged flags",
    )
    flag.set_defaults(func=cmd_qc)
    flags = qc_commands.add_parser("flags", help="list the manual judgements")
    flags.add_argument("--station")
    flags.set_defaults(func=cmd_qc)
    verify = qc_commands.add_parser(
        "verify", help="mark a range of a station's series verified (reviewed), or preliminary again"
    )
    _range_arguments(verify)
    verify.add_argument("--status", default="verified", choices=("verified", "preliminary"))
    verify.add_argument("--note", default="", help="what was reviewed (optional)")
    verify.add_argument(
        "--operator", required=True, help="the console operator reviewing (role operator or admin)"
    )
    verify.set_defaults(func=cmd_qc)
    reviews = qc_commands.add_parser("reviews", help="list the data-status reviews")
    reviews.add_argument("--station")
    reviews.set_defaults(func=cmd_qc)
