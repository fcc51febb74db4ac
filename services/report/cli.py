"""``tidewatch report``: the annual report from the database to a file (HTML or PDF)."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt

import asyncpg

from services.config import Settings
from services.report.assemble import ReportError, assemble, year_bounds_us
from services.report.queries import config_versions, load_inputs
from services.report.render import to_html, to_pdf
from services.report.settings import load_settings
from services.report.text import LANGS
from services.years import parse_year_span


def now_stamp() -> str:
    return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


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
    if fmt not in ("html", "pdf"):
        raise ReportError(f"unknown format {fmt!r} (html or pdf)")
    if lang not in LANGS:
        raise ReportError(f"unknown language {lang!r} (zh or en)")
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
    page = to_html(assemble(inputs))
    return page.encode() if fmt == "html" else to_pdf(page)


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("report", help="the annual assessment report (HTML or PDF)")
    p.add_argument("--year", type=int, required=True)
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
    p.add_argument("--out", required=True)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, settings: Settings) -> int:
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
        year_bounds_us(args.year)  # a bad year is refused before any database is opened
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
