"""``datum=`` through the API against the real PostgreSQL: levels across Yingkou's re-levelling converted
as schemas/datums.py does it on numpy arrays, buckets across it, exports naming the datum, refusals.

A fresh database with the shipped registry (Yingkou re-levelled on 2019-04-16); readings written through
the service's own writer; the app runs in-process behind httpx's ASGI transport.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import netCDF4
import numpy as np
import pytest

from schemas.datums import CHART, DATUMS, NATIONAL_1985, convert_levels
from schemas.indicators import Indicator
from schemas.registry import load_registry
from services.api.app import create_app
from services.config import Settings, load_settings
from services.db.connect import drop_database, ensure_database
from services.db.indicators import write_indicators
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, upsert_observations
from streams.indicators.catalogue import INDICATORS

pytestmark = pytest.mark.integration

HOUR_US = 3_600_000_000
HISTORY = load_registry().get("yingkou").datum.history
RELEVEL_US = HISTORY.levellings[-1].valid_from_us
START_US = RELEVEL_US - 3 * 24 * HOUR_US  # three days either side of the re-levelling, hourly
TIMES = START_US + np.arange(6 * 24, dtype=np.int64) * HOUR_US
LEVELS = np.round(2.0 + 1.2 * np.sin(np.arange(TIMES.size) / 1.977), 3)  # 1 mm readings
DAYS = TIMES[::24]  # daily means stamped at 00:00 UTC, the re-levelling's day among them
EARLY_US = int(dt.datetime(1989, 6, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000  # before any levelling


def iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


SPAN = f"start={iso(START_US)}&end={iso(int(TIMES[-1]) + HOUR_US)}"


@pytest.fixture(scope="module")
async def client() -> AsyncIterator[httpx.AsyncClient]:
    base = load_settings()
    name = f"tidewatch_datums_{uuid.uuid4().hex[:8]}"
    settings: Settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}")
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    rows = [
        (int(t), "yingkou", "water_level_m", float(v), 1, None, int(t), False)
        for t, v in zip(TIMES, LEVELS, strict=True)
    ]
    rows += [(int(t), "yingkou", "water_temperature_degC", 9.5, 1, None, int(t), False) for t in TIMES[:24]]
    rows += [(int(t), "liaohe-saltmarsh", "water_level_m", 0.4, 1, None, int(t), False) for t in TIMES[:3]]
    rows.append((EARLY_US, "huludao", "water_level_m", 1.5, 1, None, EARLY_US, False))
    conn = await asyncpg.connect(settings.database_url)
    try:
        await prepare_connection(conn)
        await upsert_observations(conn, rows)
        items = [Indicator("yingkou", "msl_daily_m", int(t), 2.0 + k / 1000, "m") for k, t in enumerate(DAYS)]
        items += [Indicator("yingkou", "surge_m", int(t), 0.25, "m") for t in DAYS]
        await write_indicators(conn, items)
    finally:
        await conn.close()
    app = create_app(settings)
    try:
        async with (
            app.router.lifespan_context(app),
            httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
        ):
            yield client
    finally:
        await drop_database(settings.database_url)


async def _get(client: httpx.AsyncClient, url: str, status: int = 200) -> dict:
    response = await client.get(url)
    assert response.status_code == status, (url, response.text)
    return response.json()


async def test_raw_levels_in_each_datum_equal_the_pure_conversion(client: httpx.AsyncClient) -> None:
    base = f"/api/v1/observations?station=yingkou&{SPAN}&limit=1000"
    stored = await _get(client, base + "&variable=water_level_m")
    assert stored["meta"]["datum"]["id"] == "station"
    np.testing.assert_array_equal([r["value"] for r in stored["data"]], LEVELS)
    for datum in (NATIONAL_1985, CHART):
        page = await _get(client, f"{base}&variable=water_level_m&datum={datum}")
        values = np.array([r["value"] for r in page["data"]])
        # reading + offset, back at the reading's 1 mm resolution (the sum carries float noise otherwise)
        expected = np.round(convert_levels(LEVELS, TIMES, HISTORY, datum), 3)
        np.testing.assert_allclose(values, expected, atol=1e-12)
        meta = page["meta"]["datum"]
        assert meta["id"] == datum and [o["offset_m"] for o in meta["offsets"]["yingkou"]] == [
            seg.offset_m for seg in HISTORY.segments(datum)
        ]
    # other variables in the same request stay as stored
    mixed = await _get(client, f"{base}&datum=national_1985")
    assert {r["value"] for r in mixed["data"] if r["variable"] == "water_temperature_degC"} == {9.5}


async def test_daily_buckets_across_the_relevelling_convert_each_reading(client: httpx.AsyncClient) -> None:
    url = (f"/api/v1/observations?station=yingkou&variable=water_level_m&{SPAN}&bucket=1d"
           "&agg=mean,min,max,p50&datum=national_1985")  # fmt: skip
    page = await _get(client, url)
    converted = convert_levels(LEVELS, TIMES, HISTORY, NATIONAL_1985)
    days = (TIMES - TIMES[0]) // (24 * HOUR_US)
    # shift the bucket edges to the API's (UTC days): the data start at 00:00 UTC, so days are buckets
    assert TIMES[0] % (24 * HOUR_US) == 0 and len(page["data"]) == 6
    for k, row in enumerate(page["data"]):
        day = converted[days == k]
        for key, want in (
            ("mean", day.mean()),
            ("min", day.min()),
            ("max", day.max()),
            ("p50", np.median(day)),
        ):
            assert row[key] == pytest.approx(want, abs=5.001e-4) and row[key] == round(row[key], 3), key
    assert "hourly" not in page["meta"]["method"]


async def test_sea_level_indicators_convert_and_surge_stays(client: httpx.AsyncClient) -> None:
    url = f"/api/v1/indicators?station=yingkou&{SPAN}&datum=national_1985"
    page = await _get(client, url)
    daily = [r for r in page["data"] if r["indicator"] == "msl_daily_m"]
    stored = 2.0 + np.arange(DAYS.size) / 1000
    want = convert_levels(stored, DAYS, HISTORY, NATIONAL_1985)
    np.testing.assert_allclose([r["value"] for r in daily], want, atol=1e-12)
    assert {r["value"] for r in page["data"] if r["indicator"] == "surge_m"} == {0.25}  # a difference
    assert "msl_daily_m" in page["meta"]["datum"]["indicators"]
    surge_only = await _get(
        client, f"/api/v1/indicators?station=yingkou&indicator=surge_m&{SPAN}&datum=chart", 400
    )
    assert surge_only["error"]["message"].startswith("datum: chart converts water levels")


async def test_export_says_which_datum(client: httpx.AsyncClient) -> None:
    response = await client.get(
        f"/api/v1/observations/export?station=yingkou&variable=water_level_m&{SPAN}&datum=chart"
    )
    assert response.status_code == 200 and response.headers["x-tidewatch-datum"] == "chart"
    values = [float(r["value"]) for r in csv.DictReader(io.StringIO(response.text))]
    np.testing.assert_allclose(values, np.round(convert_levels(LEVELS, TIMES, HISTORY, CHART), 3), atol=1e-12)
    # NetCDF: the levels converted, the datum named, mean sea level above it through today's zero.
    netcdf = await client.get(f"/api/v1/observations/export?station=yingkou&{SPAN}&datum=chart&format=netcdf")
    assert netcdf.status_code == 200, netcdf.text
    with netCDF4.Dataset("export.nc", mode="r", memory=netcdf.content) as ds:
        levels = np.ma.filled(ds["water_level_m"][0, :], np.nan)
        np.testing.assert_allclose(
            levels, np.round(convert_levels(LEVELS, TIMES, HISTORY, CHART), 3), atol=1e-9
        )
        assert ds["water_temperature_degC"][0, 0] == 9.5  # not a level: as stored
        assert ds["datum_name"][0] == DATUMS[CHART]
        zero_now = HISTORY.levellings[-1].zero_above_m[CHART]
        msl = load_registry().get("yingkou").datum.msl_above_datum_m
        assert ds["datum_altitude"][0] == pytest.approx(-(msl + zero_now))


async def test_refusals_name_the_parameter_and_the_station(client: httpx.AsyncClient) -> None:
    unknown = await _get(client, f"/api/v1/observations?station=yingkou&{SPAN}&datum=msl", 400)
    assert unknown["error"]["message"].startswith("datum: unknown datum 'msl'; use one of station, ")
    marsh = await _get(client, f"/api/v1/observations?{SPAN}&datum=chart", 422)  # every station
    assert "'liaohe-saltmarsh'" in marsh["error"]["message"] and "datum=station" in marsh["error"]["message"]
    temperature = f"/api/v1/observations?station=yingkou&variable=water_temperature_degC&{SPAN}&datum=chart"
    nothing = await _get(client, temperature, 400)
    assert "converts water levels" in nothing["error"]["message"]
    early = "/api/v1/observations?station=huludao&start=1989-01-01&end=1991-01-01&datum=national_1985"
    before = await _get(client, early, 422)
    assert "'huludao'" in before["error"]["message"] and "1990-01-01" in before["error"]["message"]
    # a range reaching before the first levelling is fine where no level was stored then
    await _get(client, "/api/v1/observations?station=yingkou&start=1989-01-01&end=1989-02-01&datum=chart")
    catalogue = await _get(client, "/api/v1/stations/yingkou")
    assert catalogue["datum"]["datums"] == ["station", "national_1985", "chart"]
    assert catalogue["datum"]["levellings"][-1]["from"] == iso(RELEVEL_US)[:10]
