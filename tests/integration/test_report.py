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

from schemas.indicators import Indicator
from schemas.records import Sample
from schemas.registry import default_registry_path, load_registry
from services.api.app import create_app
from services.config import Settings
from services.db.indicators import write_indicators
from services.db.writers import prepare_connection, upsert_observations
from services.report import cli as report_cli
from services.report.assemble import assemble
from services.report.queries import config_versions, load_inputs
from services.report.settings import load_settings
from streams.indicators.ecology import compute_batch, load_climatology_csv, params_for_station
from streams.indicators.ecology.catalogue import CATALOGUE as ECO_CATALOGUE
from streams.indicators.sealevel import catalogue as sl
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


NOT_WARNINGS = [  # counted in no warning total: withdrawn by QC, pending only, station health
    ("r1", "water_level_warning", "red", _us(2026, 6, 1), [("firing", "firing", "red"),
                                                         ("retracted", "resolved", "red")]),
    ("p1", "water_level_warning", "yellow", _us(2026, 7, 1), [("pending", "pending", "yellow"),
                                                             ("resolved", "resolved", "yellow")]),
    ("h1", "battery_low", "red", _us(2026, 8, 1), [("firing", "firing", "red")]),
]  # fmt: skip


async def _alert(conn, aid, rule, severity, opened_us, ack_min, steps) -> None:  # type: ignore[no-untyped-def]
    """An alert row and its events (one a minute from opening), as the engine's writer leaves them."""
    await conn.execute(
        "INSERT INTO alerts (alert_id, station_id, rule, state, severity, opened_at, updated_at, "
        "message_en, message_zh, acknowledged_at, last_seq) VALUES ($1, $2, $3, $4, $5, "
        "to_timestamp($6 / 1e6), to_timestamp($6 / 1e6), 'm', '消息', to_timestamp($7 / 1e6), $8)",
        aid, STATION, rule, steps[-1][1], severity, opened_us,
        None if ack_min is None else opened_us + ack_min * 60e6, len(steps) - 1,
    )  # fmt: skip
    for seq, (kind, state, sev) in enumerate(steps):
        await conn.execute(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, message_en, "
            "message_zh, state) VALUES ($1, $2, $3, $4, $5, $6, to_timestamp($7 / 1e6), 'm', '消息', $8)",
            aid, seq, STATION, rule, kind, sev, opened_us + seq * 60e6, state,
        )  # fmt: skip


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
            await _alert(conn, aid, "water_level_warning", sev, opened, ack, [("firing", "firing", sev)])
        for aid, rule, sev, opened, steps in NOT_WARNINGS:
            await _alert(conn, aid, rule, sev, opened, None, steps)
        for i, (station, reason, received) in enumerate(DEAD_LETTERS):
            await conn.execute(
                "INSERT INTO dead_letters (received_at, fingerprint, source, station_id, reason, detail, "
                "payload) VALUES (to_timestamp($1 / 1e6), $2, 'ingest', $3, $4, 'd', 'p')",
                received, bytes([i]), station, reason,
            )  # fmt: skip
    finally:
        await conn.close()


DEAD_LETTERS = [  # station (None: the message named none), reason, received (µs)
    (STATION, "wrong_unit", _us(2026, 3, 1)),
    (STATION, "wrong_unit", _us(2026, 9, 1)),
    (STATION, "wrong_unit", _us(2025, 9, 1)),  # previous year: not counted
    (None, "malformed_json", _us(2026, 4, 1)),
    ("yingkou", "bad_time", _us(2026, 5, 1)),
    ("atlantis", "unknown_station", _us(2026, 6, 1)),
]


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
    low = int(np.argmin(np.where(years == 2026, means, np.inf)))
    assert row.record_low_month is not None and row.record_low_month[1] == pytest.approx(means[low], abs=1e-9)


