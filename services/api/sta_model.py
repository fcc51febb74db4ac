"""The SensorThings v1.1 entities over tidewatch's catalogue tables. Pure: rows in, documents out.

A station is a Thing, its position the Thing's Location and the Observations' FeatureOfInterest; a
vocabulary variable is an ObservedProperty; each variable a station measures is a Datastream
(``station:variable``) with its own Sensor (same id: the registry names no instruments); each stored
reading is an Observation (``station:variable:time µs``) whose ``resultQuality`` is its QARTOD flag.
The catalogue is small, so these are built per request; Observations are read with SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from services.api.errors import ApiError
from services.api.flags import QC_FLAG_NAMES
from services.api.params import format_time

OM_MEASUREMENT = "http://www.opengis.net/def/observationType/OGC-OM/2.0/OM_Measurement"
CF_NAME_URL = "https://cfconventions.org/Data/cf-standard-names/current/build/cf-standard-name-table.html#"
GEOJSON = "application/geo+json"

# Collection → navigation property → (target collection, single-valued)
NAVIGATION: dict[str, dict[str, tuple[str, bool]]] = {
    "Things": {"Locations": ("Locations", False), "Datastreams": ("Datastreams", False)},
    "Locations": {"Things": ("Things", False)},
    "Datastreams": {
        "Thing": ("Things", True),
        "Sensor": ("Sensors", True),
        "ObservedProperty": ("ObservedProperties", True),
        "Observations": ("Observations", False),
    },
    "Sensors": {"Datastreams": ("Datastreams", False)},
    "ObservedProperties": {"Datastreams": ("Datastreams", False)},
    "FeaturesOfInterest": {"Observations": ("Observations", False)},
    "Observations": {"Datastream": ("Datastreams", True), "FeatureOfInterest": ("FeaturesOfInterest", True)},
}
COLLECTIONS = tuple(NAVIGATION)


def datastream_id(station: str, variable: str) -> str:
    return f"{station}:{variable}"


def split_datastream_id(text: str) -> tuple[str, str]:
    station, sep, variable = text.partition(":")
    if not sep or not station or not variable:
        raise ApiError(f"not a Datastream id: {text!r} (station:variable)", 404)
    return station, variable


def observation_id(station: str, variable: str, time_us: int) -> str:
    return f"{station}:{variable}:{time_us}"


def split_observation_id(text: str) -> tuple[str, str, int]:
    head, sep, time_text = text.rpartition(":")
    if not sep or not time_text.lstrip("-").isdigit():
        raise ApiError(f"not an Observation id: {text!r} (station:variable:time µs)", 404)
    station, variable = split_datastream_id(head)
    return station, variable, int(time_text)


@dataclass
class Model:
    """Entity documents (without links) per collection and id, and the links between them."""

    entities: dict[str, dict[str, dict[str, Any]]]
    links: dict[tuple[str, str, str], list[str]]  # (collection, id, navigation) → target ids

    def related(self, collection: str, entity_id: str, navigation: str) -> list[str]:
        return self.links.get((collection, entity_id, navigation), [])


def _time(us: int | None) -> str | None:
    return None if us is None else format_time(us)


def build_model(station_rows: Sequence[Any], variable_rows: Sequence[Any]) -> Model:
    """From ``STATIONS_SQL`` (one row per station and variable) and ``VARIABLES_SQL`` rows."""
    entities: dict[str, dict[str, dict[str, Any]]] = {name: {} for name in COLLECTIONS}
    entities.pop("Observations")
    links: dict[tuple[str, str, str], list[str]] = {}

    def link(source: str, source_id: str, navigation: str, target_id: str) -> None:
        links.setdefault((source, source_id, navigation), []).append(target_id)

    variables = {r["id"]: r for r in variable_rows}
    for v in variable_rows:
        cf = v["cf_name"]
        entities["ObservedProperties"][v["id"]] = {
            "@iot.id": v["id"],
            "name": v["id"],
            "definition": CF_NAME_URL + cf if cf else v["id"],
            "description": v["description"],
            "properties": {"unit": v["unit"], "cf_name": cf},
        }
    for r in station_rows:
        sid = r["id"]
        point = {"type": "Point", "coordinates": [r["longitude"], r["latitude"]]}
        if sid not in entities["Things"]:
            entities["Things"][sid] = {
                "@iot.id": sid,
                "name": r["name"],
                "description": f"{r['name']} ({r['kind'].replace('_', ' ')} of the {r['network']} network)",
                "properties": {
                    "kind": r["kind"],
                    "network": r["network"],
                    "area": r["area"],
                    "name_zh": r["name_zh"],
                    "datum": {"name": r["datum_name"], "msl_above_datum_m": r["msl_above_datum_m"]},
                    "sampling_interval_s": r["sampling_interval_s"],
                    "thresholds": r["thresholds"],
                },
            }
            place = {"name": r["name"], "encodingType": GEOJSON, "location": point}
            entities["Locations"][sid] = {
                "@iot.id": sid,
                **place,
                "description": f"position of {r['name']} (WGS84)",
            }
            entities["FeaturesOfInterest"][sid] = {
                "@iot.id": sid,
                "name": r["name"],
                "description": f"the water or site sampled at {r['name']}",
                "encodingType": GEOJSON,
                "feature": point,
            }
            link("Things", sid, "Locations", sid)
            link("Locations", sid, "Things", sid)
        variable = r["variable"]
        described = variables.get(variable)
        did = datastream_id(sid, variable)
        first, last = r["first_time"], r["last_time"]
        span = f"{_time(first)}/{_time(last)}" if first is not None else None
        description = described["description"] if described else variable
        entities["Datastreams"][did] = {
            "@iot.id": did,
            "name": f"{r['name']}: {description}",
            "description": f"{description} ({variable}) at {r['name']}, as reported, with QARTOD QC flags",
            "unitOfMeasurement": {
                "name": r["unit"],
                "symbol": r["unit"],
                "definition": f"UDUNITS-2 unit '{r['unit']}'",
            },
            "observationType": OM_MEASUREMENT,
            "observedArea": point,
            "phenomenonTime": span,
            "resultTime": span,
            "properties": {
                "station": sid,
                "variable": variable,
                "sampling_interval_s": r["sampling_interval_s"],
            },
        }
        entities["Sensors"][did] = {
            "@iot.id": did,
            "name": f"{sid} {variable} sensor",
            "description": f"the instrument reporting {variable} at {r['name']} "
            "(the registry holds no instrument metadata)",
            "encodingType": "application/json",
            "metadata": f"/api/v1/stations/{sid}",
        }
        link("Things", sid, "Datastreams", did)
        link("Datastreams", did, "Thing", sid)
        link("Datastreams", did, "Sensor", did)
        link("Sensors", did, "Datastreams", did)
        if described:
            link("Datastreams", did, "ObservedProperty", variable)
            link("ObservedProperties", variable, "Datastreams", did)
    return Model(entities, links)


def observation_document(row: Any) -> dict[str, Any]:
    """A row (time, station_id, variable, value, qc_flag, qc_tests) → an Observation without links."""
    time_us, station, variable, value, flag, tests = row[:6]
    stamp = format_time(time_us)
    return {
        "@iot.id": observation_id(station, variable, time_us),
        "phenomenonTime": stamp,
        "resultTime": stamp,
        "result": value,
        "resultQuality": {"qc_flag": flag, "qc_flag_name": QC_FLAG_NAMES.get(flag), "qc_tests": tests},
    }
