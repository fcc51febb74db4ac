"""QC configuration as data: per variable defaults, per station overrides, validated at start-up.

``schemas/qc.yaml`` sits beside the station registry. Each series (station, variable) gets its test
parameters by merging, key by key, ``common`` → ``defaults[variable]`` → ``stations[station][variable]``
→ the registry station's own ``qc`` mapping; a test set to ``null`` is switched off for that series.
A missing gross-range fail span is the vocabulary's physical range. Parameter names are those of
``ioos_qc.qartod``; every problem is reported with the station, variable and field it is in, so a
typo stops the service at start-up instead of silently flagging readings wrongly for months.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from schemas.documents import Problem, convert, read_yaml
from schemas.registry import Registry, Station

T = TypeVar("T", bound=msgspec.Struct)

POSITION_VARIABLES = ("latitude_deg", "longitude_deg")
# Keys of one block that replace each other when a more specific layer gives one of them.
_ALTERNATIVES = {"gap": ({"fail_span_s", "fail_intervals"},)}
DEFAULT_LATE_HORIZON_S = 6 * 3600.0


class QcConfigError(ValueError):
    """The QC configuration is invalid; the message names the station, variable and field."""


Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class GapTest:
    fail_span_s: int


@dataclass(frozen=True, slots=True)
class GrossRangeTest:
    fail_span: Span
    suspect_span: Span | None = None


@dataclass(frozen=True, slots=True)
class ClimatologyTest:
    """Expected (suspect) span per calendar month (UTC), January first; None = no climatology then."""

    monthly: tuple[Span | None, ...]
    fail_span: Span | None = None


@dataclass(frozen=True, slots=True)
class SpikeTest:
    suspect_threshold: float
    fail_threshold: float
    method: str = "average"


@dataclass(frozen=True, slots=True)
class RateOfChangeTest:
    threshold: float
    fail_threshold: float | None = None


@dataclass(frozen=True, slots=True)
class FlatLineTest:
    """Thresholds in seconds; the counts are what ioos_qc derives from them and the sampling interval."""

    suspect_threshold: int
    fail_threshold: int
    tolerance: float
    suspect_count: int
    fail_count: int


@dataclass(frozen=True, slots=True)
class AttenuatedSignalTest:
    suspect_threshold: float
    fail_threshold: float
    test_period: int
    min_obs: int | None = None
    check_type: str = "std"


@dataclass(frozen=True, slots=True)
class LocationTest:
    """Position of a drifting platform: plausible box, and distance from the registered position."""

    station_latitude: float
    station_longitude: float
    bbox: tuple[float, float, float, float] | None = None
    suspect_distance_km: float | None = None
    fail_distance_km: float | None = None


@dataclass(frozen=True, slots=True)
class SeriesConfig:
    station: str
    variable: str
    sampling_interval_s: float
    gap: GapTest | None = None
    gross_range: GrossRangeTest | None = None
    climatology: ClimatologyTest | None = None
    spike: SpikeTest | None = None
    rate_of_change: RateOfChangeTest | None = None
    flat_line: FlatLineTest | None = None
    attenuated_signal: AttenuatedSignalTest | None = None
    location: LocationTest | None = None
    # How many earlier samples, and how far back in time, a reading's flags depend on.
    back_samples: int = field(init=False)
    back_us: int = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "back_samples", max(1, self.flat_line.fail_count if self.flat_line else 0))
        period = self.attenuated_signal.test_period if self.attenuated_signal else 0
        object.__setattr__(self, "back_us", period * 1_000_000)


@dataclass(frozen=True, slots=True)
class QcConfig:
    series: Mapping[tuple[str, str], SeriesConfig]
    late_horizon_s: float = DEFAULT_LATE_HORIZON_S
    stations: Mapping[str, Station] = field(default_factory=dict)

    def get(self, station: str, variable: str) -> SeriesConfig | None:
        return self.series.get((station, variable))


# ---------------------------------------------------------------- the file's shape


class _GapSpec(msgspec.Struct, forbid_unknown_fields=True):
    fail_span_s: float | None = None
    fail_intervals: float | None = None


class _GrossRangeSpec(msgspec.Struct, forbid_unknown_fields=True):
    fail_span: list[float] | None = None
    suspect_span: list[float] | None = None


class _ClimatologySpec(msgspec.Struct, forbid_unknown_fields=True):
    monthly: list[list[float] | None]
    fail_span: list[float] | None = None


class _SpikeSpec(msgspec.Struct, forbid_unknown_fields=True):
    suspect_threshold: float
    fail_threshold: float
    method: str = "average"


class _RateOfChangeSpec(msgspec.Struct, forbid_unknown_fields=True):
    threshold: float
    fail_threshold: float | None = None


class _FlatLineSpec(msgspec.Struct, forbid_unknown_fields=True):
    suspect_threshold: float
    fail_threshold: float
    tolerance: float


class _AttenuatedSignalSpec(msgspec.Struct, forbid_unknown_fields=True):
    suspect_threshold: float
    fail_threshold: float
    test_period: float | None = None
    min_obs: float | None = None
    check_type: str = "std"


class _LocationSpec(msgspec.Struct, forbid_unknown_fields=True):
    bbox: list[float] | None = None
    suspect_distance_km: float | None = None
    fail_distance_km: float | None = None


_Block = dict[str, Any] | None


class _VariableLayerSpec(msgspec.Struct, forbid_unknown_fields=True):
    """One layer's tests for a variable; kept as mappings, since layers merge key by key."""

    gap: _Block = None
    gross_range: _Block = None
    climatology: _Block = None
    spike: _Block = None
    rate_of_change: _Block = None
    flat_line: _Block = None
    attenuated_signal: _Block = None