async def test_warnings_qc_and_html_carry_the_same_numbers(settings: Settings) -> None:
    report = await _report(settings)
    in_year = [a for a in ALERTS if a[2] >= _us(2026)]
    for level in ("blue", "yellow", "orange", "red"):
        assert report.warnings_by_level[level] == sum(1 for a in in_year if a[1] == level)
    assert report.median_ack_minutes["blue"] == pytest.approx(np.median([12.0, 30.0]))
    assert report.unacknowledged == sum(1 for a in in_year if a[3] is None)
    rules = {r.rule: r for r in report.alert_rules}
    assert rules["water_level_warning"].withdrawn == 1 and rules["water_level_warning"].never_fired == 1
    assert rules["battery_low"].station_health and rules["battery_low"].by_level["red"] == 1
    # the same counts straight from the stored events: fired, not retracted, hazard rules, in 2026
    conn = await asyncpg.connect(settings.database_url)
    try:
        direct = await conn.fetch(
            """SELECT a.severity, count(*) AS n FROM alerts a
               WHERE a.rule <> 'battery_low' AND a.opened_at >= '2026-01-01Z' AND a.opened_at < '2027-01-01Z'
                 AND EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.alert_id
                             AND e.state = 'firing')
                 AND NOT EXISTS (SELECT 1 FROM alert_events e WHERE e.alert_id = a.alert_id
                                 AND e.kind = 'retracted')
               GROUP BY 1"""
        )
    finally:
        await conn.close()
    assert {k: v for k, v in report.warnings_by_level.items() if v} == {r["severity"]: r["n"] for r in direct}
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
        bad_requests = [
            ({"year": 1800}, "year 1800 is outside 1990..2100"),
            ({"year": 2026, "station": "nowhere"}, "unknown station 'nowhere'"),
            ({"year": 2026, "area": "mars"}, "unknown area 'mars'"),
            ({"year": 2026, "generated_at": "yesterday"}, "generated_at 'yesterday'"),
            ({"year": 2026, "station": STATION, "area": "liaodong-bay"}, "station or area, not both"),
        ]
        for bad, said in bad_requests:
            r = await client.get("/api/v1/reports/annual", params=bad)
            assert r.status_code == 400 and said in r.json()["error"]["message"], (bad, r.text)


async def test_dead_letters_by_scope_equal_the_stored_rows(settings: Settings) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        scopes = {"network": {}, "station": {"station": STATION}, "area": {"area": "north-yellow-sea"}}
        got = {}
        for name, kw in scopes.items():
            inputs = await load_inputs(conn, 2026, generated_at=STAMP, versions={}, **kw)
            got[name] = inputs.dead_letters
        direct = {
            r["reason"]: r["n"]
            for r in await conn.fetch(
                "SELECT reason, count(*) AS n FROM dead_letters WHERE received_at >= '2026-01-01Z' "
                "AND received_at < '2027-01-01Z' GROUP BY 1"
            )
        }
    finally:
        await conn.close()
    in_year = [d for d in DEAD_LETTERS if _us(2026) <= d[2] < _us(2027)]
    expected = {r: sum(1 for d in in_year if d[1] == r) for r in {d[1] for d in in_year}}
    assert got["network"] == direct == expected
    # dalian is in north-yellow-sea; yingkou (liaodong-bay), letters naming no or an unknown station are not
    assert got["station"] == got["area"] == {"wrong_unit": 2}


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


# --- ecology, wetlands, blue carbon, outages and the scorecard: indicators made by the real ecology
# computation (streams.indicators.ecology.compute_batch) from generated readings, stored with
# write_indicators; every reported number is then checked against SQL over the stored rows.

WETLAND = "liaohe-saltmarsh"
OUTAGE = (_us(2026, 4, 1), _us(2026, 4, 3) + 5 * HOUR_US)  # buoy readings removed in [a, b)


def _buoy_samples() -> list[Sample]:
    """Hourly buoy readings 2025–2026: seasonal SST with a +4 °C spell in late July 2026, DO ~7 mg/L
    with a 20-h drop to 1.5 mg/L on 1 August 2026, a chlorophyll bloom in May 2026, pH drifting down."""
    rng = np.random.default_rng(21)
    t = np.arange(_us(2025), _us(2027), HOUR_US, dtype=np.int64)
    doy = (t - t[0]) / 86400e6 % 365.25
    sst = 12 - 10 * np.cos(2 * np.pi * (doy - 30) / 365.25) + rng.normal(0, 0.3, t.size)
    sst[(t >= _us(2026, 7, 20)) & (t < _us(2026, 8, 5))] += 4.0
    do = 7 + rng.normal(0, 0.4, t.size)
    do[(t >= _us(2026, 8, 1)) & (t < _us(2026, 8, 1) + 20 * HOUR_US)] = 1.5
    chl = 3 + rng.gamma(1.0, 0.5, t.size)
    chl[(t >= _us(2026, 5, 10)) & (t < _us(2026, 5, 20))] = 25.0
    ph = 8.15 - 0.02 * (t - t[0]) / (365.25 * 86400e6) + rng.normal(0, 0.01, t.size)
    sal = 31 + rng.normal(0, 0.2, t.size)
    keep = (t < OUTAGE[0]) | (t >= OUTAGE[1])
    return [
        Sample(int(a), {"water_temperature_degC": float(b), "dissolved_oxygen_mg_l": float(c),
                        "chlorophyll_ug_l": float(d), "ph_total": float(e), "salinity_psu": float(f)})
        for a, b, c, d, e, f in zip(t[keep], sst[keep], do[keep], chl[keep], ph[keep], sal[keep], strict=True)
    ]  # fmt: skip


