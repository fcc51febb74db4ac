"""The station registry: which stations exist, what they measure and their own thresholds.

Loaded once at start-up and validated as a whole, so a typo in the YAML stops the service with a
message naming the station and field instead of refusing that station's readings at 3 a.m.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from schemas.vocabulary import Variable, load_vocabulary

STATION_KINDS = ("tide_gauge", "buoy", "wetland", "seagrass")


class RegistryError(ValueError):
    """The registry file is invalid; the message names the station and field."""


@dataclass(frozen=True, slots=True)
class Datum:
    name: str
    msl_above_datum_m: float


@dataclass(frozen=True, slots=True)
class Station:
    id: str
    name: str
    name_zh: str
    kind: str
    network: str
    area: str
    latitude: float
    longitude: float
    datum: Datum
    sampling_interval_s: float
    variables: frozenset[str]
    thresholds: Mapping[str, Any] = field(default_factory=dict)
    qc: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Registry:
    network: str
    stations: Mapping[str, Station]
    variables: Mapping[str, Variable]

    def __len__(self) -> int:
        return len(self.stations)

    def get(self, station_id: str) -> Station | None:
        return self.stations.get(station_id)


def _require(where: str, spec: Mapping[str, Any], key: str, kind: type | tuple[type, ...]) -> Any:
    if key not in spec:
        raise RegistryError(f"{where}: missing field {key!r}")
    value = spec[key]
    if isinstance(value, bool) or not isinstance(value, kind):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise RegistryError(f"{where}: field {key!r} must be {names}, got {value!r}")
    return value


def _station(spec: Any, index: int, network: str, vocabulary: Mapping[str, Variable]) -> Station:
    if not isinstance(spec, Mapping):
        raise RegistryError(f"stations[{index}]: expected a mapping, got {spec!r}")
    station_id = _require(f"stations[{index}]", spec, "id", str)
    where = f"station {station_id!r}"
    kind = _require(where, spec, "kind", str)
    if kind not in STATION_KINDS:
        raise RegistryError(f"{where}: field 'kind' must be one of {', '.join(STATION_KINDS)}, got {kind!r}")
    latitude = float(_require(where, spec, "latitude", (int, float)))
    longitude = float(_require(where, spec, "longitude", (int, float)))
    if not -90 <= latitude <= 90 or not -180 <= longitude <= 180:
        raise RegistryError(f"{where}: position ({latitude}, {longitude}) is not a WGS84 coordinate")
    datum_spec = _require(where, spec, "datum", Mapping)
    datum = Datum(
        name=_require(f"{where} datum", datum_spec, "name", str),
        msl_above_datum_m=float(_require(f"{where} datum", datum_spec, "msl_above_datum_m", (int, float))),
    )
    interval = float(_require(where, spec, "sampling_interval_s", (int, float)))
    if interval <= 0:
        raise RegistryError(f"{where}: field 'sampling_interval_s' must be positive, got {interval}")
    variables = _require(where, spec, "variables", list)
    unknown = [v for v in variables if v not in vocabulary]
    if unknown:
        raise RegistryError(f"{where}: field 'variables' names unknown variables {unknown}")
    thresholds = spec.get("thresholds") or {}
    if not isinstance(thresholds, Mapping):
        raise RegistryError(f"{where}: field 'thresholds' must be a mapping")
    qc = spec.get("qc") or {}
    if not isinstance(qc, Mapping):
        raise RegistryError(f"{where}: field 'qc' must be a mapping")
    return Station(
        id=station_id,
        name=_require(where, spec, "name", str),
        name_zh=str(spec.get("name_zh", "")),
        kind=kind,
        network=str(spec.get("network", network)),
        area=str(spec.get("area", "")),
        latitude=latitude,
        longitude=longitude,
        datum=datum,
        sampling_interval_s=interval,
        variables=frozenset(variables),
        thresholds=thresholds,
        qc=qc,
    )


def parse_registry(document: Any, vocabulary: Mapping[str, Variable] | None = None) -> Registry:
    vocabulary = vocabulary if vocabulary is not None else load_vocabulary()
    if not isinstance(document, Mapping):
        raise RegistryError("registry: expected a mapping with 'network' and 'stations'")
    network = str(document.get("network", "default"))
    specs = document.get("stations")
    if not isinstance(specs, list) or not specs:
        raise RegistryError("registry: 'stations' must be a non-empty list")
    stations: dict[str, Station] = {}
    for index, spec in enumerate(specs):
        station = _station(spec, index, network, vocabulary)
        if station.id in stations:
            raise RegistryError(f"station {station.id!r}: listed twice")
        stations[station.id] = station
    return Registry(network=network, stations=stations, variables=vocabulary)


def default_registry_path() -> Path:
    return Path(str(resources.files("schemas").joinpath("stations.yaml")))


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Load and validate a registry file (default: the packaged Liaoning sample network)."""
    path = Path(path) if path else default_registry_path()
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistryError(f"registry {path}: {exc}") from exc
    return parse_registry(document)
