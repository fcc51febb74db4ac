"""The station catalogue as scientists read it, and the checks that turn requested ids into known ones.

The registry mirror (``stations``, ``variables``) is small, so it is read per request: a station added
by a worker restart is visible at once, and an unknown id is refused before the big query runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from schemas.datums import DatumHistory, levellings_document, parse_levellings
from schemas.vocabulary import decimals_of
from services.api.db import Database
from services.api.errors import ApiError, NotFound
from services.api.params import format_time
from services.api.sql import CATALOGUE_SQL, VARIABLES_SQL
from services.api.tables import Chunk, Column


@dataclass(frozen=True, slots=True)
class Catalogue:
    variables_of: dict[str, tuple[str, ...]]  # station id → the variables it measures
    units: dict[str, str]  # variable id → unit
    datums: dict[str, DatumHistory]  # station id → its levelling history (schemas/datums.py)
    decimals: dict[str, int]  # variable id → decimal places of its resolution (aggregates are rounded)


def _history(station: str, levellings: Any) -> DatumHistory:
    return parse_levellings(levellings, lambda reason: ValueError(f"stations {station!r}: {reason}"))


async def load_catalogue(db: Database) -> Catalogue:
    stations = await db.fetch(CATALOGUE_SQL)
    variables = await db.fetch(VARIABLES_SQL)
    return Catalogue(
        {r["id"]: tuple(r["variables"]) for r in stations},
        {r["id"]: r["unit"] for r in variables},
        {r["id"]: _history(r["id"], r["datum_levellings"]) for r in stations},
        {r["id"]: decimals_of(r["resolution"]) for r in variables if r["resolution"] is not None},
    )


def _quoted(ids: Sequence[str]) -> str:
    return ", ".join(repr(i) for i in ids)


def resolve_stations(
    catalogue: Catalogue, requested: Sequence[str], *, in_path: bool = False
) -> list[str] | None:
    """Requested ids, all known; None when none was asked (every station). An unknown id in the path
    (``/stations/{id}``) is 404; in the ``station`` filter it is a 400 naming the parameter."""
    if not requested:
        return None
    unknown = [s for s in requested if s not in catalogue.variables_of]
    if unknown:
        message = f"unknown station {_quoted(unknown)}; GET /api/v1/stations lists the stations"
        raise NotFound(message) if in_path else ApiError(f"station: {message}")
    return list(requested)


def resolve_variables(
    catalogue: Catalogue, stations: Sequence[str] | None, requested: Sequence[str]
) -> list[str] | None:
    """Requested variable ids, each in the vocabulary and measured by at least one chosen station."""
    if not requested:
        return None
    unknown = [v for v in requested if v not in catalogue.units]
    if unknown:
        raise ApiError(
            f"variable: unknown variable {_quoted(unknown)}; GET /api/v1/variables lists the vocabulary"
        )
    chosen = stations if stations is not None else list(catalogue.variables_of)
    measured = {v for s in chosen for v in catalogue.variables_of[s]}
    unmeasured = [v for v in requested if v not in measured]
    if unmeasured:
        raise ApiError(f"variable: no chosen station measures {_quoted(unmeasured)}")
    return list(requested)


def _time(us: int | None) -> str | None:
    return None if us is None else format_time(us)


def station_documents(rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Rows of STATIONS_SQL (one per station and variable) → one document per station."""
    documents: dict[str, dict[str, Any]] = {}
    for r in rows:
        doc = documents.get(r["id"])
        if doc is None:
            history = _history(r["id"], r["datum_levellings"])
            doc = documents[r["id"]] = {
                "id": r["id"],
                "name": r["name"],
                "name_zh": r["name_zh"],
                "kind": r["kind"],
                "network": r["network"],
                "area": r["area"],
                "position": {"latitude": r["latitude"], "longitude": r["longitude"], "crs": "WGS84"},
                "datum": {
                    "name": r["datum_name"],
                    "msl_above_datum_m": r["msl_above_datum_m"],
                    "datums": list(history.datums()),  # what datum= converts this station's levels to
                    "levellings": levellings_document(history),
                },
                "sampling_interval_s": r["sampling_interval_s"],
                "thresholds": r["thresholds"],
                "first_reading": None,
                "last_reading": None,
                "variables": [],
                "updated_at": _time(r["updated_at"]),
            }
        first, last = r["first_time"], r["last_time"]
        doc["variables"].append(
            {
                "id": r["variable"],
                "unit": r["unit"],
                "description": r["description"],
                "cf_name": r["cf_name"],
                "first_reading": _time(first),
                "last_reading": _time(last),
            }
        )
        if first is not None:
            # ISO 8601 UTC strings of one format sort as the times do.
            doc["first_reading"] = min(filter(None, (doc["first_reading"], _time(first))))
            doc["last_reading"] = max(filter(None, (doc["last_reading"], _time(last))))
    return list(documents.values())


def geojson(documents: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """RFC 7946 FeatureCollection: one Point per station, [longitude, latitude]."""
    features = []
    for doc in documents:
        position = doc["position"]
        properties = {k: v for k, v in doc.items() if k != "position"}
        features.append(
            {
                "type": "Feature",
                "id": doc["id"],
                "geometry": {"type": "Point", "coordinates": [position["longitude"], position["latitude"]]},
                "properties": properties,
            }
        )
    return {"type": "FeatureCollection", "features": features}


STATION_TABLE_COLUMNS = (
    Column("station_id", "text"),
    Column("name", "text"),
    Column("kind", "text"),
    Column("latitude", "float"),
    Column("longitude", "float"),
    Column("datum_name", "text"),
    Column("msl_above_datum_m", "float"),
    Column("sampling_interval_s", "float"),
    Column("variable", "text"),
    Column("unit", "text"),
    Column("first_reading", "time"),
    Column("last_reading", "time"),
)
_STATION_TABLE_SOURCES = (
    "id",
    "name",
    "kind",
    "latitude",
    "longitude",
    "datum_name",
    "msl_above_datum_m",
    "sampling_interval_s",
    "variable",
    "unit",
    "first_time",
    "last_time",
)


def station_table(rows: Sequence[Any]) -> Chunk:
    """One row per station and variable, for CSV and Parquet."""
    return Chunk(STATION_TABLE_COLUMNS, [[r[name] for r in rows] for name in _STATION_TABLE_SOURCES])