def _wetland_samples() -> list[Sample]:
    """Half-hourly marsh readings 2025–2026: tides over the 1.40 m platform (higher in summer), porewater
    salinity above the 30 PSU limit in June, NEE uptake in summer, a small CH4 source."""
    rng = np.random.default_rng(22)
    t = np.arange(_us(2025), _us(2027), 1800 * 1_000_000, dtype=np.int64)
    yr = (t - t[0]) / (365.25 * 86400e6)
    level = 1.0 + 0.2 * np.sin(2 * np.pi * (yr - 0.25)) + 0.5 * np.sin(2 * np.pi * (t / 3.6e9) / 12.42)
    pw = 25 + rng.normal(0, 1.0, t.size)
    pw[(t >= _us(2026, 6, 1)) & (t < _us(2026, 7, 1))] = 33.0
    summer = np.clip(np.sin(2 * np.pi * (yr - 0.25)), 0, None)
    co2 = 1.0 - 6.0 * summer + rng.normal(0, 0.5, t.size)
    ch4 = 20 + rng.normal(0, 5, t.size)
    ok = rng.random(t.size) > 0.1  # 10 % of half-hours without a flux (QC-withdrawn or missing)
    return [
        Sample(int(a), {"water_level_m": float(b), "porewater_salinity_psu": float(c),
                        **({"co2_flux_umol_m2_s": float(d), "ch4_flux_nmol_m2_s": float(e)} if k else {})})
        for a, b, c, d, e, k in zip(t, level, pw, co2, ch4, ok, strict=True)
    ]  # fmt: skip


async def _seed_ecology(url: str) -> None:
    registry = load_registry(default_registry_path())
    buoy_params = params_for_station(registry.stations[BUOY], {"sampling_interval_s": 3600})
    clim = load_climatology_csv(Path(default_registry_path()).parent / "climatology" / f"{BUOY}.csv")
    buoy = _buoy_samples()
    items = [
        Indicator(BUOY, k, t, v, ECO_CATALOGUE[k].unit)
        for (k, t), v in compute_batch(BUOY, buoy, buoy_params, clim).items()
        if k in ECO_CATALOGUE
    ]
    marsh_params = params_for_station(registry.stations[WETLAND])
    items += [
        Indicator(WETLAND, k, t, v, ECO_CATALOGUE[k].unit)
        for (k, t), v in compute_batch(WETLAND, _wetland_samples(), marsh_params).items()
        if k in ECO_CATALOGUE
    ]
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        await write_indicators(conn, items)
        rows = [
            (s.time_us, BUOY, "water_temperature_degC", s.values["water_temperature_degC"], 1, None,
             s.time_us, False)
            for s in buoy
            if s.time_us >= _us(2026)
        ]  # fmt: skip
        await upsert_observations(conn, rows)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def eco_settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_report_eco") as settings:
        await _seed_ecology(settings.database_url)
        yield settings


async def _eco_report(settings: Settings, lang: str = "zh"):  # type: ignore[no-untyped-def]
    conn = await asyncpg.connect(settings.database_url)
    try:
        inputs = await load_inputs(conn, 2026, generated_at=STAMP, versions={}, lang=lang)
        sql = _Sql(conn)
        return assemble(inputs), sql, await sql.load()
    finally:
        await conn.close()


class _Sql:
    """Direct SQL over the stored indicators of 2026, the oracle of the ecology tests."""

    def __init__(self, conn: asyncpg.Connection) -> None:
        self.conn = conn

    async def load(self) -> dict[tuple[str, str], list[tuple[dt.datetime, float]]]:
        rows = await self.conn.fetch(
            "SELECT station_id, indicator, time, value FROM indicators WHERE time >= '2026-01-01Z' "
            "AND time < '2027-01-01Z' ORDER BY time"
        )
        out: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = {}
        for r in rows:
            out.setdefault((r["station_id"], r["indicator"]), []).append((r["time"], r["value"]))
        return out


