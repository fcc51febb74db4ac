"""The annual report against the real PostgreSQL: a generated station-year (three years of hourly tide-gauge
levels, so the trend has its 24 months) written through the service's writers, then every reported number
checked against a direct numpy computation from the same readings; the PDF's fonts and pages; the API
returns the CLI's document.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import re
import shutil
import subprocess
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest

from services.api.app import create_app
from services.config import Settings
from services.db.indicators import write_indicators
from services.db.writers import prepare_connection, upsert_observations
from services.report import cli as report_cli
from services.report.assemble import assemble
from services.report.queries import config_versions, load_inputs
from streams.indicators.records import Indicator
from streams.indicators.sealevel import records as sl
from streams.indicators.sealevel.means import completeness_pct, mean_m, partial_sums, period_end_us, to_um
from streams.indicators.sealevel.trend import sea_level_trend
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

STATION = "dalian"
BUOY = "liaodong-bay-buoy"
HOUR_US = 3_600_000_000
STAMP = "2027-01-02T00:00:00Z"


def _us(y: int, m: int = 1, d: int = 1) -> int:
    return int(dt.datetime(y, m, d, tzinfo=dt.UTC).timestamp() * 1_000_000)


def _levels() -> tuple[np.ndarray, np.ndarray]:
    """Hourly levels 2024–2026: 4 mm/yr rise, seasonal cycle, M2 tide, noise; half of March 2026 missing."""
    rng = np.random.default_rng(15)
    t = np.arange(_us(2024), _us(2027), HOUR_US, dtype=np.int64)
    yr = (t - t[0]) / (365.2425 * 86400e6)
    h = 2.0 + 0.004 * yr + 0.15 * np.sin(2 * np.pi * yr) + 1.2 * np.sin(2 * np.pi * (t / 3.6e9) / 12.42)
    h += rng.normal(0, 0.05, t.size)
    gap = (t >= _us(2026, 3, 1)) & (t < _us(2026, 3, 16))
    return t[~gap], np.round(h[~gap], 3)


def _high_water_warnings() -> tuple[np.ndarray, np.ndarray]:
    """A warning level (0..4) at each 2026 high water (~12.42 h apart)."""
    rng = np.random.default_rng(7)
    t = np.arange(_us(2026), _us(2027), int(12.42 * HOUR_US), dtype=np.int64)
    return t, rng.choice([0, 0, 0, 0, 1, 1, 2, 3, 4], size=t.size).astype(float)


def _surges() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(8)
    t = np.arange(_us(2026), _us(2027), int(12.42 * HOUR_US), dtype=np.int64) + HOUR_US
    return t, np.round(rng.gamma(2.0, 0.1, t.size), 3)


def _waves() -> tuple[np.ndarray, np.ndarray]:
    """Hourly significant wave heights at the buoy in 2026 (m)."""
    rng = np.random.default_rng(9)
    t = np.arange(_us(2026), _us(2027), HOUR_US, dtype=np.int64)
    return t, np.round(rng.gamma(2.0, 0.8, t.size), 2)


ALERTS = [  # id, severity, opened (µs), acknowledged after (min) or None
    ("a1", "blue", _us(2026, 2, 3), 12.0),
    ("a2", "blue", _us(2026, 5, 9), 30.0),
    ("a3", "orange", _us(2026, 10, 1), 4.0),
    ("a4", "yellow", _us(2026, 11, 2), None),
    ("a5", "red", _us(2025, 12, 30), 1.0),  # previous year: not counted
]


async def _seed(url: str) -> None:
    t, h = _levels()
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        in_year = t >= _us(2026)
        flags = np.where(np.arange(t.size) % 97 == 0, 3, 1)
        rows = [
            (int(ti), STATION, "water_level_m", float(hi), int(fi), None, int(ti), False)
            for ti, hi, fi in zip(t[in_year], h[in_year], flags[in_year], strict=True)
        ]
        await upsert_observations(conn, rows)
        sums = partial_sums(t, to_um(h), "month")
        items = []
        for start, (n, s) in sums.items():
            pct = completeness_pct(n, start, period_end_us(start, "month"), 3600.0)
            items.append(Indicator(STATION, sl.MSL_MONTHLY, start, mean_m(n, s), "m"))
            items.append(Indicator(STATION, sl.MSL_MONTHLY_COMPLETENESS, start, pct, "%"))
        hw_t, hw_level = _high_water_warnings()
        items += [
            Indicator(STATION, sl.WATER_LEVEL_WARNING, int(a), float(b), "1")
            for a, b in zip(hw_t, hw_level, strict=True)
        ]
        items += [
            Indicator(STATION, sl.SURGE_MAX_CYCLE, int(a), float(b), "m")
            for a, b in zip(*_surges(), strict=True)
        ]
        await write_indicators(conn, items)
        wt, wh = _waves()
        await upsert_observations(
            conn,
            [
                (int(a), BUOY, "wave_height_m", float(b), 1, None, int(a), False)
                for a, b in zip(wt, wh, strict=True)
            ],
        )
        for aid, sev, opened, ack in ALERTS:
            await conn.execute(
                "INSERT INTO alerts (alert_id, station_id, rule, state, severity, opened_at, updated_at, "
                "message_en, message_zh, acknowledged_at, last_seq) VALUES ($1, $2, 'water_level_warning', "
                "'resolved', $3, to_timestamp($4 / 1e6), to_timestamp($4 / 1e6), 'm', '消息', "
                "to_timestamp($5 / 1e6), 1)",
                aid, STATION, sev, opened, None if ack is None else opened + ack * 60e6,
            )  # fmt: skip
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_report") as settings:
        await _seed(settings.database_url)
        yield settings


def _independent_monthly(year_max: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monthly means straight from the generated readings (numpy grouping, no tidewatch code)."""
    t, h = _levels()
    month = t.astype("datetime64[us]").astype("datetime64[M]")
    keys = np.unique(month)
    keys = keys[keys.astype("datetime64[Y]").astype(int) + 1970 <= year_max]
    means = np.array([h[month == k].mean() for k in keys])
    days = np.array([((k + 1).astype("datetime64[D]") - k.astype("datetime64[D]")).astype(int) for k in keys])
    pct = np.minimum(100.0, np.array([np.sum(month == k) for k in keys]) / (days * 24) * 100)
    return keys.astype("datetime64[us]").astype(np.int64), means, pct


