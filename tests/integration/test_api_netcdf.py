"""NetCDF-CF export against the real PostgreSQL: the file a scientist downloads is read back with netCDF4
and checked by the IOOS compliance-checker (CF-1.8 and ACDD-1.3) for high-priority failures.

The database holds readings of every station's every variable (every QC flag, missing values, several
sampling intervals) and indicators of every unit the catalogue uses, written through the service's own
writer; the app runs in-process behind httpx's ASGI transport.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import netCDF4
import numpy as np
import pytest
import yaml
from compliance_checker.runner import CheckSuite, ComplianceChecker

from schemas.quality import TESTS as QC_TESTS
from schemas.registry import load_registry
from services.api.app import create_app
from services.api.cf import CF_NAME_FOR, NO_CF_STANDARD_NAME, STANDARD_NAME_TABLE, cf_units
from services.config import Settings, load_settings
from services.db.writers import prepare_connection, upsert_observations
from tests.support.api_server import running_api
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

HOUR_US = 3_600_000_000
DAY0_US = int(dt.datetime(2025, 6, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
N_HOURS = 48
FLAG_CYCLE = (1, 1, 2, 1, 3, 1, 4, 1, 9, 1)
# Left out unless asked for: no CF standard name (CH4 flux, battery), or a buoy's measured position.
ASKED_ONLY = ("battery_voltage_v", "ch4_flux_nmol_m2_s", "latitude_deg", "longitude_deg")
STATIONS = ("dalian", "liaodong-bay-buoy", "liaohe-saltmarsh", "changhai-seagrass")


def _observation_rows() -> list[tuple]:
    """Hourly readings of every variable of a few stations; the second station's every 2 h, so samples
    differ per station; flag 9 rows have no value."""
    registry = load_registry()
    rng = np.random.default_rng(3)
    rows = []
    for n, station in enumerate(STATIONS):
        for v, variable in enumerate(registry.stations[station].variables):
            spec = registry.variables[variable]
            low, high = spec.physical_min, spec.physical_max
            for k in range(0, N_HOURS, 1 + n % 2):
                t = DAY0_US + k * HOUR_US
                flag = FLAG_CYCLE[(k + v) % len(FLAG_CYCLE)]
                value = None if flag == 9 else float(low + (high - low) * rng.uniform(0.3, 0.7))
                # The aggregate is the worst test; gross range ran on every reading, spike on most.
                tests = {"gross_range": 1 if flag in (2, 9) else flag}
                if k % 4:
                    tests["spike"] = 1
                rows.append((t, station, variable, value, flag, json.dumps(tests), t, False))
    return rows


OBSERVATIONS = _observation_rows()


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_netcdf") as settings:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await prepare_connection(conn)
            await upsert_observations(conn, OBSERVATIONS)
            catalogue = await conn.fetch("SELECT id, unit FROM indicator_catalogue ORDER BY id")
            one_per_unit = {r["unit"]: r["id"] for r in catalogue}
            await conn.executemany(
                "INSERT INTO indicators (time, station_id, indicator, value, unit) "
                "VALUES (timestamptz 'epoch' + $1 * interval '1 microsecond', $2, $3, $4, $5)",
                [
                    (DAY0_US + day * 24 * HOUR_US, "dalian", indicator, 1.5 + day, unit)
                    for unit, indicator in one_per_unit.items()
                    for day in range(2)
                ],
            )
        finally:
            await conn.close()
        yield settings


@pytest.fixture(scope="module")
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        yield client


def _span() -> str:
    start = dt.datetime.fromtimestamp(DAY0_US / 1e6, dt.UTC)
    end = start + dt.timedelta(hours=N_HOURS)
    return f"start={start:%Y-%m-%dT%H:%M:%SZ}&end={end:%Y-%m-%dT%H:%M:%SZ}"


async def _download(client: httpx.AsyncClient, url: str, path: Path) -> Path:
    response = await client.get(url)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-netcdf"
    assert response.headers["content-disposition"].endswith('.nc"')
    path.write_bytes(response.content)
    return path


def _check(path: Path, tmp_path: Path) -> dict:
    """compliance-checker's JSON report for CF-1.8 and ACDD-1.3."""
    CheckSuite.load_all_available_checkers()
    report = tmp_path / f"{path.stem}.json"
    ComplianceChecker.run_checker(
        str(path), ["cf:1.8", "acdd:1.3"], 1, "normal", output_filename=str(report), output_format="json"
    )
    return json.loads(report.read_text())


