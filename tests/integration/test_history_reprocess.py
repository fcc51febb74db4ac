"""``tidewatch reprocess`` on the real PostgreSQL: a QC threshold changed, a range reprocessed.

Flags inside the range equal a fresh QC engine over the same stored readings with the new
configuration; nothing outside the range changes; a run killed half-way resumes at its checkpoint
and ends where an uninterrupted run ends; run again, it changes nothing; the old and new outcome of
every changed reading is in ``qc_revisions``.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pytest

from schemas.registry import load_registry
from services.cli import main
from services.config import Settings
from services.db.timestamps import us
from services.history.judge import packed_code
from services.history.reprocess import run_reprocess
from services.history.store import open_connection
from streams.qc import QcEngine, Readings, load_qc_config
from tests.support.database import dalian_tide, fresh_database, import_files, qc_config_with, write_dalian_csv

pytestmark = pytest.mark.integration

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
HOUR_US = 3_600_000_000
FROM_US = START_S * 1_000_000 + 20 * HOUR_US
TO_US = START_S * 1_000_000 + 50 * HOUR_US


def _csv(path: Path) -> None:
    """Three days of Dalian water level and temperature, 1-minute, in the export format."""
    level = dalian_tide(3)
    level[[700, 1900, 2500, 3900]] += 0.6  # spikes before, inside and after the range
    level[1440:1710] = level[1440]  # 4.5 flat hours across the slice edge at 26 h: context needed
    write_dalian_csv(path, START_S, level)


def _stricter(path: Path) -> Path:
    """The packaged QC configuration with water level's suspect span and spike threshold tightened."""
    return qc_config_with(
        path,
        "suspect_span: [-1.5, 8.0]}\n    spike: {suspect_threshold: 0.3,",
        "suspect_span: [-0.2, 4.0]}\n    spike: {suspect_threshold: 0.1,",
    )


@pytest.fixture(scope="module")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_reprocess") as settings:
        folder = tmp_path_factory.mktemp("reprocess")
        _csv(folder / "dalian.csv")
        await import_files(settings, [folder / "dalian.csv"])
        yield settings.with_(qc_config_path=str(_stricter(folder / "qc.yaml")))


async def _flags(conn: asyncpg.Connection) -> dict[tuple[str, int], tuple[int, int]]:
    rows = await conn.fetch(
        f"SELECT variable, {us('time')} AS t, qc_flag, qc_tests::text AS tests FROM observations "
        "WHERE station_id = 'dalian'"
    )
    return {(r["variable"], r["t"]): (r["qc_flag"], packed_code(r["tests"])) for r in rows}


async def _fresh(conn: asyncpg.Connection, settings: Settings) -> dict[tuple[str, int], tuple[int, int]]:
    """A fresh engine with the new configuration over every stored Dalian reading."""
    rows = await conn.fetch(
        f"SELECT variable, {us('time')} AS t, value FROM observations "
        "WHERE station_id = 'dalian' ORDER BY time"
    )
    config = load_qc_config(load_registry(settings.registry_path), settings.qc_config_path)
    results = QcEngine(config).process(
        Readings(
            ["dalian"] * len(rows),
            [r["variable"] for r in rows],
            np.array([r["t"] for r in rows], dtype=np.int64),
            np.array([np.nan if r["value"] is None else r["value"] for r in rows]),
        )
    )
    return {(r.variable, r.time_us): (r.flag, r.tests) for r in results}


class Killed(Exception):
    pass


