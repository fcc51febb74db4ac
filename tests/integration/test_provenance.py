"""Provenance on the real PostgreSQL: every stored QC flag and indicator value names its config version.

Three days of Dalian imported with the packaged QC configuration, then a stricter one reprocessed over
a range: the range's flags and indicators carry the new version, everything else the import's; the
versions are stored once each, listed and shown in the API, and the API filters rows by version.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest

from schemas.provenance import INDICATORS, QC
from schemas.registry import load_registry
from services.api.app import create_app
from services.config import Settings
from services.db.provenance import register_versions
from services.db.timestamps import us
from services.history.reprocess import run_reprocess
from services.history.store import open_connection
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.indicators.provenance import indicator_version
from streams.qc import load_qc_config
from streams.qc.provenance import qc_version
from tests.support.database import dalian_tide, fresh_database, import_files, qc_config_with, write_dalian_csv

pytestmark = pytest.mark.integration

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
HOUR_US = 3_600_000_000
FROM_US = START_S * 1_000_000 + 24 * HOUR_US
TO_US = START_S * 1_000_000 + 48 * HOUR_US


def _stricter(path: Path) -> Path:
    return qc_config_with(path, "spike: {suspect_threshold: 0.3,", "spike: {suspect_threshold: 0.1,")


@pytest.fixture(scope="module")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_provenance") as settings:
        folder = tmp_path_factory.mktemp("provenance")
        level = dalian_tide(3)
        level[[700, 1900, 3900]] += 0.2  # spikes the stricter threshold sees
        write_dalian_csv(folder / "dalian.csv", START_S, level)
        await import_files(settings, [folder / "dalian.csv"])
        yield settings.with_(qc_config_path=str(_stricter(folder / "qc.yaml")))


async def _versions_by_time(conn: asyncpg.Connection, table: str, column: str) -> dict[int, set[int | None]]:
    rows = await conn.fetch(
        f"SELECT {us('time')} AS t, {column} AS v FROM {table} WHERE station_id = 'dalian'"
    )
    out: dict[int, set[int | None]] = {}
    for r in rows:
        out.setdefault(r["t"], set()).add(r["v"])
    return out


async def test_a_version_is_numbered_once_and_a_changed_configuration_gets_a_new_one(
    settings: Settings,
) -> None:
    registry = load_registry(settings.registry_path)
    packaged = load_qc_config(registry)
    stricter = load_qc_config(registry, settings.qc_config_path)
    conn = await open_connection(settings.database_url)
    try:
        first = await register_versions(conn, [qc_version(packaged, "dalian")])
        again = await register_versions(
            conn, [qc_version(packaged, "dalian"), qc_version(packaged, "qingdao")]
        )
        changed = await register_versions(conn, [qc_version(stricter, "dalian")])
        assert again["dalian"] == first["dalian"] and again["qingdao"] != first["dalian"]
        assert changed["dalian"] not in (first["dalian"], again["qingdao"])
        # The import stored its readings with the packaged configuration's version.
        stored = await conn.fetch("SELECT DISTINCT qc_version FROM observations WHERE station_id = 'dalian'")
        assert [r["qc_version"] for r in stored] == [first["dalian"]]
        with pytest.raises(ValueError, match="one kind"):
            climatology = climatologies_in(PACKAGED_DIR, registry.stations).get("dalian")
            await register_versions(
                conn,
                [qc_version(packaged, "dalian"), indicator_version(registry.stations["dalian"], climatology)],
            )
    finally:
        await conn.close()


async def test_reprocess_stamps_its_versions_on_the_range_only_and_the_api_shows_and_filters_them(
    settings: Settings,
) -> None:
    registry = load_registry(settings.registry_path)
    packaged = load_qc_config(registry)
    stricter = load_qc_config(registry, settings.qc_config_path)
    climatology = climatologies_in(PACKAGED_DIR, registry.stations).get("dalian")
    conn = await open_connection(settings.database_url)
    try:
        old = (await register_versions(conn, [qc_version(packaged, "dalian")]))["dalian"]
        new = (await register_versions(conn, [qc_version(stricter, "dalian")]))["dalian"]
        indicators = (
            await register_versions(conn, [indicator_version(registry.stations["dalian"], climatology)])
        )["dalian"]
        _, counts = await run_reprocess(
            conn, stricter, registry, ["dalian"], None, FROM_US, TO_US, what=("qc", "indicators"),
            progress=lambda line: None,
            climatologies={"dalian": climatology} if climatology else None,
        )  # fmt: skip
        assert counts["changed"] > 0  # the stricter spike test changed some flags
        flags = await _versions_by_time(conn, "observations", "qc_version")
        assert all(v == ({new} if FROM_US <= t < TO_US else {old}) for t, v in flags.items())
        values = await _versions_by_time(conn, "indicators", "version")
        inside = {t: v for t, v in values.items() if FROM_US <= t < TO_US}
        assert inside and all(v == {indicators} for v in inside.values())
        # Run again: nothing left to stamp or change.
        _, again = await run_reprocess(
            conn, stricter, registry, ["dalian"], None, FROM_US, TO_US, what=("qc", "indicators"),
            progress=lambda line: None,
            climatologies={"dalian": climatology} if climatology else None,
        )  # fmt: skip
        assert again["changed"] == 0 and again["indicators_changed_rows"] == 0
        assert await _versions_by_time(conn, "observations", "qc_version") == flags
    finally:
        await conn.close()

    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        listed = (await client.get("/api/v1/config-versions?station=dalian&kind=qc")).json()["data"]
        assert {v["version_id"] for v in listed} == {old, new}
        assert all(v["kind"] == QC and len(v["digest"]) == 64 and "document" not in v for v in listed)
        shown = (await client.get(f"/api/v1/config-versions/{new}")).json()
        spike = next(s for s in shown["document"]["series"] if s["variable"] == "water_level_m")["spike"]
        assert spike["suspect_threshold"] == 0.1 and shown["code_version"].startswith("tidewatch ")
        assert (await client.get("/api/v1/config-versions/999999")).status_code == 404
        assert (await client.get("/api/v1/config-versions?kind=alerts")).status_code == 400
        kinds = {v["kind"] for v in (await client.get("/api/v1/config-versions")).json()["data"]}
        assert kinds == {QC, INDICATORS}

        span = "&start=2025-01-01T00:00:00Z&end=2025-01-04T00:00:00Z&limit=10000"
        base = f"/api/v1/observations?station=dalian&variable=water_level_m{span}"
        rows = (await client.get(base)).json()["data"]
        assert {r["qc_version"] for r in rows} == {old, new}
        picked = (await client.get(f"{base}&version={new}")).json()["data"]
        assert picked and {r["qc_version"] for r in picked} == {new}
        assert len(picked) == sum(1 for r in rows if r["qc_version"] == new)
        buckets = (await client.get(f"{base}&version={old}&bucket=1d&agg=count&qc=all")).json()["data"]
        assert sum(b["count"] for b in buckets) == sum(1 for r in rows if r["qc_version"] == old)
        refused = await client.get(f"{base}&version=latest")
        assert refused.status_code == 400 and "config-versions" in refused.json()["error"]["message"]
        ind = (
            await client.get(
                f"/api/v1/indicators?station=dalian&start=2025-01-02T00:00:00Z&end=2025-01-03T00:00:00Z"
                f"&limit=10000&version={indicators}"
            )
        ).json()["data"]
        assert ind and {r["version"] for r in ind} == {indicators}


async def test_the_command_line_lists_the_versions_and_shows_one(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import asyncio
    import json

    from services.cli import main

    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    assert await asyncio.to_thread(main, ["history", "--versions", "--station", "dalian"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and all(line.startswith("version ") and " dalian " in line for line in lines)
    newest = int(lines[0].split()[1])
    assert await asyncio.to_thread(main, ["history", "--version", str(newest)]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["version_id"] == newest and shown["station_id"] == "dalian" and "document" in shown
    assert await asyncio.to_thread(main, ["history", "--version", "999999"]) == 2
    assert "no config version 999999" in capsys.readouterr().err