def _vals(db: dict, station: str, indicator: str) -> np.ndarray:
    return np.array([v for _, v in db.get((station, indicator), [])], dtype=float)


async def test_marine_ecology_equals_the_stored_rows(eco_settings: Settings) -> None:
    report, _, db = await _eco_report(eco_settings)
    row = next(r for r in report.marine if r.station.id == BUOY)
    assert row.sst_mean_degC == pytest.approx(_vals(db, BUOY, "sst_daily_mean_degC").mean())
    sst = dict(db[(BUOY, "sst_daily_mean_degC")])
    clim = dict(db[(BUOY, "mhw_climatology_degC")])
    assert row.sst_anomaly_degC == pytest.approx(np.mean([sst[k] - clim[k] for k in sst if k in clim]))
    mhw = row.heatwaves
    assert mhw is not None
    assert mhw.events == len(db[(BUOY, "mhw_event_duration_d")])
    assert mhw.days == int(np.sum(_vals(db, BUOY, "mhw_day") > 0))
    peaks = db[(BUOY, "mhw_event_intensity_max_degC")]
    top_day, top = max(peaks, key=lambda p: p[1])
    assert mhw.strongest is not None and mhw.strongest.intensity_max_degC == pytest.approx(top)
    assert mhw.strongest.start_day == top_day.strftime("%Y-%m-%d")
    assert "2026-07-15" <= mhw.strongest.start_day <= "2026-07-25"  # the generated warm spell
    hyp = row.hypoxia
    assert hyp is not None and hyp.episodes == len(db[(BUOY, "hypoxia_duration_h")]) == 1
    assert hyp.hours_below[3] == pytest.approx(_vals(db, BUOY, "do_hours_below_3_mg_l").sum()) == 20.0
    assert hyp.lowest_mg_l == pytest.approx(_vals(db, BUOY, "do_daily_min_mg_l").min()) == pytest.approx(1.5)
    risk = _vals(db, BUOY, "bloom_risk")
    assert row.bloom_days == {k: int(np.sum(risk == k)) for k in (1, 2, 3)}
    assert sum(row.bloom_days.values()) >= 10  # the generated 10-day chlorophyll spell
    assert row.ph_mean == pytest.approx(_vals(db, BUOY, "ph_daily_mean").mean())
    last_day, last_trend = db[(BUOY, "ph_trend_per_yr")][-1]
    assert row.ph_trend_per_yr == (last_day.strftime("%Y-%m-%d"), pytest.approx(last_trend))
    assert last_trend == pytest.approx(-0.02, abs=0.01)  # the generated drift
    assert row.salinity_mean_psu == pytest.approx(_vals(db, BUOY, "salinity_daily_mean_psu").mean())
    other = next(r for r in report.marine if r.station.id == "jinzhou-bay-buoy")
    assert other.hypoxia is None and "hypoxia" in other.parts  # measured there, nothing stored: said
    gauge = next(r for r in report.marine if r.station.id == STATION)
    assert gauge.parts == ("sst",)  # a tide gauge measures temperature only


async def test_wetland_and_blue_carbon_equal_the_stored_rows(eco_settings: Settings) -> None:
    report, _, db = await _eco_report(eco_settings)
    w = next(r for r in report.wetlands if r.station.id == WETLAND)
    monthly = db[(WETLAND, "inundation_frequency_monthly_pct")]
    assert [m.month for m, _ in monthly] == list(range(1, 13))
    np.testing.assert_allclose(w.frequency_pct, [v for _, v in monthly])
    assert w.frequency_year_pct == pytest.approx(_vals(db, WETLAND, "inundation_frequency_daily_pct").mean())
    np.testing.assert_allclose(w.hydroperiod_h, _vals(db, WETLAND, "hydroperiod_monthly_h"))
    assert w.salt_intrusion_days == int(_vals(db, WETLAND, "salt_intrusion").sum()) == 30  # June
    c = next(r for r in report.carbon if r.station.id == WETLAND)
    assert c.year is not None
    (net,) = _vals(db, WETLAND, "net_carbon_year_gC_m2")
    (cov,) = _vals(db, WETLAND, "carbon_coverage_year_pct")
    assert c.year.net_gC_m2 == pytest.approx(net) and c.year.coverage_pct == pytest.approx(cov)
    assert 85.0 < cov < 95.0  # the generated 10 % of missing half-hours
    assert c.uncertainty_gC_m2 == pytest.approx(abs(net) * (100 - cov) / cov)
    assert c.verdict == ("sink" if net < 0 else "source") and net < 0
    assert [s.label for s in c.seasons] == ["DJF", "MAM", "JJA", "SON"]
    djf = await _first(eco_settings, "SELECT value FROM indicators WHERE station_id = $1 "
                       "AND indicator = 'net_carbon_season_gC_m2' AND time = '2025-12-01Z'")  # fmt: skip
    assert c.seasons[0].net_gC_m2 == pytest.approx(djf)
    cum_t, cum = c.cumulative
    assert cum[-1] == pytest.approx(net) and cum_t.size == len(db[(WETLAND, "net_carbon_cumulative_gC_m2")])
    assert "liaohe-reedbed" in {r.station.id for r in report.carbon}
    reed = next(r for r in report.carbon if r.station.id == "liaohe-reedbed")
    assert reed.year is None and reed.verdict == "no data"


