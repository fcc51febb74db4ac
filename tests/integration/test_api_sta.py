"""The SensorThings API v1.1 view against the real PostgreSQL, over real HTTP: the spec's required fields
and links, paths, $filter/$orderby/$top/$skip/$count/$expand/$select, @iot.nextLink, refusals, and the
FROST Python client (frost_sta_client) reading it as it reads any SensorThings server.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import urllib.parse
from collections.abc import AsyncIterator

import asyncpg
import frost_sta_client as fsc
import httpx
import numpy as np
import pytest

from schemas.registry import load_registry
from services.config import Settings
from services.db.writers import prepare_connection, upsert_observations
from tests.support.api_server import RunningApi, running_api
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

MINUTE_US = 60_000_000
DAY0_US = int(dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
N = 250  # readings of dalian's water level, every 10 min
FLAGS = np.array([1, 1, 1, 3, 1, 4, 1, 2, 1, 9])
LEVELS = np.round(1.5 + np.sin(np.arange(N) / 9), 4)
COMMON = {"@iot.id", "@iot.selfLink"}
REQUIRED = {
    "Things": {"name", "description", "Locations@iot.navigationLink", "Datastreams@iot.navigationLink"},
    "Locations": {"name", "description", "encodingType", "location", "Things@iot.navigationLink"},
    "Sensors": {"name", "description", "encodingType", "metadata", "Datastreams@iot.navigationLink"},
    "ObservedProperties": {"name", "definition", "description", "Datastreams@iot.navigationLink"},
    "Datastreams": {
        "name", "description", "unitOfMeasurement", "observationType", "Thing@iot.navigationLink",
        "Sensor@iot.navigationLink", "ObservedProperty@iot.navigationLink", "Observations@iot.navigationLink",
    },
    "Observations": {
        "phenomenonTime", "resultTime", "result", "Datastream@iot.navigationLink",
        "FeatureOfInterest@iot.navigationLink",
    },
    "FeaturesOfInterest": {
        "name", "description", "encodingType", "feature", "Observations@iot.navigationLink",
    },
}  # fmt: skip


def _rows() -> list[tuple]:
    rows = []
    for k in range(N):
        t = DAY0_US + k * 10 * MINUTE_US
        flag = int(FLAGS[k % len(FLAGS)])
        value = None if flag == 9 else float(LEVELS[k])
        tests = json.dumps({"gross_range": 1, "spike": flag})
        rows.append((t, "dalian", "water_level_m", value, flag, tests, t, False))
    for k in range(5):
        t = DAY0_US + k * 60 * MINUTE_US
        rows.append((t, "lushun", "water_temperature_degC", 4.0 + k, 1, None, t, False))
    return rows


ROWS = _rows()
DALIAN_LEVEL = [r for r in ROWS if r[1] == "dalian"]


def iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_sta") as settings:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await prepare_connection(conn)
            await upsert_observations(conn, ROWS)
        finally:
            await conn.close()
        yield settings


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[RunningApi]:
    async with running_api(settings) as api:
        yield api


@pytest.fixture(scope="module")
async def http(api: RunningApi) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=api.url + "/sta/v1.1", timeout=30) as client:
        yield client


async def get(http: httpx.AsyncClient, path: str, status: int = 200, **params: str | int) -> dict:
    response = await http.get(path, params=params)
    assert response.status_code == status, (path, params, response.text)
    return response.json()


def assert_entity(collection: str, document: dict) -> None:
    missing = (COMMON | REQUIRED[collection]) - set(document)
    assert not missing, (collection, missing, document)
    assert document["@iot.selfLink"].endswith(f"/{collection}('{document['@iot.id']}')")


async def test_service_root_lists_the_collections(http: httpx.AsyncClient, api: RunningApi) -> None:
    root = await get(http, "")
    bare = await http.get(api.url + "/sta/v1.1")  # without the trailing slash too
    assert bare.status_code == 200 and bare.json() == root
    names = {c["name"] for c in root["value"]}
    assert {"Things", "Locations", "Sensors", "ObservedProperties", "Datastreams", "Observations"} <= names
    for collection in root["value"]:
        assert collection["url"].endswith("/sta/v1.1/" + collection["name"])
    assert any("iot_sensing/1.1" in c for c in root["serverSettings"]["conformance"])


async def test_every_collection_has_the_required_fields(http: httpx.AsyncClient) -> None:
    registry = load_registry()
    for collection in REQUIRED:
        listing = await get(http, f"/{collection}", **{"$top": 1000})
        assert listing["value"], collection
        for document in listing["value"]:
            assert_entity(collection, document)
    things = await get(http, "/Things", **{"$count": "true"})
    assert things["@iot.count"] == len(registry.stations) == len(things["value"])
    datastreams = await get(http, "/Datastreams", **{"$count": "true", "$top": 1000})
    assert datastreams["@iot.count"] == sum(len(s.variables) for s in registry.stations.values())
    level = await get(http, "/Datastreams('dalian:water_level_m')")
    assert level["unitOfMeasurement"]["symbol"] == "m"
    assert level["phenomenonTime"] == f"{iso(DALIAN_LEVEL[0][0])}/{iso(DALIAN_LEVEL[-1][0])}"
    location = await get(http, "/Things('dalian')/Locations")
    point = location["value"][0]["location"]
    assert point == {"type": "Point", "coordinates": [registry.stations["dalian"].longitude,
                                                      registry.stations["dalian"].latitude]}  # fmt: skip


async def test_observations_of_a_datastream_page_with_next_links(http: httpx.AsyncClient) -> None:
    seen: list[dict] = []
    url: str | None = "/Datastreams('dalian:water_level_m')/Observations?$top=100&$count=true"
    pages = 0
    while url:
        response = await http.get(url)
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["@iot.count"] == N
        seen += page["value"]
        url = page.get("@iot.nextLink")
        pages += 1
    assert pages == 3
    assert [o["phenomenonTime"] for o in seen] == [iso(r[0]) for r in DALIAN_LEVEL]
    assert [o["result"] for o in seen] == [r[3] for r in DALIAN_LEVEL]
    assert [o["resultQuality"]["qc_flag"] for o in seen] == [r[4] for r in DALIAN_LEVEL]
    for o in seen[:3]:
        assert_entity("Observations", o)
    one = await get(http, f"/Observations('{seen[5]['@iot.id']}')")
    assert one["result"] == seen[5]["result"] and one["resultQuality"]["qc_flag_name"] == "fail"
    back = await get(http, f"/Observations('{seen[5]['@iot.id']}')/Datastream")
    assert back["@iot.id"] == "dalian:water_level_m"


async def test_observation_filters_become_sql(http: httpx.AsyncClient) -> None:
    start, end = DALIAN_LEVEL[20][0], DALIAN_LEVEL[60][0]
    flt = f"phenomenonTime ge {iso(start)} and phenomenonTime lt {iso(end)} and resultQuality/qc_flag eq 1"
    listing = await get(
        http, "/Datastreams('dalian:water_level_m')/Observations", **{"$filter": flt, "$top": 1000}
    )
    expected = [r for r in DALIAN_LEVEL if start <= r[0] < end and r[4] == 1]
    assert [o["result"] for o in listing["value"]] == [r[3] for r in expected] and expected
    high = await get(http, "/Observations", **{"$filter": "result gt 2.3 or result eq null", "$top": 1000})
    expected = [r for r in ROWS if r[3] is None or r[3] > 2.3]
    assert len(high["value"]) == len(expected)
    latest = await get(
        http,
        "/Datastreams('dalian:water_level_m')/Observations",
        **{"$orderby": "phenomenonTime desc", "$top": 1},
    )
    assert latest["value"][0]["phenomenonTime"] == iso(DALIAN_LEVEL[-1][0])
    by_value = await get(http, "/Observations", **{"$orderby": "result desc", "$top": 3,
                                                   "$filter": "result ne null"})  # fmt: skip
    top3 = sorted((r[3] for r in ROWS if r[3] is not None), reverse=True)[:3]
    assert [o["result"] for o in by_value["value"]] == top3
    skipped = await get(http, "/Observations", **{"$skip": N + 3, "$top": 10})
    assert len(skipped["value"]) == 2 and "@iot.nextLink" not in skipped


async def test_catalogue_filters_orderby_select_expand(http: httpx.AsyncClient) -> None:
    buoys = await get(http, "/Things", **{"$filter": "properties/kind eq 'buoy'", "$orderby": "name desc"})
    names = [t["name"] for t in buoys["value"]]
    assert len(names) == 3 and names == sorted(names, reverse=True)
    dalian_streams = await get(
        http, "/Datastreams", **{"$filter": "Thing/@iot.id eq 'dalian'", "$select": "name"}
    )
    assert len(dalian_streams["value"]) == len(load_registry().stations["dalian"].variables)
    assert all(set(d) == {"name"} for d in dalian_streams["value"])
    flt = "startswith(name, 'water_') and not substringof('temperature', name)"
    found = await get(http, "/ObservedProperties", **{"$filter": flt})
    assert {p["name"] for p in found["value"]} == {"water_level_m", "water_table_depth_m"}
    expanded = await get(
        http,
        "/Things('dalian')",
        **{"$expand": "Locations,Datastreams($filter=ObservedProperty/name eq 'water_level_m';"
                      "$expand=Observations($orderby=phenomenonTime desc;$top=2),Sensor)"},
    )  # fmt: skip
    assert len(expanded["Locations"]) == 1
    (stream,) = expanded["Datastreams"]
    assert stream["Sensor"]["@iot.id"] == "dalian:water_level_m"
    assert [o["phenomenonTime"] for o in stream["Observations"]] == [
        iso(r[0]) for r in DALIAN_LEVEL[-1:-3:-1]
    ]
    nested = await get(http, "/Datastreams('dalian:water_level_m')", **{"$expand": "Thing/Locations"})
    assert nested["Thing"]["Locations"][0]["@iot.id"] == "dalian"
    prop = await get(http, "/Things('dalian')/name")
    assert prop == {"name": load_registry().stations["dalian"].name}


async def test_refusals_keep_the_api_error_shape(http: httpx.AsyncClient) -> None:
    for path, params, status, word in (
        ("/Things", {"top": "1"}, 400, "'top'"),
        ("/Things", {"$filter": "name eq"}, 400, "$filter"),
        ("/Things", {"$filter": "colour eq 'red'"}, 400, "colour"),
        ("/Observations", {"$filter": "startswith(result, '1')"}, 400, "$filter"),
        ("/Observations", {"$filter": "phenomenonTime gt 5"}, 400, "ISO 8601"),
        ("/Observations", {"$orderby": "name"}, 400, "$orderby"),
        ("/Things", {"$top": "100000"}, 400, "$top"),
        ("/Things", {"$expand": "Sensors"}, 400, "$expand"),
        ("/Things('nowhere')", {}, 404, "nowhere"),
        ("/Rivers", {}, 404, "Rivers"),
        ("/Observations('dalian:water_level_m:1')", {}, 404, "Observations"),
    ):
        body = await get(http, path, status, **params)
        assert body["error"]["status"] == status and word in body["error"]["message"], (path, body)
    quoted = urllib.parse.quote("x''; DROP TABLE observations; --")
    body = await get(http, f"/Things('{quoted}')", 404)
    assert "no Things" in body["error"]["message"]
    assert (await get(http, "/Observations", **{"$count": "true", "$top": 0}))["@iot.count"] == len(ROWS)


async def test_frost_client_reads_the_view(api: RunningApi) -> None:
    """FROST's Python client, as a scientist would use it, against the running server (blocking: a thread)."""

    def read() -> dict:
        service = fsc.SensorThingsService(api.url + "/sta/v1.1")
        things = list(service.things().query().list())
        stream = service.datastreams().find("dalian:water_level_m")
        observations = list(
            stream.get_observations().query().top(100).orderby("phenomenonTime", "asc").list()
        )
        filtered = list(
            service.observations()
            .query()
            .filter("result lt 0.6 and resultQuality/qc_flag eq 1")
            .top(50)
            .list()
        )
        props = list(service.observed_properties().query().list())
        return {
            "things": {t.id for t in things},
            "stream": (stream.name, stream.unit_of_measurement.symbol),
            "observations": [(o.phenomenon_time, o.result) for o in observations],
            "filtered": sorted(o.result for o in filtered),
            "properties": {p.id for p in props},
        }

    seen = await asyncio.to_thread(read)
    registry = load_registry()
    assert seen["things"] == set(registry.stations)
    assert seen["stream"][1] == "m" and "Dalian" in seen["stream"][0]
    assert len(seen["observations"]) == N  # the client followed the next links
    assert [r for _t, r in seen["observations"]] == [r[3] for r in DALIAN_LEVEL]
    assert seen["filtered"] == sorted(r[3] for r in ROWS if r[4] == 1 and r[3] is not None and r[3] < 0.6)
    assert seen["properties"] == set(registry.variables)
