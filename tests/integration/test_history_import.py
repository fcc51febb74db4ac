"""``tidewatch import`` on the real PostgreSQL: a NetCDF-CF file written by xarray and a CSV in the
API's export format with bad rows. Good rows stored with the flags a fresh QC engine gives the same
series, bad rows dead-lettered with their row numbers and reasons, a second import adds nothing."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import numpy as np
import pytest
import xarray as xr

from schemas.registry import load_registry
from services.cli import main
from services.config import Settings
from services.db.timestamps import us
from services.history.judge import packed_code
from streams.qc import QcEngine, Readings, load_qc_config
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

START_S = 1_735_689_600  # 2025-01-01T00:00:00Z
N = 2 * 1440  # two days of 1-minute readings per station


def _levels(n: int, phase: float) -> np.ndarray:
    hours = np.arange(n) / 60
    level = 2.0 + 1.2 * np.sin(2 * np.pi * hours / 12.42 + phase)
    level[400] += 1.5  # a spike
    level[900:1200] = level[900]  # a flat stretch
    return level


def _netcdf(path: Path) -> dict[str, np.ndarray]:
    """Two tide gauges as a CF timeSeries (orthogonal multidimensional), written by xarray."""
    stations = ["dalian", "yingkou"]
    levels = np.stack([_levels(N, 0.0), _levels(N, 1.0)])
    levels[1, 50] = np.nan  # a fill value: no reading
    time_s = START_S + 60 * np.arange(N)
    ds = xr.Dataset(
        {
            "water_level_m": (
                ("station", "time"),
                levels,
                {"units": "m", "standard_name": "sea_surface_height"},
            ),
            "station_id": (("station",), np.array(stations, dtype=object), {"cf_role": "timeseries_id"}),
            "latitude": (
                ("station",),
                [38.87, 40.3],
                {"standard_name": "latitude", "units": "degrees_north"},
            ),
        },
        coords={
            "time": ("time", time_s, {"units": "seconds since 1970-01-01T00:00:00Z", "standard_name": "time"})
        },
        attrs={"featureType": "timeSeries", "Conventions": "CF-1.8"},
    )
    ds.to_netcdf(path, engine="netcdf4", encoding={"time": {"dtype": "int64"}})
    return {"dalian": levels[0], "yingkou": levels[1]}


def _csv(path: Path) -> list[int]:
    """Lushun water level in the API's export format, with bad rows; returns the bad rows' line numbers."""
    lines = ["time,station_id,variable,value,unit,qc_flag,qc_flag_name"]
    for i, value in enumerate(_levels(1440, 2.0)):
        stamp = np.datetime_as_string(np.datetime64(START_S + 60 * i, "s")) + "Z"
        lines.append(f"{stamp},lushun,water_level_m,{value:.4f},m,1,good")
    bad = [
        "2025-01-01T00:00:30Z,lushun,water_level_m,99.5,m,1,good",  # outside the physical range
        "2025-01-01 00:01:30,lushun,water_level_m,1.0,m,1,good",  # not RFC 3339
        "2025-01-01T00:02:30Z,atlantis,water_level_m,1.0,m,1,good",  # unknown station
        "2025-01-01T00:03:30Z,lushun,water_level_m,high,m,1,good",  # not a number
        "2025-01-01T00:04:30Z,lushun,water_level_m,1.0,ft,1,good",  # wrong unit
        "2025-01-01T00:05:30Z,lushun,salinity_psu,30.0,1e-3,1,good",  # not measured at Lushun
        "2025-01-01T00:06:30Z,lushun,water_level_m,1.0",  # short row
    ]
    at = [len(lines) + 1 + k for k in range(len(bad))]
    lines[600:600] = []  # bad rows at the end keep the good rows' numbers simple
    path.write_text("\n".join(lines + bad) + "\n")
    return at


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_import") as settings:
        yield settings


async def _rows(settings: Settings, sql: str, *args: object) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return await conn.fetch(sql, *args)
    finally:
        await conn.close()


async def _run(settings: Settings, monkeypatch: pytest.MonkeyPatch, *argv: str) -> int:
    """The command line as a user runs it (its own event loop, in a thread)."""
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    return await asyncio.to_thread(main, ["import", *argv])


async def test_netcdf_from_xarray_is_stored_with_fresh_engine_flags_and_once(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "gauges.nc"
    levels = _netcdf(path)
    assert await _run(settings, monkeypatch, str(path)) == 0
    out = capsys.readouterr().out
    assert f"{2 * N - 1:,} read, {2 * N - 1:,} stored" in out and "not readings: latitude" in out
    qc = load_qc_config(load_registry(settings.registry_path), settings.qc_config_path)
    for station, level in levels.items():
        rows = await _rows(
            settings,
            f"SELECT {us('time')} AS t, value, qc_flag, qc_tests::text AS tests FROM observations "
            "WHERE station_id = $1 ORDER BY time",
            station,
        )
        keep = ~np.isnan(level)
        times = (START_S + 60 * np.arange(N))[keep] * 1_000_000
        assert [r["t"] for r in rows] == times.tolist()
        np.testing.assert_array_equal([r["value"] for r in rows], level[keep])
        results = QcEngine(qc).process(
            Readings([station] * len(times), ["water_level_m"] * len(times), times, level[keep])
        )
        expected = {r.time_us: r.flag for r in results}
        assert {r["t"]: r["qc_flag"] for r in rows} == expected
        assert {3, 4} & set(expected.values())  # the spike and the flat stretch were judged
    assert await _run(settings, monkeypatch, str(path)) == 0
    assert f"0 stored, {2 * N - 1:,} already stored" in capsys.readouterr().out
    count = await _rows(
        settings, "SELECT count(*) AS n FROM observations WHERE station_id IN ('dalian', 'yingkou')"
    )
    assert count[0]["n"] == 2 * N - 1


async def test_csv_bad_rows_become_dead_letters_with_row_numbers_and_a_second_import_adds_nothing(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "lushun.csv"
    bad_rows = _csv(path)
    assert await _run(settings, monkeypatch, str(path)) == 0
    assert "1,440 stored" in capsys.readouterr().out
    letters = await _rows(
        settings, "SELECT reason, detail FROM dead_letters WHERE source = $1", f"import:{path}"
    )
    by_row = {int(r["detail"].split(":")[0].removeprefix("row ")): r["reason"] for r in letters}
    assert by_row == dict(
        zip(
            bad_rows,
            ["out_of_physical_range", "bad_time", "unknown_station", "schema_violation", "wrong_unit",
             "unknown_variable", "schema_violation"],
            strict=True,
        )
    )  # fmt: skip
    stored = await _rows(
        settings, "SELECT count(*) AS n, min(qc_flag) AS lo FROM observations WHERE station_id = 'lushun'"
    )
    assert stored[0]["n"] == 1440 and stored[0]["lo"] == 1
    assert await _run(settings, monkeypatch, str(path)) == 0
    assert "0 stored, 1,440 already stored, 7 refused (0 new dead letters)" in capsys.readouterr().out
    again = await _rows(
        settings, "SELECT count(*) AS n FROM dead_letters WHERE source = $1", f"import:{path}"
    )
    assert again[0]["n"] == 7
    runs = await _rows(
        settings, "SELECT kind, state, config_digest, code_version FROM history_runs WHERE kind = 'import'"
    )
    assert runs and all(r["state"] == "done" and len(r["config_digest"]) == 64 for r in runs)


async def _readings(url: str) -> set[tuple]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            f"SELECT station_id, variable, {us('time')}, value, qc_flag FROM observations"
        )
    finally:
        await conn.close()
    return {tuple(r) for r in rows}


async def test_the_apis_own_csv_and_netcdf_exports_import_back_to_the_same_readings_and_flags(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from services.api.app import create_app

    app = create_app(settings)
    span = "station=dalian,lushun&variable=water_level_m&start=2025-01-01T00:00:00Z&end=2025-01-03T00:00:00Z"
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        for fmt in ("csv", "netcdf"):
            response = await client.get(f"/api/v1/observations/export?format={fmt}&{span}")
            assert response.status_code == 200, response.text
            (tmp_path / f"export.{fmt}").write_bytes(response.content)
    original = {r for r in await _readings(settings.database_url) if r[0] in ("dalian", "lushun")}
    for fmt in ("csv", "netcdf"):
        async with fresh_database("tidewatch_import_back") as other:
            assert await _run(other, monkeypatch, str(tmp_path / f"export.{fmt}")) == 0
            assert await _readings(other.database_url) == original, fmt


async def test_a_noaa_coops_file_is_imported_for_the_station_named(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "coops.csv"
    rows = [
        f"2025-01-01 {h:02d}:{m:02d},{1.2 + 0.01 * m:.3f},0.003,0,0,0,0,p"
        for h in range(2)
        for m in range(0, 60, 6)
    ]
    path.write_text(
        "Date Time, Water Level, Sigma, O or I (for verified), F, R, L, Quality\n"
        + "\n".join(rows)
        + "\n2025-01-01 02:00,99.9,0,0,0,0,0,p\n"
    )
    assert await _run(settings, monkeypatch, str(path)) == 2
    assert "--station" in capsys.readouterr().err
    assert await _run(settings, monkeypatch, "--station", "bayuquan", str(path)) == 0
    assert "21 read, 20 stored, 0 already stored, 1 refused" in capsys.readouterr().out
    letters = await _rows(
        settings, "SELECT reason, detail FROM dead_letters WHERE source = $1", f"import:{path}"
    )
    assert [(r["reason"], r["detail"][:7]) for r in letters] == [("out_of_physical_range", "row 22:")]


async def test_two_halves_imported_apart_end_with_the_flags_of_the_whole_series(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The second half's readings are judged with the stored first half as context (a flat stretch
    from reading 900 to 1199 across the cut at 1000), and the first half's last reading, whose spike
    test had no next neighbour, is corrected by the second half."""
    level = _levels(1440, 3.0)
    times = START_S + 60 * np.arange(1440)
    stamps = [np.datetime_as_string(np.datetime64(int(t), "s")) + "Z" for t in times]
    rows = [f"{s},huludao,water_level_m,{v:.4f}" for s, v in zip(stamps, level, strict=True)]
    for name, part in (("first.csv", rows[:1000]), ("second.csv", rows[1000:])):
        (tmp_path / name).write_text("time,station_id,variable,value\n" + "\n".join(part) + "\n")
    assert await _run(settings, monkeypatch, str(tmp_path / "first.csv")) == 0
    assert await _run(settings, monkeypatch, str(tmp_path / "second.csv")) == 0
    out = capsys.readouterr().out
    assert "1,000 stored" in out and "440 stored" in out
    changed = int(out.split("second.csv: ")[1].split(" stored flags changed")[0].rsplit(", ", 1)[1])
    assert changed >= 1  # the first half's last reading: spike test 2 (no neighbour yet), now 1
    stored = await _rows(
        settings,
        f"SELECT {us('time')} AS t, value, qc_flag, qc_tests::text AS tests FROM observations "
        "WHERE station_id = 'huludao' ORDER BY time",
    )
    qc = load_qc_config(load_registry(settings.registry_path), settings.qc_config_path)
    values = np.array([r["value"] for r in stored])
    t_us = np.array([r["t"] for r in stored], dtype=np.int64)
    results = QcEngine(qc).process(
        Readings(["huludao"] * len(t_us), ["water_level_m"] * len(t_us), t_us, values)
    )
    expected = {r.time_us: (r.flag, r.tests) for r in results}
    assert {r["t"]: (r["qc_flag"], packed_code(r["tests"])) for r in stored} == expected
    flat = [expected[int(t) * 1_000_000][0] for t in times[1080:1200]]
    assert flat == [3] * 120  # 3 h flat from reading 900: suspect, which needs the first half as context