async def _first(settings: Settings, query: str) -> float:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetchval(query, WETLAND)
    finally:
        await conn.close()


async def test_outages_availability_and_scorecard(eco_settings: Settings) -> None:
    report, _, db = await _eco_report(eco_settings)
    (gap,) = report.outages[BUOY]
    assert (gap.start_us, gap.end_us) == (OUTAGE[0] - HOUR_US, OUTAGE[1])  # last reading before, first after
    n = sum(1 for s in _buoy_samples() if s.time_us >= _us(2026))
    interval = 600.0  # the registry's buoy interval: hourly readings are a sixth of the nominal ones
    expected = 100.0 * n / ((_us(2027) - _us(2026)) / (interval * 1e6))
    assert report.availability[(BUOY, "water_temperature_degC")] == pytest.approx(expected)
    assert report.outages["lushun"] and report.outages["lushun"][0].hours == pytest.approx(365 * 24)
    settings = load_settings()
    rows = {(r.spec.key, r.station.id): r for r in report.scorecard}
    hyp = rows[("do_hours_below_3_mg_l", BUOY)]
    assert hyp.value == pytest.approx(_vals(db, BUOY, "do_hours_below_3_mg_l").sum())
    assert hyp.grade == settings.grade("do_hours_below_3_mg_l", hyp.value) is not None
    net = rows[("net_carbon_gC_m2", WETLAND)]
    assert net.value == pytest.approx(_vals(db, WETLAND, "net_carbon_year_gC_m2")[0])
    prev = await _first(eco_settings, "SELECT value FROM indicators WHERE station_id = $1 "
                        "AND indicator = 'net_carbon_year_gC_m2' AND time = '2025-01-01Z'")  # fmt: skip
    assert net.baseline == pytest.approx(prev) and net.trend == pytest.approx(net.value - prev)
    assert net.coverage_pct == pytest.approx(_vals(db, WETLAND, "carbon_coverage_year_pct")[0])
    hours = _vals(db, BUOY, "do_hours_measured_h").sum()
    assert hyp.coverage_pct == pytest.approx(100.0 * hours / (365 * 24))
    assert ("mhw_days_d", STATION) in rows and rows[
        ("mhw_days_d", STATION)
    ].value is None  # no climatology run


async def test_english_report_has_no_chinese_and_chinese_report_has_both(eco_settings: Settings) -> None:
    conn = await asyncpg.connect(eco_settings.database_url)
    try:
        pages = {
            lang: (await report_cli.build_report(conn, eco_settings, 2026, area="liaodong-bay",
                                                 generated_at=STAMP, lang=lang)).decode()
            for lang in ("zh", "en")
        }  # fmt: skip
        # the ecology figures too: the same rows and stamp give the same bytes
        again = await report_cli.build_report(
            conn, eco_settings, 2026, area="liaodong-bay", generated_at=STAMP
        )
    finally:
        await conn.close()
    assert again.decode() == pages["zh"]
    assert re.search("[\u4e00-\u9fff]", pages["zh"]) and "Marine ecology" in pages["zh"]
    assert not re.search("[\u4e00-\u9fff]", pages["en"]) and "<html lang='en'>" in pages["en"]
    for page in pages.values():
        assert "mm/yr" in page and "g C m-2" not in page  # the area holds no flux station
        assert "no eddy-covariance" in page
