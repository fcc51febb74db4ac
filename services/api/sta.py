"""OGC SensorThings API v1.1, read only, under ``/sta/v1.1``: the same tables as ``/api/v1``.

Resource paths: ``/{Collection}``, ``/{Collection}('id')``, navigation (``/Datastreams('dalian:
water_level_m')/Observations``, ``/Things('dalian')/Datastreams``) and one property
(``/Things('dalian')/name``). Query options ``$filter $orderby $top $skip $count $expand $select`` (see
``sta_query`` for the filter subset); pages carry ``@iot.nextLink``. Errors keep the API's shape.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any, TypeAlias

from fastapi import APIRouter, Query, Request, Response

from services.api.db import Database
from services.api.errors import ApiError, NotFound
from services.api.respond import json_response
from services.api.sql import STATIONS_SQL, VARIABLES_SQL
from services.api.sta_model import (
    COLLECTIONS,
    NAVIGATION,
    Model,
    build_model,
    datastream_id,
    observation_document,
    split_datastream_id,
    split_observation_id,
)
from services.api.sta_observations import Scope, count_sql, observations_sql
from services.api.sta_query import Options, evaluate, parse_options

PREFIX = "/sta/v1.1"
router = APIRouter(prefix=PREFIX, tags=["SensorThings API v1.1"])
CONFORMANCE = [
    "http://www.opengis.net/spec/iot_sensing/1.1/req/datamodel",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/resource-path/resource-path-to-entities",
    "http://www.opengis.net/spec/iot_sensing/1.1/req/request-data",
]
_SEGMENT = re.compile(r"^([A-Za-z@.$]+)(?:\((.*)\))?$")

# The system query options as FastAPI reads them (aliases: a Python name cannot start with $).
Top: TypeAlias = Annotated[
    str | None, Query(alias="$top", description="entities per page (default 100, at most 10,000)")
]
Skip: TypeAlias = Annotated[str | None, Query(alias="$skip", description="entities to skip")]
Count: TypeAlias = Annotated[
    str | None, Query(alias="$count", description="true: add @iot.count, the number of matching entities")
]
Filter: TypeAlias = Annotated[
    str | None,
    Query(
        alias="$filter",
        description="OData filter subset: eq ne gt ge lt le, and or not, startswith … (README)",
    ),
]
OrderBy: TypeAlias = Annotated[
    str | None, Query(alias="$orderby", description="property [asc|desc], comma-separated")
]
Select: TypeAlias = Annotated[
    str | None, Query(alias="$select", description="properties to return, comma-separated")
]
Expand: TypeAlias = Annotated[
    str | None,
    Query(alias="$expand", description="navigation properties to embed, with options: Datastreams($top=1)"),
]


def _db(request: Request) -> Database:
    return request.app.state.db


def _quote(entity_id: str) -> str:
    return "'" + entity_id.replace("'", "''") + "'"


def _parse_id(text: str) -> str:
    text = text.strip()
    if len(text) >= 2 and text[0] == text[-1] == "'":
        return text[1:-1].replace("''", "'")
    if re.fullmatch(r"-?\d+", text):
        return text
    raise NotFound(f"not an entity id: {text!r}; string ids are quoted: Things('dalian')")


@dataclass
class Target:
    """What a resource path names: a collection (``ids`` None: all of it) or one entity."""

    collection: str
    ids: list[str] | None
    single: bool
    scope: Scope | None = None  # Observations: which readings
    prop: str | None = None  # a property of the single entity


class Reader:
    """Answers one request: the catalogue model once, Observations by SQL."""

    def __init__(self, request: Request, model: Model) -> None:
        self.db = _db(request)
        self.model = model
        self.base = str(request.base_url).rstrip("/") + PREFIX

    # -- paths ------------------------------------------------------------------------------------

    def resolve(self, path: str) -> Target:
        segments = [s for s in path.split("/") if s]
        head = _SEGMENT.match(segments[0]) if segments else None
        if not head or head.group(1) not in COLLECTIONS:
            raise NotFound(f"no collection {segments[0] if segments else ''!r}; use {', '.join(COLLECTIONS)}")
        collection = head.group(1)
        target = Target(collection, None, False, Scope() if collection == "Observations" else None)
        if head.group(2) is not None:
            target = self._entity(collection, _parse_id(head.group(2)))
        for segment in segments[1:]:
            match = _SEGMENT.match(segment)
            if not target.single or not match:
                raise NotFound(f"{segment!r} must follow a single entity such as Things('dalian')")
            name = match.group(1)
            if target.prop is not None:
                raise NotFound(f"nothing below the property {target.prop!r}")
            entity_id = target.ids[0]  # type: ignore[index]
            if name in NAVIGATION[target.collection]:
                target = self._navigate(target.collection, entity_id, name)
                if match.group(2) is not None:
                    wanted = _parse_id(match.group(2))
                    if target.collection == "Observations":
                        target = self._entity("Observations", wanted)
                    elif wanted not in (target.ids or []):
                        raise NotFound(f"{name}({_quote(wanted)}) is not linked to {entity_id!r}")
                    else:
                        target = Target(target.collection, [wanted], True)
            else:
                target = Target(target.collection, target.ids, True, target.scope, name)
        return target

    def _entity(self, collection: str, entity_id: str) -> Target:
        if collection == "Observations":
            station, variable, time_us = split_observation_id(entity_id)
            return Target(collection, [entity_id], True, Scope(station, variable, time_us))
        if entity_id not in self.model.entities[collection]:
            raise NotFound(f"no {collection}({_quote(entity_id)})")
        return Target(collection, [entity_id], True)

    def related(self, collection: str, entity_id: str, navigation: str) -> list[str]:
        if collection == "Observations":
            station, variable, _time = split_observation_id(entity_id)
            return [datastream_id(station, variable) if navigation == "Datastream" else station]
        return self.model.related(collection, entity_id, navigation)

    def _navigate(self, collection: str, entity_id: str, navigation: str) -> Target:
        target, single = NAVIGATION[collection][navigation]
        if target == "Observations":
            if collection == "Datastreams":
                station, variable = split_datastream_id(entity_id)
                return Target(target, None, False, Scope(station, variable))
            return Target(target, None, False, Scope(station=entity_id))  # a FeatureOfInterest
        ids = self.related(collection, entity_id, navigation)
        if single:
            if not ids:
                raise NotFound(f"{collection}({_quote(entity_id)}) has no {navigation}")
            return Target(target, ids[:1], True)
        return Target(target, ids, False)

    # -- documents --------------------------------------------------------------------------------

    def self_link(self, collection: str, entity_id: str) -> str:
        return f"{self.base}/{collection}({_quote(entity_id)})"

    def _linked(self, collection: str, document: dict[str, Any]) -> dict[str, Any]:
        link = self.self_link(collection, document["@iot.id"])
        out = {"@iot.id": document["@iot.id"], "@iot.selfLink": link}
        out.update({k: v for k, v in document.items() if k != "@iot.id"})
        for navigation in NAVIGATION[collection]:
            out[f"{navigation}@iot.navigationLink"] = f"{link}/{navigation}"
        return out

    def resolver(self, collection: str, document: dict[str, Any]) -> Any:
        """Property paths of one entity for $filter and $orderby, following single navigation links."""

        def resolve(segments: tuple[str, ...]) -> Any:
            value: Any = document
            current = collection
            for i, segment in enumerate(segments):
                nav = NAVIGATION.get(current, {}).get(segment)
                if nav is not None:
                    target, single = nav
                    if not single or target == "Observations":
                        raise ApiError(f"$filter: {'/'.join(segments)!r} crosses a collection; filter on "
                                       "single-valued links such as Thing/name")  # fmt: skip
                    ids = self.related(current, value["@iot.id"], segment)
                    if not ids:
                        return None
                    value, current = self.model.entities[target][ids[0]], target
                    continue
                if not isinstance(value, dict) or segment not in value:
                    if i == 0 and current in self.model.entities and segment not in _known(current):
                        raise ApiError(f"$filter: {current} have no property {segment!r}")
                    return None
                value = value[segment]
            return value

        return resolve

    async def render(self, collection: str, document: dict[str, Any], options: Options) -> dict[str, Any]:
        out = self._linked(collection, document)
        for item in options.expand:
            if item.name not in NAVIGATION[collection]:
                known = ", ".join(NAVIGATION[collection])
                message = f"$expand: {collection} have no navigation property {item.name!r}; use {known}"
                raise ApiError(message)
            target, single = NAVIGATION[collection][item.name]
            if target == "Observations":
                listing = await self.observations(
                    self._navigate(collection, document["@iot.id"], item.name).scope or Scope(), item.options
                )
            elif single:
                ids = self.related(collection, document["@iot.id"], item.name)
                if ids:
                    entity = self.model.entities[target][ids[0]]
                    out[item.name] = await self.render(target, entity, item.options)
                continue
            else:
                ids = self.related(collection, document["@iot.id"], item.name)
                listing = await self.listing(target, ids, item.options)
            out[item.name] = listing["value"]
            if "@iot.count" in listing:
                out[f"{item.name}@iot.count"] = listing["@iot.count"]
        return _select(out, options)

    async def listing(self, collection: str, ids: list[str] | None, options: Options) -> dict[str, Any]:
        """A page of catalogue entities: filtered, sorted, skipped and cut in Python."""
        entities = self.model.entities[collection]
        documents = [entities[i] for i in (ids if ids is not None else list(entities)) if i in entities]
        if options.filter is not None:
            tree = options.filter
            documents = [d for d in documents if evaluate(tree, self.resolver(collection, d)) is True]
        for order in reversed(options.orderby or ()):
            key = lambda d, o=order: _sort_key(self.resolver(collection, d)(o.path))  # noqa: E731
            documents.sort(key=key, reverse=order.descending)
        if not options.orderby:
            documents.sort(key=lambda d: d["@iot.id"])
        page = documents[options.skip : options.skip + options.top]
        out: dict[str, Any] = {}
        if options.count:
            out["@iot.count"] = len(documents)
        out["value"] = [await self.render(collection, d, options) for d in page]
        out["more"] = len(documents) > options.skip + options.top
        return out

    async def observations(self, scope: Scope, options: Options) -> dict[str, Any]:
        sql, args = observations_sql(scope, options)
        rows = await self.db.fetch(sql, args)
        out: dict[str, Any] = {}
        if options.count:
            sql, args = count_sql(scope, options)
            out["@iot.count"] = (await self.db.fetch(sql, args))[0][0]
        documents = [observation_document(r) for r in rows[: options.top]]
        out["value"] = [await self.render("Observations", d, options) for d in documents]
        out["more"] = len(rows) > options.top
        return out


def _known(collection: str) -> set[str]:
    return {
        "Things": {"@iot.id", "name", "description", "properties"},
        "Locations": {"@iot.id", "name", "description", "encodingType", "location"},
        "FeaturesOfInterest": {"@iot.id", "name", "description", "encodingType", "feature"},
        "Sensors": {"@iot.id", "name", "description", "encodingType", "metadata"},
        "ObservedProperties": {"@iot.id", "name", "definition", "description", "properties"},
        "Datastreams": {
            "@iot.id", "name", "description", "unitOfMeasurement", "observationType", "observedArea",
            "phenomenonTime", "resultTime", "properties",
        },
    }[collection]  # fmt: skip


def _sort_key(value: Any) -> tuple:
    """Nulls first, numbers before text, so any mix sorts without raising."""
    if value is None:
        return (0, 0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value, "")
    return (2, 0, str(value))


def _select(document: dict[str, Any], options: Options) -> dict[str, Any]:
    if not options.select:
        return document
    keep = set(options.select) | {e.name for e in options.expand}
    keep |= {f"{e.name}@iot.count" for e in options.expand}
    return {k: v for k, v in document.items() if k in keep}


async def _model(db: Database) -> Model:
    return build_model(await db.fetch(STATIONS_SQL, [None, None]), await db.fetch(VARIABLES_SQL))


@router.get("", summary="SensorThings service root: the collections and conformance classes")
async def service_root(request: Request) -> Response:
    base = str(request.base_url).rstrip("/") + PREFIX
    return json_response(
        {
            "value": [{"name": c, "url": f"{base}/{c}"} for c in COLLECTIONS],
            "serverSettings": {"conformance": CONFORMANCE},
        }
    )


@router.get("/{resource:path}", summary="SensorThings collections, entities and navigation (read only)")
async def resource(
    request: Request,
    resource: str,
    top: Top = None,
    skip: Skip = None,
    count: Count = None,
    filter_: Filter = None,
    orderby: OrderBy = None,
    select: Select = None,
    expand: Expand = None,
) -> Response:
    if not resource.strip("/"):
        return await service_root(request)
    named = {"$top": top, "$skip": skip, "$count": count, "$filter": filter_, "$orderby": orderby}
    named |= {"$select": select, "$expand": expand}
    options = parse_options({k: v for k, v in named.items() if v is not None})
    reader = Reader(request, await _model(_db(request)))
    target = reader.resolve(resource)
    if target.single:
        assert target.ids is not None
        if target.collection == "Observations":
            assert target.scope is not None
            one = Options(expand=options.expand, select=options.select)
            found = await reader.observations(target.scope, one)
            if not found["value"]:
                raise NotFound(f"no Observations({_quote(target.ids[0])})")
            document = found["value"][0]
        else:
            raw = reader.model.entities[target.collection][target.ids[0]]
            document = await reader.render(target.collection, raw, options)
        if target.prop is not None:
            if target.prop not in document:
                raise NotFound(f"{target.collection} have no property {target.prop!r}")
            return json_response({target.prop: document[target.prop]})
        return json_response(document)
    if target.collection == "Observations":
        listing = await reader.observations(target.scope or Scope(), options)
    else:
        listing = await reader.listing(target.collection, target.ids, options)
    body: dict[str, Any] = {}
    if "@iot.count" in listing:
        body["@iot.count"] = listing["@iot.count"]
    body["value"] = listing["value"]
    if listing["more"]:
        body["@iot.nextLink"] = str(
            request.url.include_query_params(**{"$top": options.top, "$skip": options.skip + options.top})
        )
    return json_response(body)
