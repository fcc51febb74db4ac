"""The MSL anomaly's baseline on the real PostgreSQL: a gauge's stored monthly means 2000-2026 (three
baseline winters missing, 2026 standing 30 mm higher); the report settings' default period, the CLI's
``--baseline`` and the API's ``baseline=`` give the same document, and a bad span is refused."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest

from schemas.indicators import Indicator
from services.api.app import create_app
from services.config import Settings
from services.db.indicators import write_indicators
from services.report import cli as report_cli
from services.report.assemble import assemble
from services.report.queries import config_versions, load_inputs
from streams.indicators.sealevel import catalogue as sl
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

STATION = "dalian"
STAMP = "2027-01-02T00:00:00Z"
RISE_M = 0.030


def _months() -> tuple[np.ndarray, np.ndarray]:
    months = np.arange("2000-01", "2027-01", dtype="datetime64[M]")
    calendar = months.astype(np.int64) % 12
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    level = 1.80 + 0.25 * np.cos(2 * np.pi * (calendar - 7) / 12) + np.where(years == 2026, RISE_M, 0.0)
    keep = ~(np.isin(calendar, (11, 0, 1)) & (years >= 2001) & (years <= 2003))
    return months[keep].astype("datetime64[us]").astype(np.int64), level[keep]


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_report_baseline") as settings:
        t, level = _months()
        items = [
            Indicator(STATION, sl.MSL_MONTHLY, int(a), float(b), "m") for a, b in zip(t, level, strict=True)
        ]
        items += [Indicator(STATION, sl.MSL_MONTHLY_COMPLETENESS, int(a), 100.0, "%") for a in t]
        conn = await asyncpg.connect(settings.database_url)
        try:
            await write_indicators(conn, items)
        finally:
            await conn.close()
        yield settings


async def _row(settings: Settings, baseline: tuple[int, int] | None):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(settings.database_url)
    try:
        versions = config_versions(settings.registry_path)
        inputs = await load_inputs(
            conn, 2026, station=STATION, generated_at=STAMP, versions=versions, baseline_years=baseline
        )
    finally:
        await conn.close()
    return inputs.baseline_years, assemble(inputs).sea_level[0]


async def test_default_and_chosen_baselines(settings: Settings) -> None:
    years, row = await _row(settings, None)
    assert years == (1993, 2011)  # report.yaml's period: this gauge starts in 2000
    assert row.baseline_coverage_pct == pytest.approx(100 * (12 * 12 - 9) / (19 * 12))
    assert row.anomaly_vs_baseline_mm is None  # 59 % < 80 %: no anomaly against a period it lacks
    years, row = await _row(settings, (2001, 2010))
    assert years == (2001, 2010) and row.baseline_coverage_pct == pytest.approx(100 * 111 / 120)
    assert row.anomaly_vs_baseline_mm == pytest.approx(RISE_M * 1000, abs=1e-6)  # missing winters: no bias


async def test_cli_and_api_take_the_same_baseline(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.html"
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    args = report_cli_args(out, "2001-2010")
    assert await asyncio.to_thread(report_cli.run, args, settings) == 0
    page = out.read_text()
    assert "2001–2010" in page and "30.0" in page
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        query = {"year": 2026, "station": STATION, "generated_at": STAMP, "baseline": "2001-2010"}
        r = await client.get("/api/v1/reports/annual", params=query)
        assert r.status_code == 200 and r.content == out.read_bytes()
        for bad in ("2010-2001", "2001", "20012010"):
            r = await client.get("/api/v1/reports/annual", params={**query, "baseline": bad})
            assert r.status_code in (400, 422), bad


def report_cli_args(out: Path, baseline: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report_cli.add_parser(parser.add_subparsers())
    return parser.parse_args(["report", "--year", "2026", "--station", STATION, "--generated-at", STAMP,
                              "--out", str(out), "--baseline", baseline])  # fmt: skip
