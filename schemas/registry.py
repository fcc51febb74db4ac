"""The station registry: which stations exist, what they measure and their own thresholds.

Loaded once at start-up and validated as a whole, so a typo in the YAML stops the service with a
message naming the station and field instead of refusing that station's readings at 3 a.m.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from schemas.datums import DatumHistory, parse_levellings
from schemas.documents import Problem, convert, read_yaml
from schemas.vocabulary import Variable, load_vocabulary

STATION_KINDS = ("tide_gauge", "buoy", "wetland", "seagrass")


class RegistryError(ValueError):
    """The registry file is invalid; the message names the station and field."""


@dataclass(frozen=True, slots=True)
class Datum:
    name: str
    msl_above_datum_m: float
    history: DatumHistory = field(default_factory=DatumHistory)  # zero above other datums (schemas/datums.py)


@dataclass(frozen=True, slots=True)
class InferenceRatio:
    """``constituent`` tied to ``reference`` in a tide fit: amplitude ratio and phase offset (reference's
    Greenwich phase minus the constituent's, deg), utide's ``infer`` convention."""

    constituent: str
    reference: str
    amplitude_ratio: float
    phase_offset_deg: float = 0.0


@dataclass(frozen=True, slots=True)
class TideInference:
    """How a tide gauge's fits on records too short to separate P1 from K1 and K2 from S2 (~6 months)
    tie them: ratios given here (published constants, the equilibrium tide), or those of another gauge's
    current model, which must resolve both constituents of a pair itself."""

    reference_station: str | None = None
    ratios: tuple[InferenceRatio, ...] = ()


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
    tide_inference: TideInference | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    network: str
    stations: Mapping[str, Station]
    variables: Mapping[str, Variable]

    def __len__(self) -> int:
        return len(self.stations)

    def get(self, station_id: str) -> Station | None:
        return self.stations.get(station_id)


class _DatumSpec(msgspec.Struct):
    name: str
    msl_above_datum_m: float
    levellings: list[Any] | None = None


class _RatioSpec(msgspec.Struct, forbid_unknown_fields=True):
    constituent: str
    reference: str
    amplitude_ratio: float
    phase_offset_deg: float = 0.0


class _InferenceSpec(msgspec.Struct, forbid_unknown_fields=True):
    reference_station: str | None = None
    ratios: list[_RatioSpec] | None = None


class _StationSpec(msgspec.Struct):
    """A station as written in the registry file (unknown fields are ignored)."""

    id: str
    name: str
    kind: str
    latitude: float
    longitude: float
    datum: _DatumSpec
    sampling_interval_s: float
    variables: list[str]
    name_zh: str = ""
    network: str | None = None
    area: str = ""
    thresholds: dict[str, Any] | None = None
    qc: dict[str, Any] | None = None
    tide_inference: _InferenceSpec | None = None


class _RegistrySpec(msgspec.Struct):
    stations: list[Any]
    network: str = "default"


def _station_error(where: str) -> Callable[[Problem], RegistryError]:
    return lambda p: RegistryError(f"{where}{' ' + p.parent if p.parent else ''}: {p.describe()}")


def _station(spec: Any, index: int, network: str, vocabulary: Mapping[str, Variable]) -> Station:
    if not isinstance(spec, Mapping):
        raise RegistryError(f"stations[{index}]: expected a mapping, got {spec!r}")
    given_id = spec.get("id")
    where = f"station {given_id!r}" if isinstance(given_id, str) else f"stations[{index}]"
    station = convert(spec, _StationSpec, _station_error(where))
    if station.kind not in STATION_KINDS:
        raise RegistryError(
            f"{where}: field 'kind' must be one of {', '.join(STATION_KINDS)}, got {station.kind!r}"
        )
    if not -90 <= station.latitude <= 90 or not -180 <= station.longitude <= 180:
        raise RegistryError(
            f"{where}: position ({station.latitude}, {station.longitude}) is not a WGS84 coordinate"
        )
    if station.sampling_interval_s <= 0:
        raise RegistryError(
            f"{where}: field 'sampling_interval_s' must be positive, got {station.sampling_interval_s}"
        )
    unknown = [v for v in station.variables if v not in vocabulary]
    if unknown:
        raise RegistryError(f"{where}: field 'variables' names unknown variables {unknown}")
    return Station(
        id=station.id,
        name=station.name,
        name_zh=station.name_zh,
        kind=station.kind,
        network=station.network or network,
        area=station.area,
        latitude=station.latitude,
        longitude=station.longitude,
        datum=Datum(
            station.datum.name,
            station.datum.msl_above_datum_m,
            parse_levellings(station.datum.levellings, lambda why: RegistryError(f"{where} datum {why}")),
        ),
        sampling_interval_s=station.sampling_interval_s,
        variables=frozenset(station.variables),
        thresholds=station.thresholds or {},
        qc=station.qc or {},
        tide_inference=_inference(station, where),
    )


def _inference(station: _StationSpec, where: str) -> TideInference | None:
    spec = station.tide_inference
    if spec is None:
        return None
    if station.kind != "tide_gauge":
        raise RegistryError(f"{where}: field 'tide_inference' is for tide gauges, not a {station.kind}")
    if (spec.reference_station is None) == (spec.ratios is None):
        raise RegistryError(f"{where}: field 'tide_inference' takes either 'reference_station' or 'ratios'")
    ratios = []
    for index, ratio in enumerate(spec.ratios or []):
        at = f"{where} tide_inference.ratios[{index}]"
        names = (ratio.constituent, ratio.reference)
        if not all(n.isalnum() and n.upper() == n for n in names) or names[0] == names[1]:
            raise RegistryError(f"{at}: 'constituent' and 'reference' must be two constituent names (P1, K1)")
        if not 0 < ratio.amplitude_ratio < 10 or not -360 <= ratio.phase_offset_deg <= 360:
            raise RegistryError(
                f"{at}: 'amplitude_ratio' must be in (0, 10), 'phase_offset_deg' in [-360, 360]"
            )
        ratios.append(InferenceRatio(*names, ratio.amplitude_ratio, ratio.phase_offset_deg))
    return TideInference(spec.reference_station, tuple(ratios))


def parse_registry(document: Any, vocabulary: Mapping[str, Variable] | None = None) -> Registry:
    vocabulary = vocabulary if vocabulary is not None else load_vocabulary()
    if not isinstance(document, Mapping):
        raise RegistryError("registry: expected a mapping with 'network' and 'stations'")
    spec = convert(document, _RegistrySpec, lambda p: RegistryError(f"registry: {p.describe()}"))
    if not spec.stations:
        raise RegistryError("registry: 'stations' must be a non-empty list")
    stations: dict[str, Station] = {}
    for index, station_spec in enumerate(spec.stations):
        station = _station(station_spec, index, spec.network, vocabulary)
        if station.id in stations:
            raise RegistryError(f"station {station.id!r}: listed twice")
        stations[station.id] = station
    for station in stations.values():
        reference = station.tide_inference and station.tide_inference.reference_station
        if reference and (
            reference == station.id or getattr(stations.get(reference), "kind", None) != "tide_gauge"
        ):
            raise RegistryError(
                f"station {station.id!r}: tide_inference.reference_station {reference!r} is not another "
                "tide gauge of the registry"
            )
    return Registry(network=spec.network, stations=stations, variables=vocabulary)


def default_registry_path() -> Path:
    return Path(str(resources.files("schemas").joinpath("stations.yaml")))


# Registries checked by this process, by file (resolved path, sha256 of its bytes).
_loaded: dict[tuple[str, str], Registry] = {}


def load_registry(path: str | os.PathLike[str] | None = None) -> Registry:
    """Load and validate a registry file (default: the packaged Liaoning sample network). A process checks
    a file once: asked again for the same file with the same bytes, it gets the same (frozen) registry."""
    path = Path(path) if path else default_registry_path()
    try:
        key = (str(path.resolve()), hashlib.sha256(path.read_bytes()).hexdigest())
    except OSError:
        key = None  # read_yaml says what is wrong with the path
    if key is not None and key in _loaded:
        return _loaded[key]
    registry = parse_registry(read_yaml(path, lambda reason: RegistryError(f"registry {path}: {reason}")))
    if key is not None:
        _loaded[key] = registry
    return registry