async def _report(settings: Settings):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(settings.database_url)
    try:
        inputs = await load_inputs(conn, 2026, station=STATION, generated_at=STAMP,
                                   versions=config_versions(settings.registry_path))  # fmt: skip
    finally:
        await conn.close()
    return assemble(inputs)


async def test_sea_level_numbers_equal_a_direct_computation(settings: Settings) -> None:
    report = await _report(settings)
    (row,) = report.sea_level
    starts, means, pct = _independent_monthly(2026)
    years = starts.astype("datetime64[us]").astype("datetime64[Y]").astype(int) + 1970
    assert row.months_in_year == 12
    assert row.annual_mean_m == pytest.approx(means[years == 2026].mean(), abs=1e-9)
    assert row.previous_year_mean_m == pytest.approx(means[years == 2025].mean(), abs=1e-9)
    assert row.anomaly_vs_previous_mm == pytest.approx(
        (means[years == 2026].mean() - means[years == 2025].mean()) * 1000, abs=1e-6
    )
    assert row.baseline_mean_m is None and row.anomaly_vs_baseline_mm is None  # no 1993–2011 data
    assert row.completeness_pct == pytest.approx(pct[years == 2026].sum() / 12, abs=1e-9)
    assert row.completeness_pct < 100.0  # the March gap shows
    expected = sea_level_trend(starts, means, pct)
    assert expected is not None and row.trend is not None
    assert row.trend.slope_mm_yr == pytest.approx(expected.slope_mm_yr, abs=1e-6)
    assert row.trend.ci_low_mm_yr == pytest.approx(expected.ci_low_mm_yr, abs=1e-6)
    assert row.trend.record_years == pytest.approx(expected.record_years, abs=1e-9)
    top = int(np.argmax(np.where(years == 2026, means, -np.inf)))
    assert row.record_month is not None and row.record_month[1] == pytest.approx(means[top], abs=1e-9)