class _QcDocument(msgspec.Struct, forbid_unknown_fields=True):
    version: Any = None
    late_horizon_s: float | None = None
    common: _Block = None
    defaults: dict[str, Any] | None = None
    location: _Block = None
    stations: dict[str, Any] | None = None


def _shape(where: str, block: Any, into: type[T]) -> T:
    """``block`` as an ``into``; a wrong shape names the field under ``where``."""

    def error(problem: Problem) -> QcConfigError:
        if problem.kind == "unknown":
            allowed = sorted(f.encode_name for f in msgspec.structs.fields(into))
            return QcConfigError(f"{where}: unknown field(s) [{problem.name!r}]; allowed: {allowed}")
        words = "a finite number" if "float" in problem.expected else f"a {problem.must_be}"
        return QcConfigError(f"{problem.within(where)} must be {words}, got {problem.value!r}")

    return convert(block, into, error)


# ---------------------------------------------------------------- field checks


def _number(where: str, key: str, value: float, *, positive: bool = False) -> float:
    if not math.isfinite(value):
        raise QcConfigError(f"{where}.{key} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise QcConfigError(f"{where}.{key} must be > 0, got {value!r}")
    return float(value)


def _optional_number(where: str, key: str, value: float | None, *, positive: bool = False) -> float | None:
    return None if value is None else _number(where, key, value, positive=positive)


def _seconds(where: str, key: str, value: float) -> int:
    value = _number(where, key, value, positive=True)
    if value != int(value):
        raise QcConfigError(f"{where}.{key} must be a whole number of seconds, got {value!r}")
    return int(value)


def _span(where: str, value: list[float]) -> Span:
    if len(value) != 2 or not all(math.isfinite(v) for v in value) or value[0] >= value[1]:
        raise QcConfigError(f"{where} must be [low, high] with low < high, got {value!r}")
    return float(value[0]), float(value[1])


def _choice(where: str, key: str, value: str, choices: tuple[str, ...]) -> str:
    if value not in choices:
        raise QcConfigError(f"{where}.{key} must be one of {list(choices)}, got {value!r}")
    return value


# ---------------------------------------------------------------- one block per test


def _gap(where: str, block: Mapping[str, Any], station: Station) -> GapTest:
    gap = _shape(where, block, _GapSpec)
    if gap.fail_span_s is not None:
        return GapTest(_seconds(where, "fail_span_s", gap.fail_span_s))
    if gap.fail_intervals is None:
        raise QcConfigError(f"{where}.fail_intervals must be a finite number, got None")
    intervals = _number(where, "fail_intervals", gap.fail_intervals, positive=True)
    return GapTest(round(intervals * station.sampling_interval_s))


def _gross_range(where: str, block: Mapping[str, Any], physical: Span) -> GrossRangeTest:
    spans = _shape(where, block, _GrossRangeSpec)
    fail = _span(f"{where}.fail_span", spans.fail_span) if spans.fail_span is not None else physical
    suspect = None
    if spans.suspect_span is not None:
        suspect = _span(f"{where}.suspect_span", spans.suspect_span)
        if suspect[0] < fail[0] or suspect[1] > fail[1]:
            raise QcConfigError(
                f"{where}.suspect_span {list(suspect)} must lie within fail_span {list(fail)}"
            )
    return GrossRangeTest(fail, suspect)


def _climatology(where: str, block: Mapping[str, Any]) -> ClimatologyTest:
    if not isinstance(block.get("monthly"), list) or len(block["monthly"]) != 12:
        raise QcConfigError(f"{where}.monthly must list 12 monthly [low, high] ranges (null for none)")
    climatology = _shape(where, block, _ClimatologySpec)
    spans = tuple(
        None if m is None else _span(f"{where}.monthly[{i}]", m) for i, m in enumerate(climatology.monthly)
    )
    fail = None if climatology.fail_span is None else _span(f"{where}.fail_span", climatology.fail_span)
    return ClimatologyTest(spans, fail)


def _spike(where: str, block: Mapping[str, Any]) -> SpikeTest:
    spike = _shape(where, block, _SpikeSpec)
    suspect = _number(where, "suspect_threshold", spike.suspect_threshold, positive=True)
    fail = _number(where, "fail_threshold", spike.fail_threshold, positive=True)
    if fail < suspect:
        raise QcConfigError(f"{where}.fail_threshold must be >= suspect_threshold")
    return SpikeTest(suspect, fail, _choice(where, "method", spike.method, ("average", "differential")))


def _rate_of_change(where: str, block: Mapping[str, Any]) -> RateOfChangeTest:
    rate = _shape(where, block, _RateOfChangeSpec)
    threshold = _number(where, "threshold", rate.threshold, positive=True)
    fail = _optional_number(where, "fail_threshold", rate.fail_threshold, positive=True)
    if fail is not None and fail < threshold:
        raise QcConfigError(f"{where}.fail_threshold must be >= threshold")
    return RateOfChangeTest(threshold, fail)


def _flat_line(where: str, block: Mapping[str, Any], station: Station) -> FlatLineTest:
    flat = _shape(where, block, _FlatLineSpec)
    suspect = _seconds(where, "suspect_threshold", flat.suspect_threshold)
    fail = _seconds(where, "fail_threshold", flat.fail_threshold)
    if fail < suspect:
        raise QcConfigError(f"{where}.fail_threshold must be >= suspect_threshold")
    tolerance = _number(where, "tolerance", flat.tolerance)
    if tolerance < 0:
        raise QcConfigError(f"{where}.tolerance must be >= 0, got {tolerance}")
    # ioos_qc turns seconds into a sample count with the median sampling interval (whole seconds).
    interval = float(int(station.sampling_interval_s))
    suspect_count, fail_count = int(suspect / interval), int(fail / interval)
    if suspect_count < 1:
        raise QcConfigError(
            f"{where}.suspect_threshold must be >= the sampling interval ({interval:g} s), got {suspect}"
        )
    return FlatLineTest(suspect, fail, tolerance, suspect_count, fail_count)


def _attenuated_signal(where: str, block: Mapping[str, Any]) -> AttenuatedSignalTest:
    signal = _shape(where, block, _AttenuatedSignalSpec)
    suspect = _number(where, "suspect_threshold", signal.suspect_threshold, positive=True)
    fail = _number(where, "fail_threshold", signal.fail_threshold)
    if not 0 <= fail <= suspect:
        raise QcConfigError(f"{where}.fail_threshold must be between 0 and suspect_threshold")
    if signal.test_period is None:
        raise QcConfigError(
            f"{where}.test_period (s) is required: a whole-record test cannot run in a stream"
        )
    min_obs: int | None = None
    if signal.min_obs is not None:
        count = _number(where, "min_obs", signal.min_obs, positive=True)
        if count != int(count):
            raise QcConfigError(f"{where}.min_obs must be a whole number")
        min_obs = int(count)
    check_type = _choice(where, "check_type", signal.check_type, ("std", "range"))
    return AttenuatedSignalTest(
        suspect, fail, _seconds(where, "test_period", signal.test_period), min_obs, check_type
    )


def _location(where: str, block: Mapping[str, Any], station: Station) -> LocationTest:
    # The registry's watch circle is the suspect distance unless the QC file says otherwise.
    location = _shape(
        where, {"suspect_distance_km": station.thresholds.get("watch_circle_km"), **block}, _LocationSpec
    )
    bbox = None
    if location.bbox is not None:
        box = location.bbox
        if len(box) != 4:
            raise QcConfigError(f"{where}.bbox must be [lon_min, lat_min, lon_max, lat_max], got {box!r}")
        lon = _span(f"{where}.bbox longitudes", box[0::2])
        lat = _span(f"{where}.bbox latitudes", box[1::2])
        bbox = (lon[0], lat[0], lon[1], lat[1])
    suspect_km = _optional_number(where, "suspect_distance_km", location.suspect_distance_km, positive=True)
    fail_km = _optional_number(where, "fail_distance_km", location.fail_distance_km, positive=True)
    if suspect_km is not None and fail_km is not None and fail_km < suspect_km:
        raise QcConfigError(f"{where}.fail_distance_km must be >= suspect_distance_km ({suspect_km:g})")
    return LocationTest(station.latitude, station.longitude, bbox, suspect_km, fail_km)


# ---------------------------------------------------------------- merging layers


def _merge(layers: list[tuple[str, Any]], test: str) -> tuple[str, dict[str, Any]] | None:
    """Merge one test's block over the layers; None when the most specific mention is ``null``."""
    merged: dict[str, Any] | None = None
    source = ""
    for where, layer in layers:
        if not isinstance(layer, Mapping) or test not in layer:
            continue
        block = layer[test]  # a mapping or None: every layer's shape is checked before merging
        if block is None:
            merged = None
            continue
        merged = dict(merged or {})
        for group in _ALTERNATIVES.get(test, ()):
            if group & set(block):
                for key in group:
                    merged.pop(key, None)
        merged.update(block)
        source = where
    return None if merged is None else (source, merged)


def _series(
    station: Station,
    variable: str,
    layers: list[tuple[str, Any]],
    registry: Registry,
    location: LocationTest | None,
) -> SeriesConfig:
    where = f"station {station.id!r} variable {variable!r}"
    var = registry.variables[variable]
    physical = (var.physical_min, var.physical_max)
    builders: dict[str, Callable[[str, Mapping[str, Any]], Any]] = {
        "gap": lambda w, b: _gap(w, b, station),
        "gross_range": lambda w, b: _gross_range(w, b, physical),
        "climatology": _climatology,
        "spike": _spike,
        "rate_of_change": _rate_of_change,
        "flat_line": lambda w, b: _flat_line(w, b, station),
        "attenuated_signal": _attenuated_signal,
    }
    tests: dict[str, Any] = {}
    for test, build in builders.items():
        merged = _merge(layers, test)
        if merged is not None:
            tests[test] = build(f"{where}: {test}", merged[1])
    if not _mentioned(layers, "gross_range"):
        tests["gross_range"] = GrossRangeTest(physical)
    return SeriesConfig(station.id, variable, station.sampling_interval_s, location=location, **tests)


def _mentioned(layers: list[tuple[str, Any]], test: str) -> bool:
    return any(isinstance(layer, Mapping) and test in layer for _, layer in layers)


def _variable_layer(where: str, block: Any) -> Mapping[str, Any]:
    if block is None:
        return {}
    _shape(where, block, _VariableLayerSpec)
    layer: Mapping[str, Any] = block  # a mapping, since its shape passed
    return layer


def _station_location(station: Station, layers: list[tuple[str, Any]]) -> LocationTest | None:
    measures_position = all(v in station.variables for v in POSITION_VARIABLES)
    merged = _merge(layers, "location")
    if merged is None:
        return None
    if not measures_position:
        explicit = [w for w, layer in layers[1:] if isinstance(layer, Mapping) and layer.get("location")]
        if explicit:
            raise QcConfigError(
                f"{explicit[0]}: location needs {' and '.join(POSITION_VARIABLES)} among its variables"
            )
        return None
    return _location(f"station {station.id!r}: location", merged[1], station)


def parse_qc_config(document: Any, registry: Registry) -> QcConfig:
    """Validate a QC document against the registry and build every series' configuration."""
    doc = _shape("qc config", document if document is not None else {}, _QcDocument)
    horizon = DEFAULT_LATE_HORIZON_S
    if doc.late_horizon_s is not None:
        horizon = _number("qc config", "late_horizon_s", doc.late_horizon_s)
        if horizon < 0:
            raise QcConfigError(f"qc config.late_horizon_s must be >= 0, got {horizon}")
    common = _variable_layer("common", doc.common)
    defaults = doc.defaults or {}
    for variable, block in defaults.items():
        if variable not in registry.variables:
            raise QcConfigError(f"defaults: unknown variable {variable!r} (not in the vocabulary)")
        _variable_layer(f"defaults variable {variable!r}", block)
    top_location = doc.location
    if top_location is not None:
        _shape("location", top_location, _LocationSpec)
    stations = doc.stations or {}
    for station_id in stations:
        if station_id not in registry.stations:
            raise QcConfigError(f"station {station_id!r}: not in the station registry")

    series: dict[tuple[str, str], SeriesConfig] = {}
    for station in registry.stations.values():
        overrides = _station_overrides(station, stations.get(station.id), "qc.yaml")
        own = _station_overrides(station, station.qc, "registry qc")
        location = _station_location(
            station,
            [
                ("location", {"location": top_location}),
                (f"station {station.id!r}", overrides),
                (f"station {station.id!r} (registry)", own),
            ],
        )
        for variable in sorted(station.variables):
            layers = [
                ("common", common),
                (f"defaults variable {variable!r}", defaults.get(variable)),
                (f"station {station.id!r} variable {variable!r}", overrides.get(variable)),
                (f"station {station.id!r} variable {variable!r} (registry)", own.get(variable)),
            ]
            series_location = location if variable in POSITION_VARIABLES else None
            series[(station.id, variable)] = _series(station, variable, layers, registry, series_location)
    return QcConfig(series=series, late_horizon_s=horizon, stations=dict(registry.stations))


def _station_overrides(station: Station, block: Any, source: str) -> Mapping[str, Any]:
    if not block:
        return {}
    where = f"station {station.id!r} ({source})"
    if not isinstance(block, Mapping):
        raise QcConfigError(f"{where}: overrides must map variable ids to test blocks")
    for key, value in block.items():
        if key == "location":
            if value is not None:
                _shape(f"{where}: location", value, _LocationSpec)
            continue
        if key not in station.variables:
            raise QcConfigError(
                f"station {station.id!r} variable {key!r}: not measured at this station ({source})"
            )
        _variable_layer(f"station {station.id!r} variable {key!r}", value)
    return block


def default_qc_config_path() -> Path:
    return Path(str(resources.files("schemas").joinpath("qc.yaml")))


def load_qc_config(registry: Registry, path: str | os.PathLike[str] | None = None) -> QcConfig:
    """Load and validate the QC configuration (default: the packaged ``schemas/qc.yaml``)."""
    path = Path(path) if path else default_qc_config_path()
    document = read_yaml(path, lambda reason: QcConfigError(f"qc config {path}: {reason}"))
    return parse_qc_config(document, registry)