async def test_reprocess_equals_a_fresh_engine_inside_the_range_and_changes_nothing_outside(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    registry = load_registry(settings.registry_path)
    config = load_qc_config(registry, settings.qc_config_path)
    conn = await open_connection(settings.database_url)
    try:
        before = await _flags(conn)
        expected = await _fresh(conn, settings)
        slices = []

        def kill_after_two(line: str) -> None:
            slices.append(line)
            if len(slices) == 2:
                raise Killed(line)

        with pytest.raises(Killed):
            await run_reprocess(
                conn, config, registry, ["dalian"], "water_level_m", FROM_US, TO_US, slice_hours=6,
                progress=kill_after_two,
            )  # fmt: skip
        halfway = await conn.fetchrow(
            "SELECT run_id, state, checkpoint_us FROM history_runs WHERE kind = 'reprocess'"
        )
        assert halfway["state"] == "running" and halfway["checkpoint_us"] == FROM_US + 12 * HOUR_US
        lines: list[str] = []
        run_id, counts = await run_reprocess(
            conn, config, registry, ["dalian"], "water_level_m", FROM_US, TO_US, slice_hours=6,
            progress=lines.append,
        )  # fmt: skip
        assert run_id == halfway["run_id"] and lines[0].startswith(f"resuming run {run_id}")
        after = await _flags(conn)
        inside = {k for k in before if k[0] == "water_level_m" and FROM_US <= k[1] < TO_US}
        assert {k: after[k] for k in inside} == {k: expected[k] for k in inside}
        assert {k: v for k, v in after.items() if k not in inside} == {
            k: v for k, v in before.items() if k not in inside
        }
        changed = {k for k in inside if before[k] != after[k]}
        assert changed and counts["changed"] == len(changed) and counts["judged"] == len(inside)
        revisions = await conn.fetch(
            f"SELECT variable, {us('time')} AS t, old_flag, new_flag FROM qc_revisions WHERE run_id = $1",
            run_id,
        )
        assert {(r["variable"], r["t"]) for r in revisions} == changed
        assert all(
            (r["old_flag"], r["new_flag"])
            == (before[(r["variable"], r["t"])][0], after[(r["variable"], r["t"])][0])
            for r in revisions
        )
        assert sum(counts["transitions"].values()) == len(changed)
    finally:
        await conn.close()
    # The command line, run again over the same range: nothing left to change.
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TIDEWATCH_QC_CONFIG", settings.qc_config_path or "")
    argv = [
        "reprocess",
        "--station",
        "dalian",
        "--variable",
        "water_level_m",
        "--from",
        "2025-01-01T20:00:00Z",
        "--to",
        "2025-01-03T02:00:00Z",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    assert f"{len(inside):,} readings judged, 0 changed (none)" in capsys.readouterr().out
    # The runs and what the first one changed, old and new, from the command line.
    assert await asyncio.to_thread(main, ["history"]) == 0
    listing = capsys.readouterr().out
    assert f"run {run_id} reprocess done" in listing and "run 1 import done" in listing
    assert await asyncio.to_thread(main, ["history", "--run", str(run_id), "--limit", "100000"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == len(changed) and all(
        " -> " in line and line.startswith("dalian water_level_m") for line in lines
    )


async def test_a_request_that_cannot_run_is_refused(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    base = ["reprocess", "--from", "2025-01-01T00:00:00Z", "--to", "2025-01-02T00:00:00Z"]
    assert await asyncio.to_thread(main, [*base, "--station", "atlantis"]) == 2
    assert "unknown station(s): atlantis" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*base, "--station", "dalian", "--what", "qc,forecasts"]) == 2
    assert "--what forecasts: unknown (one or more of qc, indicators, alerts)" in capsys.readouterr().err


async def test_a_manual_flag_overrides_the_stored_flags_and_reprocess_keeps_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from services.db.alerts import create_operator

    conn = await open_connection(settings.database_url)
    try:
        await create_operator(conn, "wang", "Wang Fang", "a long passphrase", "operator")
        await create_operator(conn, "li", "Li Wei", "another passphrase", "viewer")
        before = await _flags(conn)
    finally:
        await conn.close()
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TIDEWATCH_QC_CONFIG", settings.qc_config_path or "")
    span = ["--from", "2025-01-01T22:00:00Z", "--to", "2025-01-02T04:00:00Z"]
    base = ["qc", "flag", "--station", "dalian", "--variable", "water_level_m", *span, "--flag", "bad"]
    assert await asyncio.to_thread(main, [*base, "--reason", "fouled sensor", "--operator", "li"]) == 2
    assert "not a console operator with the operator or admin role" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*base, "--reason", "fouled sensor", "--operator", "wang"]) == 0
    out = capsys.readouterr().out
    assert "stored readings changed" in out
    # What depends on the judged readings is done again over the range, as a reprocess run.
    assert "reprocess run" in out and "indicators" in out and "alerts" in out
    start, end = START_S * 1_000_000 + 22 * HOUR_US, START_S * 1_000_000 + 28 * HOUR_US
    conn = await open_connection(settings.database_url)
    try:
        after = await _flags(conn)
        covered = {k for k in before if k[0] == "water_level_m" and start <= k[1] < end}
        assert len(covered) == 360 and all(after[k] == (4, before[k][1]) for k in covered)  # tests kept
        assert {k: v for k, v in after.items() if k not in covered} == {
            k: v for k, v in before.items() if k not in covered
        }
        audit = await conn.fetchval(
            "SELECT count(*) FROM audit_log WHERE action = 'manual_qc' AND target = 'dalian'"
        )
        assert audit == 1
        follow = await conn.fetchrow(
            "SELECT state, request->'what' AS what, request->>'from' AS a, request->>'to' AS b "
            "FROM history_runs WHERE kind = 'reprocess' ORDER BY run_id DESC LIMIT 1"
        )
        assert follow["state"] == "done" and json.loads(follow["what"]) == ["indicators", "alerts"]
        assert (follow["a"], follow["b"]) == ("2025-01-01T22:00:00Z", "2025-01-02T04:00:00Z")
    finally:
        await conn.close()
    argv = [
        "reprocess",
        "--station",
        "dalian",
        "--from",
        "2025-01-01T00:00:00Z",
        "--to",
        "2025-01-04T00:00:00Z",
    ]
    assert await asyncio.to_thread(main, argv) == 0
    capsys.readouterr()
    conn = await open_connection(settings.database_url)
    try:
        again = await _flags(conn)
        assert all(again[k][0] == 4 for k in covered)
    finally:
        await conn.close()
    assert await asyncio.to_thread(main, ["qc", "flags", "--station", "dalian"]) == 0
    assert "water_level_m [2025-01-01T22:00:00Z, 2025-01-02T04:00:00Z) bad by wang" in capsys.readouterr().out


async def test_the_api_lists_runs_revisions_and_manual_flags_and_shows_the_manual_flag(
    settings: Settings,
) -> None:
    import httpx

    from services.api.app import create_app

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        runs = (await client.get("/api/v1/history/runs")).json()["data"]
        assert {r["kind"] for r in runs} == {"import", "reprocess", "manual_qc"}
        reprocess = next(r for r in runs if r["kind"] == "reprocess" and r["counts"]["changed"] > 0)
        assert len(reprocess["config_digest"]) == 64 and reprocess["code_version"].startswith("tidewatch ")
        assert reprocess["state"] == "done" and reprocess["checkpoint"] == reprocess["request"]["to"]
        changed = (await client.get(f"/api/v1/history/runs/{reprocess['run_id']}/revisions")).json()["data"]
        assert len(changed) == reprocess["counts"]["changed"]
        assert all(c["old_flag"] != c["new_flag"] or c["old_tests"] != c["new_tests"] for c in changed)
        assert (await client.get("/api/v1/history/runs/999999/revisions")).status_code == 404
        manual = (await client.get("/api/v1/qc/manual-flags?station=dalian")).json()["data"]
        assert [(m["flag_name"], m["operator"], m["start"]) for m in manual] == [
            ("bad", "wang", "2025-01-01T22:00:00Z")
        ]
        page = await client.get(
            "/api/v1/observations?station=dalian&variable=water_level_m"
            "&start=2025-01-01T22:00:00Z&end=2025-01-02T04:00:00Z&limit=1000"
        )
        assert {row["qc_flag"] for row in page.json()["data"]} == {4}