async def test_warnings_qc_and_html_carry_the_same_numbers(settings: Settings) -> None:
    report = await _report(settings)
    in_year = [a for a in ALERTS if a[2] >= _us(2026)]
    for level in ("blue", "yellow", "orange", "red"):
        assert report.warnings_by_level[level] == sum(1 for a in in_year if a[1] == level)
    assert report.median_ack_minutes["blue"] == pytest.approx(np.median([12.0, 30.0]))
    assert report.unacknowledged == sum(1 for a in in_year if a[3] is None)
    t, _ = _levels()
    n_year = int(np.sum(t >= _us(2026)))
    flags = np.where(np.arange(t.size) % 97 == 0, 3, 1)[t >= _us(2026)]
    ((station, variable, counts, good_pct),) = report.qc_table
    assert (station, variable) == (STATION, "water_level_m")
    assert counts == {"good": int(np.sum(flags == 1)), "suspect": int(np.sum(flags == 3))}
    assert good_pct == pytest.approx(100.0 * np.sum(flags == 1) / n_year)
    page = await _build(settings, "html")
    text = page.decode()
    (row,) = report.sea_level
    assert f"{row.annual_mean_m:.3f}" in text and f"{row.trend.slope_mm_yr:.1f}" in text
    assert "data:image/png;base64," in text and "src='http" not in text  # self-contained
    assert "无数据 / no data" in text  # the baseline it does not have is said
    assert STAMP in text and "registry_sha256" in text


async def _build(settings: Settings, fmt: str, **kw) -> bytes:  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await report_cli.build_report(conn, settings, 2026, station=STATION, fmt=fmt,
                                             generated_at=STAMP, **kw)  # fmt: skip
    finally:
        await conn.close()


async def test_same_inputs_give_the_same_bytes(settings: Settings) -> None:
    assert await _build(settings, "html") == await _build(settings, "html")
    assert await _build(settings, "pdf") == await _build(settings, "pdf")


async def test_cli_and_api_give_the_same_report_and_bad_requests_are_refused(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "r.html"
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    args = argparse.Namespace(year=2026, station=STATION, area=None, format="html", generated_at=STAMP,
                              out=str(out))  # fmt: skip
    # the CLI runs its own event loop: call it in a thread, as a separate process would
    assert await asyncio.to_thread(report_cli.run, args, settings) == 0
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as client,
    ):
        r = await client.get("/api/v1/reports/annual", params={"year": 2026, "station": STATION,
                                                               "generated_at": STAMP})  # fmt: skip
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        assert r.content == out.read_bytes()
        for bad in ({"year": 1800}, {"year": 2026, "station": "nowhere"}, {"year": 2026, "area": "mars"}):
            r = await client.get("/api/v1/reports/annual", params=bad)
            assert r.status_code == 400, bad


@pytest.mark.skipif(shutil.which("pdffonts") is None, reason="poppler-utils not installed")
async def test_pdf_embeds_cjk_fonts_and_renders(settings: Settings, tmp_path: Path) -> None:
    started = time.perf_counter()
    pdf = await _build(settings, "pdf")
    elapsed = time.perf_counter() - started
    path = tmp_path / "r.pdf"
    path.write_bytes(pdf)
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    lines = [ln for ln in fonts.splitlines()[2:] if ln.strip()]
    assert any("CJK" in ln for ln in lines)
    assert all(re.search(r"\byes\s+yes\s+(yes|no)\s+\d+\s+\d+\s*$", ln) for ln in lines), fonts  # emb, sub
    subprocess.run(["pdftoppm", "-png", "-r", "60", "-f", "1", "-l", "1", str(path), str(tmp_path / "p")],
                   check=True)  # fmt: skip
    assert list(tmp_path.glob("p*.png"))
    print(f"station-year PDF built in {elapsed:.2f} s, {len(pdf)} bytes")


async def test_coastal_hazards_equal_a_direct_computation(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        inputs = await load_inputs(conn, 2026, generated_at=STAMP, versions={})
    finally:
        await conn.close()
    report = assemble(inputs)
    rows = {h.station.id: h for h in report.hazards}
    gauge = rows[STATION]
    t, level = _high_water_warnings()
    day = t // 86_400_000_000
    for k, colour in enumerate(("blue", "yellow", "orange", "red"), start=1):
        assert gauge.high_waters_at_level[colour] == int(np.sum(level >= k))
        assert gauge.days_at_level[colour] == len(set(day[level >= k].tolist()))
    st, sv = _surges()
    when = st[np.argmax(sv)].astype("datetime64[us]").astype("datetime64[m]")
    assert gauge.max_surge_m == (f"{when}Z", pytest.approx(sv.max()))
    wt, wh = _waves()
    days = wt.astype("datetime64[us]").astype("datetime64[D]")
    daily_max = {d: wh[days == d].max() for d in np.unique(days)}
    assert rows[BUOY].wave_days_ge_4m == sum(1 for v in daily_max.values() if v >= 4.0)
    others = [h for h in report.hazards if h.station.id not in (STATION, BUOY)]
    assert others and all(h.max_surge_m is None and h.wave_days_ge_4m is None for h in others)
