"""``tidewatch reprocess --what indicators`` on the real PostgreSQL.

Four days of Dalian's water level and temperature are imported; their indicators are stored as the
worker's states emit them (the stream's pure states fed the stored readings batch by batch, their
records written in order as the indicators agent writes them). Reprocessed with the same
configuration, a range changes nothing (the batch equals the stream). With the gauge's warning
levels changed (red raised out of the tides' reach), the range's warnings, and only the range's,
become the batch's under the new levels; a second run changes nothing; and with a stricter QC
configuration, ``--what qc,indicators`` recomputes the range's indicators from the new flags.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from schemas.registry import Registry, load_registry
from services.cli import main
from services.config import Settings
from services.db.timestamps import us
from services.history.indicators import batch_indicators, context
from services.history.reprocess import run_reprocess
from services.history.store import fetch_stored, open_connection
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.qc import load_qc_config
from streams.qc.config import default_qc_config_path
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
# Red out of reach of these tides: every high water's warning drops from red (4) to orange (3).
CHANGED = "warning_water_level_m: {blue: 3.00, yellow: 3.40, orange: 3.80, red: 4.80}"


def _csv(path: Path) -> None:
    """Four days of Dalian water level and temperature, 1-minute, in the export format."""
    level = dalian_tide(4)
    level[[700, 2300, 2900, 5000]] += 0.6  # spikes before, inside and after the range
    write_dalian_csv(path, START_S, level)


async def _rows(conn: asyncpg.Connection) -> dict[tuple[str, int], float]:
    rows = await conn.fetch(f"SELECT indicator, {us('time')} AS t, value FROM indicators")
    return {(r["indicator"], r["t"]): r["value"] for r in rows}


@pytest.fixture(scope="module")
async def settings(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_reprocess_ind") as settings:
        folder = tmp_path_factory.mktemp("reprocess-indicators")
        _csv(folder / "dalian.csv")
        await import_files(settings, [folder / "dalian.csv"])
        conn = await open_connection(settings.database_url)
        try:
            await stream_indicators(
                conn, load_registry(settings.registry_path), START_US, START_US + 5 * 24 * HOUR_US
            )
        finally:
            await conn.close()
        yield settings.with_(registry_path=str(registry_with_levels(folder, CHANGED)))


async def _reprocess(settings: Settings, registry: Registry, what: tuple[str, ...], qc_path=None) -> dict:
    conn = await open_connection(settings.database_url)
    try:
        _, counts = await run_reprocess(
            conn,
            load_qc_config(registry, qc_path),
            registry,
            ["dalian"],
            None,
            FROM_US,
            TO_US,
            what=what,
            progress=lambda _: None,
            climatologies=climatologies_in(PACKAGED_DIR, ["dalian"]),
        )
        return counts
    finally:
        await conn.close()


async def _batch(settings: Settings, registry: Registry) -> dict[tuple[str, int], float]:
    """The batch over everything stored, with this registry: the reference the range must equal."""
    conn = await open_connection(settings.database_url)
    try:
        station = registry.stations["dalian"]
        lo, hi = context(station, START_US, START_US + 4 * 24 * HOUR_US)
        stored = await fetch_stored(conn, "dalian", lo, hi)
        climatology = climatologies_in(PACKAGED_DIR, ["dalian"]).get("dalian")
        computed = batch_indicators(station, stored, [], climatology)
        return {(i.indicator, i.time_us): i.value for i in computed if i.value is not None}
    finally:
        await conn.close()


async def test_same_configuration_changes_nothing(settings: Settings) -> None:
    """The stored (streamed) indicators of the range are already the batch's."""
    registry = load_registry()  # the packaged levels, as the stream used them
    conn = await open_connection(settings.database_url)
    try:
        before = await _rows(conn)
        counts = await _reprocess(settings, registry, ("indicators",))
        assert counts["indicators_written"] == 0 and counts["indicators_removed"] == 0, counts
        assert await _rows(conn) == before
        assert any(name == "water_level_warning" for name, _ in before)
    finally:
        await conn.close()


async def test_changed_warning_levels_change_the_range_only(settings: Settings) -> None:
    registry = load_registry(settings.registry_path)
    conn = await open_connection(settings.database_url)
    try:
        before = await _rows(conn)
        counts = await _reprocess(settings, registry, ("indicators",))
        after = await _rows(conn)
        expected = await _batch(settings, registry)
        assert counts["indicators_written"] > 0
        inside = {k: v for k, v in after.items() if FROM_US <= k[1] < TO_US}
        assert inside == {k: v for k, v in expected.items() if FROM_US <= k[1] < TO_US}
        assert {k: v for k, v in after.items() if not FROM_US <= k[1] < TO_US} == {
            k: v for k, v in before.items() if not FROM_US <= k[1] < TO_US
        }
        warnings = {k: v for k, v in inside.items() if k[0] == "water_level_warning"}
        assert warnings and set(warnings.values()) == {3.0}
        assert {v for k, v in before.items() if k in warnings} == {4.0}
        again = await _reprocess(settings, registry, ("indicators",))
        assert again["indicators_written"] == 0 and again["indicators_removed"] == 0
        assert await _rows(conn) == after
    finally:
        await conn.close()


async def test_qc_then_indicators_from_the_new_flags(settings: Settings, tmp_path: Path) -> None:
    text = default_qc_config_path().read_text()
    old = "suspect_span: [-1.5, 8.0]}"  # water level's gross-range test
    assert old in text
    stricter = tmp_path / "qc.yaml"
    stricter.write_text(text.replace(old, "suspect_span: [-0.2, 4.0]}"))
    registry = load_registry(settings.registry_path)
    conn = await open_connection(settings.database_url)
    try:
        before = await _rows(conn)
    finally:
        await conn.close()
    counts = await _reprocess(settings, registry, ("qc", "indicators"), stricter)
    assert counts["transitions"].get("1->3", 0) > 100  # high waters above 4 m are suspect now
    conn = await open_connection(settings.database_url)
    try:
        after = await _rows(conn)
    finally:
        await conn.close()
    expected = await _batch(settings, registry)
    inside = {k: v for k, v in after.items() if FROM_US <= k[1] < TO_US}
    assert inside == {k: v for k, v in expected.items() if FROM_US <= k[1] < TO_US}
    assert counts["indicators_written"] > 0
    changed = {k for k, v in inside.items() if before.get(k) != v}
    assert {"msl_hourly_m", "msl_daily_m", "high_water_m"} <= {name for name, _ in changed}
    assert {k: v for k, v in after.items() if not FROM_US <= k[1] < TO_US} == {
        k: v for k, v in before.items() if not FROM_US <= k[1] < TO_US
    }


async def test_the_command_line_runs_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """As a user runs it: the environment's registry and database, progress on stderr, a summary."""
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("TIDEWATCH_REGISTRY", str(settings.registry_path))
    args = [
        "reprocess",
        "--station",
        "dalian",
        "--from",
        "2025-01-02T06:00:00Z",
        "--to",
        "2025-01-03T22:00:00Z",
    ]
    assert await asyncio.to_thread(main, [*args, "--what", "indicators"]) == 0
    captured = capsys.readouterr()
    assert "dalian indicators: 0 written, 0 removed" in captured.err  # already done by the tests above
    assert "reprocess run" in captured.out
