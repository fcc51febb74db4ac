"""``tidewatch reprocess --what alerts`` on the real PostgreSQL: the alerts of a range judged again by the
current rules over the stored readings and indicators, kept as history beside the live ones.

Four days of Dalian's water level are imported and their indicators stored as the worker's states emit
them; the live alerts are those the engine raised feeding on those inputs one by one in data-time
order, stored as the worker stores them. Reprocessed with the same configuration, every alert of the
range is unchanged. With Dalian's warning levels raised (red out of the tides' reach, orange lowered)
and its indicators reprocessed, the range's water-level and storm-surge warnings peak orange instead of
red, which the run's outcome, the command line and the API show, old beside new; the live alerts, the
events and the notification outbox are untouched, and nothing outside the range is compared.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import httpx
import pytest

from alerts.inputs import INDICATORS, indicator_observations, reading_observation
from alerts.replay import CHANGED, UNCHANGED
from schemas.indicators import Indicator
from schemas.quality import QcResult
from schemas.registry import Registry, load_registry
from services.cli import main
from services.config import Settings
from services.db.alerts import store_alert_events
from services.db.timestamps import us
from services.history.alerts import engine_factory
from services.history.reprocess import run_reprocess
from services.history.store import fetch_stored, open_connection
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.qc import load_qc_config
from tests.support.api_server import running_api
from tests.support.database import (
    dalian_tide,
    fresh_database,
    import_files,
    registry_with_levels,
    stream_indicators,
    write_dalian_csv,
)

pytestmark = pytest.mark.integration

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
HOUR_US = 3_600_000_000
START_US = START_S * 1_000_000
FROM_US = START_US + 30 * HOUR_US
TO_US = START_US + 70 * HOUR_US
CHANGED_LEVELS = "warning_water_level_m: {blue: 3.60, yellow: 3.80, orange: 3.90, red: 4.80}"


async def _live_alerts(settings: Settings, registry: Registry) -> None:
    """What the alert agent stores for the stored inputs taken one by one in data-time order."""
    conn = await open_connection(settings.database_url)
    try:
        stored = await fetch_stored(conn, "dalian", START_US, START_US + 4 * 24 * HOUR_US)
        assert stored.flag is not None and stored.code is not None
        inputs = [
            reading_observation(QcResult("dalian", str(v), int(t), float(x), int(f), int(c), False))
            for v, t, x, f, c in zip(
                stored.variable, stored.time_us, stored.value, stored.flag, stored.code, strict=True
            )
        ]
        rows = await conn.fetch(
            f"SELECT indicator, {us('time')} AS t, value, unit FROM indicators "
            "WHERE indicator = ANY($1::text[])",
            sorted(INDICATORS),
        )
        inputs += indicator_observations(Indicator("dalian", r[0], r[1], r[2], r[3]) for r in rows)
        engine = engine_factory(registry, settings)()
        events = []
        for observation in sorted(inputs, key=lambda o: o.sort_key()):
            events += engine.observe([observation])
        await store_alert_events(conn, events)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_reprocess_alerts") as settings:
        folder = tmp_path_factory.mktemp("reprocess-alerts")
        write_dalian_csv(folder / "dalian.csv", START_S, dalian_tide(4))
        await import_files(settings, [folder / "dalian.csv"])
        conn = await open_connection(settings.database_url)
        try:
            await stream_indicators(conn, load_registry(), START_US, START_US + 5 * 24 * HOUR_US)
        finally:
            await conn.close()
        await _live_alerts(settings, load_registry())
        yield settings.with_(registry_path=str(registry_with_levels(folder, CHANGED_LEVELS)))


async def _reprocess(settings: Settings, registry: Registry, what: tuple[str, ...]) -> tuple[int, dict]:
    conn = await open_connection(settings.database_url)
    try:
        return await run_reprocess(
            conn, load_qc_config(registry), registry, ["dalian"], None, FROM_US, TO_US, what=what,
            progress=lambda _: None, climatologies=climatologies_in(PACKAGED_DIR, ["dalian"]),
            new_engine=engine_factory(registry, settings),
        )  # fmt: skip
    finally:
        await conn.close()


async def _live(settings: Settings) -> tuple[list, list, int]:
    conn = await open_connection(settings.database_url)
    try:
        alerts = [tuple(r) for r in await conn.fetch("SELECT * FROM alerts ORDER BY alert_id")]
        events = [tuple(r) for r in await conn.fetch("SELECT * FROM alert_events ORDER BY alert_id, seq")]
        return alerts, events, await conn.fetchval("SELECT count(*) FROM notifications")
    finally:
        await conn.close()


async def test_same_configuration_leaves_every_alert_unchanged(settings: Settings) -> None:
    before = await _live(settings)
    run_id, counts = await _reprocess(settings, load_registry(), ("alerts",))
    assert counts["alerts_unchanged"] >= 4, counts  # two tides a day reach the warning levels
    assert counts["alerts_changed"] == counts["alerts_new"] == counts["alerts_gone"] == 0, counts
    conn = await open_connection(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT outcome, old_events, new_events FROM reprocessed_alerts WHERE run_id = $1", run_id
        )
    finally:
        await conn.close()
    assert {r["outcome"] for r in rows} == {UNCHANGED} and all(
        r["old_events"] == r["new_events"] for r in rows
    )
    assert await _live(settings) == before


async def test_raised_levels_show_old_beside_new_and_notify_nobody(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    before = await _live(settings)
    registry = load_registry(settings.registry_path)
    run_id, counts = await _reprocess(settings, registry, ("indicators", "alerts"))
    assert counts["alerts_changed"] >= 4, counts
    conn = await open_connection(settings.database_url)
    try:
        rows = await conn.fetch(
            "SELECT rule, outcome, old_peak, new_peak, old_events::text, new_events::text "
            "FROM reprocessed_alerts WHERE run_id = $1",
            run_id,
        )
    finally:
        await conn.close()
    warnings = [r for r in rows if r["rule"] in ("water_level_warning", "storm_surge_warning")]
    assert {r["rule"] for r in warnings} == {"water_level_warning", "storm_surge_warning"}
    assert {r["outcome"] for r in warnings} == {CHANGED}
    # The reading rule judges every level again (the warm-up days too): each tide's warning peaks orange.
    levels_rows = [r for r in warnings if r["rule"] == "water_level_warning"]
    assert {(r["old_peak"], r["new_peak"]) for r in levels_rows} == {("red", "orange")}
    # The graded high waters of the range are orange now: the storm-surge warning, open since a high water
    # graded red before the range (its indicator not reprocessed), keeps that peak and steps down to
    # orange inside the range, where live it stayed red.
    (surge,) = [r for r in warnings if r["rule"] == "storm_surge_warning"]
    assert (surge["old_peak"], surge["new_peak"]) == ("red", "red")
    assert json.loads(surge["old_events"]) == [] and json.loads(surge["new_events"])[0][:2] == [
        "deescalated",
        "orange",
    ]
    assert await _live(settings) == before  # history only: live alerts, events and the outbox as they were

    # As a user reads it: the command line and the API.
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    assert await asyncio.to_thread(main, ["history", "--run", str(run_id), "--alerts"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.startswith("changed: dalian/water_level_warning/") and "peak red -> orange" in line
        for line in lines
    )
    async with running_api(settings) as api, httpx.AsyncClient(base_url=api.url) as client:
        page = (await client.get(f"/api/v1/history/runs/{run_id}/alerts")).json()
        missing = await client.get("/api/v1/history/runs/999999/alerts")
    assert missing.status_code == 404
    shown = [a for a in page["data"] if a["rule"] == "water_level_warning"]
    assert len(shown) == len(levels_rows) and shown[0]["old_alert_id"]
    assert (shown[0]["old_peak"], shown[0]["new_peak"]) == ("red", "orange")
    fresh = [a for a in shown if a["new_events"][0]["kind"] == "firing"]  # raised inside the range
    assert fresh and fresh[0]["new_events"][0]["time"].endswith("Z")
    # The reprocess command itself, as a user runs it: the same outcome again, in a run of its own.
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(settings.registry_path))
    span = ["--from", "2025-01-02T06:00:00Z", "--to", "2025-01-03T22:00:00Z"]
    argv = ["reprocess", "--station", "dalian", *span, "--what", "alerts"]
    assert await asyncio.to_thread(main, argv) == 0
    summary = capsys.readouterr().out.splitlines()[-1]
    assert f"{counts['alerts_changed']:,} changed" in summary and "--alerts" in summary
