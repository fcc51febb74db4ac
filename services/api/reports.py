"""GET /api/v1/reports/annual: the same document as ``tidewatch report`` (services/report)."""

from __future__ import annotations

from argparse import ArgumentTypeError

from fastapi import APIRouter, HTTPException, Query, Request, Response

from services.report.assemble import ReportError
from services.report.cli import build_report
from services.report.summary import SummaryBusy
from services.years import parse_year_span

router = APIRouter()


@router.get("/api/v1/reports/annual", summary="Annual assessment report (HTML or PDF)")
async def annual_report(
    request: Request,
    year: int = Query(...),
    station: str | None = None,
    area: str | None = None,
    format: str = Query("html", pattern="^(html|pdf)$"),
    lang: str = Query("zh", pattern="^(zh|en)$", description="zh: Chinese first, then English; en"),
    generated_at: str | None = None,
    baseline: str | None = Query(
        None,
        pattern=r"^\d{4}-\d{4}$",
        description="MSL anomaly baseline years FIRST-LAST (default 1993-2011)",
    ),
) -> Response:
    if station and area:
        raise HTTPException(400, "give station or area, not both")
    try:
        baseline_years = parse_year_span(baseline) if baseline else None
    except ArgumentTypeError as exc:
        raise HTTPException(400, str(exc)) from exc
    pool = await request.app.state.db.pool()
    try:
        async with pool.acquire() as conn:
            body = await build_report(
                conn,
                request.app.state.settings,
                year,
                station=station,
                area=area,
                fmt=format,
                generated_at=generated_at,
                lang=lang,
                baseline=baseline_years,
            )
    except SummaryBusy as exc:  # the data are fine, the moment is not
        raise HTTPException(503, str(exc), headers={"Retry-After": "30"}) from exc
    except ReportError as exc:
        raise HTTPException(400, str(exc)) from exc
    media = "text/html; charset=utf-8" if format == "html" else "application/pdf"
    return Response(body, media_type=media)
