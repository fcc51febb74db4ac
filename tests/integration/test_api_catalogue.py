"""The HTTP API's documentation, health and catalogue endpoints (`/openapi.json`, `/docs`, `/health`,
`/api/v1/stations` as JSON, GeoJSON and CSV, `/api/v1/variables`, `/api/v1/qc-flags`) against the real
PostgreSQL, seeded as tests/support/api_seeded.py describes.
"""

from __future__ import annotations

import csv
import io
import socket

import httpx
import pytest

from schemas.datums import levellings_document
from schemas.registry import load_registry
from services.api.app import create_app
from services.config import Settings
from tests.support import api_seeded
from tests.support.api_seeded import QC_NAMES, get_json
from tests.support.api_series import DAY0_US, LEVEL_T, iso

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


async def test_openapi_and_docs_are_served(client: httpx.AsyncClient) -> None:
    document = await get_json(client, "/openapi.json")
    paths = set(document["paths"])
    for path in ("/api/v1/stations", "/api/v1/observations", "/api/v1/observations/export", "/api/v1/alerts"):
        assert path in paths
    parameters = {p["name"] for p in document["paths"]["/api/v1/observations"]["get"]["parameters"]}
    assert {
        "station",
        "variable",
        "start",
        "end",
        "qc",
        "bucket",
        "agg",
        "format",
        "limit",
        "after",
    } <= parameters
    docs = await client.get("/docs")
    assert docs.status_code == 200 and "swagger" in docs.text.lower()
    health = await get_json(client, "/health")
    assert "date_bin" in health["database"]


async def test_station_catalogue_names_units_datums_and_reading_span(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    stations = (await get_json(client, "/api/v1/stations"))["stations"]
    assert {s["id"] for s in stations} == set(registry.stations)
    dalian = next(s for s in stations if s["id"] == "dalian")
    expected = registry.stations["dalian"]
    assert dalian["datum"] == {
        "name": expected.datum.name,
        "msl_above_datum_m": expected.datum.msl_above_datum_m,
        "datums": list(expected.datum.history.datums()),
        "levellings": levellings_document(expected.datum.history),
    }
    assert dalian["sampling_interval_s"] == expected.sampling_interval_s
    assert dalian["kind"] == "tide_gauge"
    units = {v["id"]: v["unit"] for v in dalian["variables"]}
    assert units == {v: registry.variables[v].unit for v in expected.variables}
    level = next(v for v in dalian["variables"] if v["id"] == "water_level_m")
    assert level["first_reading"] == iso(int(LEVEL_T[0]))
    assert level["last_reading"] == iso(int(LEVEL_T[-1]))
    assert dalian["first_reading"] == iso(DAY0_US) and dalian["last_reading"] == iso(int(LEVEL_T[-1]))
    never = next(s for s in stations if s["id"] == "yalu-estuary")
    assert never["first_reading"] is None and all(v["last_reading"] is None for v in never["variables"])
    one = await get_json(client, "/api/v1/stations/dalian")
    assert one == dalian
    buoys = (await get_json(client, "/api/v1/stations?kind=buoy"))["stations"]
    assert {s["kind"] for s in buoys} == {"buoy"} and len(buoys) == 3


async def test_geojson_is_valid_for_maps(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    response = await client.get("/api/v1/stations?format=geojson")
    assert response.headers["content-type"] == "application/geo+json"
    collection = response.json()
    assert collection["type"] == "FeatureCollection"
    assert len(collection["features"]) == len(registry.stations)
    for feature in collection["features"]:
        assert feature["type"] == "Feature"
        assert set(feature) == {"type", "id", "geometry", "properties"}
        assert feature["geometry"]["type"] == "Point"
        lon, lat = feature["geometry"]["coordinates"]
        station = registry.stations[feature["id"]]
        assert (lon, lat) == (station.longitude, station.latitude)  # RFC 7946: longitude first
        assert -180 <= lon <= 180 and -90 <= lat <= 90
        assert feature["properties"]["id"] == feature["id"]
    single = await get_json(client, "/api/v1/stations/lushun?format=geojson")
    assert single["type"] == "Feature" and single["geometry"]["coordinates"] == [121.25, 38.8]


async def test_station_csv_has_one_row_per_station_and_variable(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    response = await client.get("/api/v1/stations?format=csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == sum(len(s.variables) for s in registry.stations.values())
    row = next(r for r in rows if r["station_id"] == "dalian" and r["variable"] == "water_level_m")
    assert row["unit"] == "m" and row["first_reading"] == iso(DAY0_US)


async def test_variables_and_qc_flags_are_listed(client: httpx.AsyncClient) -> None:
    registry = load_registry()
    variables = (await get_json(client, "/api/v1/variables"))["variables"]
    assert {v["id"]: v["unit"] for v in variables} == {k: v.unit for k, v in registry.variables.items()}
    flags = await get_json(client, "/api/v1/qc-flags")
    assert {f["flag"]: f["name"] for f in flags["flags"]} == QC_NAMES
    assert flags["sets"]["usable"] == ["good", "not_evaluated"]


async def test_health_reports_kafka(settings: Settings) -> None:
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen()
        port = listening.getsockname()[1]
        for kafka_url, reachable in ((f"kafka://127.0.0.1:{port}", True), ("kafka://127.0.0.1:1", False)):
            app = create_app(settings.with_(kafka_url=kafka_url))
            async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as c:
                body = (await c.get("/health")).json()
            await app.state.db.close()
            assert body["kafka"]["address"] == kafka_url.removeprefix("kafka://")
            assert body["kafka"]["reachable"] is reachable
            assert body["status"] == ("ok" if reachable else "degraded")