def _failures(report: dict, priority: str) -> dict[str, list]:
    """The checks of that priority that lost points, per suite (the report lists passes too)."""
    failed = {
        suite: [c for c in result[f"{priority}_priorities"] if c["value"][0] < c["value"][1]]
        for suite, result in report.items()
    }
    return {suite: checks for suite, checks in failed.items() if checks}


def _high_failures(report: dict) -> dict[str, list]:
    return _failures(report, "high")


@pytest.fixture(scope="module")
async def observations_file(client: httpx.AsyncClient, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The default export of the seeded stations, downloaded once for the tests that read it."""
    url = f"/api/v1/observations/export?format=netcdf&station={','.join(STATIONS)}&{_span()}"
    return await _download(client, url, tmp_path_factory.mktemp("netcdf") / "obs.nc")


async def test_observations_netcdf_is_cf_and_acdd_compliant(observations_file: Path, tmp_path: Path) -> None:
    path = observations_file
    report = _check(path, tmp_path)
    assert _high_failures(report) == {}, json.dumps(_high_failures(report), indent=1)[:4000]
    # CF's medium checks too (feature type detection among them); ACDD's medium ones ask for the
    # operator's contacts (creator_email …), which TIDEWATCH_NETCDF_ATTRIBUTES supplies.
    assert "cf:1.8" not in _failures(report, "medium"), _failures(report, "medium")
    assert report["cf:1.8"]["scored_points"] == report["cf:1.8"]["possible_points"] > 0


async def test_observations_netcdf_holds_every_reading_and_flag(observations_file: Path) -> None:
    path = observations_file
    registry = load_registry()
    with netCDF4.Dataset(path) as ds:
        assert ds.featureType == "timeSeries" and "CF-1.8" in ds.Conventions and "ACDD-1.3" in ds.Conventions
        ids = list(ds["station_id"][:])
        assert sorted(ids) == sorted(STATIONS)
        times = ds["time"][:]  # (station, obs), fill after each station's last sample
        sizes = {s: int(times[ids.index(s)].count()) for s in STATIONS}
        assert max(sizes.values()) == ds.dimensions["obs"].size
        assert sizes["dalian"] == N_HOURS and sizes["liaodong-bay-buoy"] == N_HOURS // 2
        seen = 0
        assert not set(ASKED_ONLY) & set(ds.variables)
        for t, station, variable, value, flag, *_ in OBSERVATIONS:
            if variable in ASKED_ONLY:
                continue  # only when asked for (below)
            i = ids.index(station)
            j = int(np.flatnonzero(times[i] == t / 1e6)[0])
            assert int(ds[f"{variable}_qc"][i, j]) == flag
            stored = ds[variable][i, j]
            if value is None:
                assert np.ma.is_masked(stored)
            else:
                assert float(stored) == value
            seen += 1
        assert seen == sum(r[2] not in ASKED_ONLY for r in OBSERVATIONS)
        dalian = ids.index("dalian")
        assert ds["wave_height_m"][dalian].mask.all()  # not measured there: fill
        level = ds["water_level_m"]
        assert level.standard_name == registry.variables["water_level_m"].cf
        assert level.units == "m"
        flags = ds["water_level_m_qc"]
        assert flags.flag_values.tolist() == [1, 2, 3, 4, 9]
        assert flags.flag_meanings.split() == ["good", "not_evaluated", "suspect", "fail", "missing"]
        assert flags.standard_name == "aggregate_quality_flag"
        assert level.ancillary_variables.split() == [
            "water_level_m_qc", "water_level_m_status", "water_level_m_qc_gross_range",
            "water_level_m_qc_spike",
        ]  # fmt: skip
        spike = ds["water_level_m_qc_spike"]
        assert spike.standard_name == "spike_test_quality_flag"
        assert spike.flag_values.tolist() == [1, 2, 3, 4, 9]
        rows = [r for r in OBSERVATIONS if r[1] == "dalian" and r[2] == "water_level_m"]
        tests = [json.loads(r[5]) for r in rows]
        assert ds["water_level_m_qc_gross_range"][dalian].tolist() == [t["gross_range"] for t in tests]
        spikes = ds["water_level_m_qc_spike"][dalian].filled(-127).tolist()
        assert spikes == [t.get("spike", -127) for t in tests]  # fill where the test did not run
        assert ds.time_coverage_start == "2025-06-01T00:00:00Z"
        assert ds.time_coverage_end == "2025-06-02T23:00:00Z"
        for s in STATIONS:
            assert ds["latitude"][ids.index(s)] == registry.stations[s].latitude
            datum = registry.stations[s].datum
            assert ds["datum_name"][ids.index(s)] == datum.name
            assert ds["datum_altitude"][ids.index(s)] == -datum.msl_above_datum_m


async def test_qc_filter_and_single_variable(client: httpx.AsyncClient, tmp_path: Path) -> None:
    path = await _download(
        client,
        f"/api/v1/observations/export?format=netcdf&station=dalian&variable=water_level_m&qc=good&{_span()}",
        tmp_path / "good.nc",
    )
    expected = [r for r in OBSERVATIONS if r[1] == "dalian" and r[2] == "water_level_m" and r[4] == 1]
    with netCDF4.Dataset(path) as ds:
        assert [v for v in ds.variables if v.endswith("_qc")] == ["water_level_m_qc"]
        assert ds["water_level_m_qc"][0].tolist() == [1] * len(expected)
        assert ds["water_level_m"][0].tolist() == [r[3] for r in expected]
        assert list(ds["station_id"][:]) == ["dalian"]


async def test_variables_without_a_cf_name_come_when_asked(client: httpx.AsyncClient, tmp_path: Path) -> None:
    path = await _download(
        client,
        f"/api/v1/observations/export?format=netcdf&station=dalian&variable=battery_voltage_v&{_span()}",
        tmp_path / "battery.nc",
    )
    expected = [r for r in OBSERVATIONS if r[1] == "dalian" and r[2] == "battery_voltage_v"]
    with netCDF4.Dataset(path) as ds:
        battery = ds["battery_voltage_v"]
        assert battery.units == "V" and not hasattr(battery, "standard_name")
        assert "battery_voltage" in battery.comment
        assert ds["battery_voltage_v_qc"][0].tolist() == [r[4] for r in expected]


async def test_indicators_netcdf_is_cf_compliant_with_every_catalogue_unit(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    path = await _download(
        client, f"/api/v1/indicators/export?format=netcdf&station=dalian&{_span()}", tmp_path / "ind.nc"
    )
    report = _check(path, tmp_path)
    failures = _high_failures(report)
    assert "cf:1.8" not in failures, json.dumps(failures["cf:1.8"], indent=1)[:4000]
    # Indicators are derived quantities CF has no standard names for: ACDD's only complaint is that.
    missing = {check["name"].split('"')[1]: check["msgs"] for check in failures.get("acdd:1.3", [])}
    with netCDF4.Dataset(path) as ds:
        written = [v for v in ds.variables if ds[v].dimensions == ("station", "obs") and v != "time"]
        assert written and not any(v.endswith("_qc") for v in written)
        assert ds.dimensions["obs"].size == 2  # two days, every indicator on the same sample times
        assert set(missing) <= set(written) and all(m == ["standard_name"] for m in missing.values())
        assert all(not hasattr(ds[v], "standard_name") for v in missing)


async def test_netcdf_refusals_keep_the_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get(f"/api/v1/observations/export?format=netcdf&bucket=1h&{_span()}")
    assert response.status_code == 400 and "bucket" in response.json()["error"]["message"]
    response = await client.get(f"/api/v1/observations/export?format=netcdf&stations=dalian&{_span()}")
    assert response.status_code == 400 and "'stations'" in response.json()["error"]["message"]
    response = await client.get("/api/v1/observations?format=netcdf")
    assert response.status_code == 400 and response.json()["error"]["message"].startswith("format:")


def test_vocabulary_names_and_units_are_cf() -> None:
    """Every vocabulary `cf` value (or its CF equivalent) is in compliance-checker's CF standard name
    table, except those the export has no standard name for; every unit reads in UDUNITS and converts
    to the standard name's canonical unit."""
    from cf_units import Unit
    from compliance_checker.cf.util import StandardNameTable

    table = StandardNameTable()
    assert STANDARD_NAME_TABLE.endswith(f"v{table._version}")
    vocabulary = load_registry().variables
    for variable in vocabulary.values():
        name = CF_NAME_FOR.get(variable.cf, variable.cf)
        in_table = name in table
        assert in_table != (variable.cf in NO_CF_STANDARD_NAME), variable.cf
        units, _note = cf_units(variable.unit)
        assert not Unit(units).is_unknown(), (variable.cf, units)
        if in_table:
            canonical = Unit(table[name].canonical_units)
            assert Unit(units).is_convertible(canonical), (name, units, canonical)
    for name in CF_NAME_FOR.values():
        assert name in table
    for test in QC_TESTS:  # each QARTOD test's flag variable takes this standard name
        assert f"{test}_test_quality_flag" in table, test


async def test_query_cli_saves_netcdf(settings: Settings, tmp_path: Path) -> None:
    """``tidewatch query … -o netcdf``: into --out, or onto a redirected standard output."""
    span = _span().replace("start=", "--start ").replace("&end=", " --end ")
    common = (
        f"{sys.executable} -m services.cli query observations -s dalian -V water_level_m {span} -o netcdf"
    )
    async with running_api(settings) as api:
        saved, redirected = tmp_path / "cli.nc", tmp_path / "stdout.nc"
        for command in (
            f"{common} --base-url {api.url} --out {saved}",
            f"{common} --base-url {api.url} > {redirected}",
        ):
            done = await asyncio.to_thread(
                subprocess.run, ["bash", "-c", command], capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
        refused = await asyncio.to_thread(
            subprocess.run,
            ["bash", "-c", f"{sys.executable} -m services.cli query stations -o netcdf --base-url {api.url}"],
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert refused.returncode == 2 and "observations and indicators" in refused.stderr
    expected = [r[3] for r in OBSERVATIONS if r[1] == "dalian" and r[2] == "water_level_m"]
    for path in (saved, redirected):
        with netCDF4.Dataset(path) as ds:
            assert list(ds["station_id"][:]) == ["dalian"]
            stored = ds["water_level_m"][0]
            assert [
                None if m else float(v) for v, m in zip(stored.data, np.ma.getmaskarray(stored), strict=True)
            ] == expected


async def test_operator_attributes_file_fills_acdd_contacts(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    contacts = {
        "creator_name": "Liaoning Coastal Observatory",
        "creator_email": "data@example.org",
        "creator_url": "https://example.org/",
        "publisher_email": "data@example.org",
        "publisher_url": "https://example.org/",
        "acknowledgment": "Operated by the Liaoning Coastal Observatory",
        "license": "CC-BY-4.0",
    }
    attributes = tmp_path / "attributes.yaml"
    attributes.write_text(yaml.safe_dump(contacts))
    monkeypatch.setenv("TIDEWATCH_NETCDF_ATTRIBUTES", str(attributes))
    app = create_app(settings.with_(netcdf_attributes_path=load_settings().netcdf_attributes_path))
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        await _check_operator_attributes(client, attributes, contacts, tmp_path)


async def _check_operator_attributes(
    client: httpx.AsyncClient, attributes: Path, contacts: dict[str, str], tmp_path: Path
) -> None:
    path = await _download(
        client, f"/api/v1/observations/export?format=netcdf&station=dalian&{_span()}", tmp_path / "c.nc"
    )
    with netCDF4.Dataset(path) as ds:
        assert {k: ds.getncattr(k) for k in contacts} == contacts
    medium = " ".join(
        " ".join(c["msgs"]) for c in _failures(_check(path, tmp_path), "medium").get("acdd:1.3", [])
    )
    assert "creator_email" not in medium and "acknowledgment" not in medium
    attributes.write_text("- not a mapping\n")
    response = await client.get(f"/api/v1/observations/export?format=netcdf&station=dalian&{_span()}")
    assert (
        response.status_code == 500 and "TIDEWATCH_NETCDF_ATTRIBUTES" in response.json()["error"]["message"]
    )
