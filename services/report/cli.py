"""``tidewatch report``: the annual report from the database to a file (HTML or PDF)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import threading

import asyncpg

from schemas.contract import parse_time_us
from services.config import Settings
from services.report import summary
from services.report.assemble import ReportError, ReportInputs, assemble, year_bounds_us
from services.report.queries import config_versions, load_inputs
from services.report.render import to_html, to_pdf
from services.report.settings import load_settings
from services.report.text import LANGS
from services.years import parse_year_span

# matplotlib's pyplot keeps global state: one report is drawn at a time, off the API's event loop
_RENDER_LOCK = threading.Lock()


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def check_request(year: int, generated_at: str | None, fmt: str = "html", lang: str = "zh") -> None:
    """Refuse a bad year, stamp, format or language before any database is read."""
    year_bounds_us(year)
    if fmt not in ("html", "pdf"):
        raise ReportError(f"unknown format {fmt!r} (html or pdf)")
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r} (zh or en)")
    if generated_at is not None:
        try:
            parse_time_us(generated_at)
        except ValueError as exc:
            raise ReportError(f"generated_at {generated_at!r}: {exc}") from exc


def _render(inputs: ReportInputs, fmt: str) -> bytes:
    with _RENDER_LOCK:
        page = to_html(assemble(inputs))
        return page.encode() if fmt == "html" else to_pdf(page)


async def build_report(
    conn: asyncpg.Connection,
    settings: Settings,
    year: int,
    *,
    station: str | None = None,
    area: str | None = None,
    fmt: str = "html",
    generated_at: str | None = None,
    lang: str = "zh",
    settings_path: str | None = None,
    baseline: tuple[int, int] | None = None,
) -> bytes:
    """The report's bytes; one function behind the CLI and the API so both give the same document."""
    check_request(year, generated_at, fmt, lang)
    report_settings = load_settings(settings_path)
    inputs = await load_inputs(
        conn,
        year,
        station=station,
        area=area,
        generated_at=generated_at or now_stamp(),
        versions=config_versions(settings.registry_path, report_settings),
        settings=report_settings,
        lang=lang,
        baseline_years=baseline,
    )
    # seconds of CPU for a PDF: in a thread, so the API answers other requests meanwhile
    return await asyncio.to_thread(_render, inputs, fmt)


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("report", help="the annual assessment report (HTML or PDF)")
    p.add_argument("--year", type=int, help="the report's year (required unless --refresh)")
    scope = p.add_mutually_exclusive_group()
    scope.add_argument("--station")
    scope.add_argument("--area")
    p.add_argument("--format", choices=("html", "pdf"), default="html")
    p.add_argument("--lang", choices=LANGS, default="zh", help="zh: Chinese first, then English; en: English")
    p.add_argument("--settings", help="report settings YAML (default: services/report/report.yaml)")
    p.add_argument("--generated-at", help="stamp to print instead of now (reproducible output)")
    p.add_argument(
        "--baseline",
        type=parse_year_span,
        help="MSL anomaly baseline years FIRST-LAST (default: report settings, 1993-2011)",
    )
    p.add_argument("--out", help="the file to write (required unless --refresh)")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="only bring the daily observation summary up to date (a report does it first anyway; run it"
        " after a large import or reprocess so the next report is quick) and exit",
    )
    p.set_defaults(func=run)


def refresh_summary(settings: Settings) -> int:
    """``tidewatch report --refresh``: recompute the summary's marked days and say how many."""

    async def go() -> summary.Refreshed:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await summary.refresh(conn)
        finally:
            await conn.close()

    try:
        done = asyncio.run(go())
    except ReportError as exc:
        print(f"report: {exc}")
        return 1
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"report: cannot read the database: {exc}")
        return 1
    print(f"observation summary: {done.days} station-variable-days recomputed in {done.seconds:.2f} s")
    return 0


def run(args: argparse.Namespace, settings: Settings) -> int:
    if getattr(args, "refresh", False):
        return refresh_summary(settings)
    if args.year is None or args.out is None:
        print("report: --year and --out are required (or --refresh alone)")
        return 2

    async def go() -> bytes:
        conn = await asyncpg.connect(settings.database_url)
        try:
            return await build_report(
                conn,
                settings,
                args.year,
                station=args.station,
                area=args.area,
                fmt=args.format,
                generated_at=args.generated_at,
                lang=getattr(args, "lang", "zh"),
                settings_path=getattr(args, "settings", None),
                baseline=getattr(args, "baseline", None),
            )
        finally:
            await conn.close()

    try:
        check_request(args.year, args.generated_at)  # refused before any database is opened
        data = asyncio.run(go())
    except ReportError as exc:
        print(f"report: {exc}")
        return 2
    except (OSError, asyncpg.PostgresError) as exc:
        print(f"report: cannot read the database: {exc}")
        return 1
    with open(args.out, "wb") as f:
        f.write(data)
    return 0
