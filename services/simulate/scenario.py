"""Scenarios: which station experiences what, when and how strongly — as data.

All times are hours after the simulation start, so one scenario replays the same story whatever the
start date; the seed makes the noise around it deterministic. A scenario is a YAML document::

    name: my-scenario
    duration_h: 240            # suggested simulated length (the CLI replays it up to now)
    faults: {spike: 0.01}      # optional overrides of the default fault rates
    events:
      - kind: storm_surge
        stations: [yingkou, "area:liaodong-bay", "kind:tide_gauge", "dalian*"]
        start_h: 30
        duration_h: 24
        reach: orange          # kind-specific parameters, see EVENT_KINDS

Station selectors: an id or fnmatch pattern, `kind:<station kind>` or `area:<area>`.
"""

from __future__ import annotations

import fnmatch
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from schemas.registry import Station
from services.simulate.faults import FaultRates

# Per kind: default duration (h) and the parameters it accepts with their defaults.
EVENT_KINDS: Mapping[str, tuple[float, Mapping[str, Any]]] = {
    # Weather: pressure drop and wind peaking mid-event (waves follow the wind at buoys).
    "storm": (24.0, {"pressure_drop_hpa": 25.0, "wind_peak_m_s": 14.0, "wind_from_deg": 45.0}),
    # Surge on the water level, peaking mid-event; `reach` a warning colour of the station instead of
    # `peak_m`; the peak moves to the nearest astronomical high water unless align_high_water is false.
    "storm_surge": (24.0, {"peak_m": None, "reach": None, "align_high_water": True}),
    # Extra significant wave height at a buoy, peaking mid-event; `reach` a colour of wave_height_m.
    "high_waves": (18.0, {"peak_m": None, "reach": None}),
    # Dissolved oxygen pulled down to min_mg_l; starts at the next local 23:00 unless align_night false.
    "hypoxia": (8.0, {"min_mg_l": 1.2, "align_night": True, "ramp_h": 2.0}),
    # Chlorophyll-a bloom with daytime DO supersaturation and a pH rise.
    "bloom": (96.0, {"peak_ug_l": 30.0, "ramp_h": 18.0, "do_supersaturation_pct": 45.0, "ph_rise": 0.3}),
    # Marine heatwave: sea temperature delta_degC above the seasonal cycle.
    "heatwave": (192.0, {"delta_degC": 4.0, "ramp_h": 24.0}),
    # The station publishes nothing, then comes back (the samples are lost).
    "silent": (6.0, {}),
    # The station is offline, buffers, and sends its buffered samples as one message's backlog.
    "late_batch": (2.0, {}),
    # Battery voltage declines to min_v over the event, then the battery is swapped.
    "battery_low": (48.0, {"min_v": 10.6}),
    # Porewater salinity rises exceed_psu above the station's porewater_salinity_limit_psu (or to peak_psu).
    "salinity_intrusion": (72.0, {"peak_psu": None, "exceed_psu": 3.0, "ramp_h": 12.0}),
    # The buoy leaves its watch circle at speed_m_s towards bearing_deg, recovered at the end.
    "adrift": (6.0, {"speed_m_s": 0.3, "bearing_deg": 60.0}),
}
COMMON_FIELDS = ("kind", "stations", "start_h", "duration_h")
# An event is placed only at stations measuring one of these (silence and late batches: any station).
EVENT_VARIABLES: Mapping[str, frozenset[str]] = {
    "storm": frozenset({"water_level_m", "air_pressure_hpa", "wind_speed_m_s", "wave_height_m"}),
    "storm_surge": frozenset({"water_level_m"}),
    "high_waves": frozenset({"wave_height_m"}),
    "hypoxia": frozenset({"dissolved_oxygen_mg_l"}),
    "bloom": frozenset({"chlorophyll_ug_l"}),
    "heatwave": frozenset({"water_temperature_degC"}),
    "battery_low": frozenset({"battery_voltage_v"}),
    "salinity_intrusion": frozenset({"porewater_salinity_psu"}),
    "adrift": frozenset({"latitude_deg", "longitude_deg"}),
}


class ScenarioError(ValueError):
    """The scenario document is invalid; the message names the event and field."""


@dataclass(frozen=True, slots=True)
class Event:
    kind: str
    stations: tuple[str, ...]
    start_h: float
    duration_h: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def applies_to(self, station: Station) -> bool:
        """Selected by a selector and measuring something the event changes."""
        relevant = EVENT_VARIABLES.get(self.kind)
        if relevant is not None and not relevant & station.variables:
            return False
        return any(_selects(selector, station) for selector in self.stations)


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    events: tuple[Event, ...] = ()
    duration_h: float | None = None
    faults: FaultRates | None = None
    description: str = ""


def _selects(selector: str, station: Station) -> bool:
    if selector.startswith("kind:"):
        return station.kind == selector[5:]
    if selector.startswith("area:"):
        return station.area == selector[5:]
    return fnmatch.fnmatchcase(station.id, selector)


def _number(where: str, spec: Mapping[str, Any], key: str, default: float | None) -> float:
    value = spec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScenarioError(f"{where}: field {key!r} must be a number, got {value!r}")
    return float(value)


def _event(spec: Any, index: int) -> Event:
    where = f"events[{index}]"
    if not isinstance(spec, Mapping):
        raise ScenarioError(f"{where}: expected a mapping, got {spec!r}")
    kind = spec.get("kind")
    if kind not in EVENT_KINDS:
        raise ScenarioError(f"{where}: field 'kind' must be one of {', '.join(EVENT_KINDS)}, got {kind!r}")
    assert isinstance(kind, str)  # a key of EVENT_KINDS
    where = f"{where} ({kind})"
    default_duration_h, defaults = EVENT_KINDS[kind]
    stations = spec.get("stations", ["*"])
    if isinstance(stations, str):
        stations = [stations]
    if not isinstance(stations, list) or not all(isinstance(s, str) for s in stations) or not stations:
        raise ScenarioError(f"{where}: field 'stations' must be a list of station selectors")
    start_h = _number(where, spec, "start_h", None)
    duration_h = _number(where, spec, "duration_h", default_duration_h)
    if start_h < 0 or duration_h <= 0:
        raise ScenarioError(f"{where}: start_h must be >= 0 and duration_h > 0")
    unknown = sorted(set(spec) - set(COMMON_FIELDS) - set(defaults))
    if unknown:
        raise ScenarioError(f"{where}: unknown fields {unknown}; {kind} accepts {sorted(defaults)}")
    params = {key: spec.get(key, default) for key, default in defaults.items()}
    return Event(kind, tuple(stations), start_h, duration_h, params)


def parse_scenario(document: Any) -> Scenario:
    if not isinstance(document, Mapping):
        raise ScenarioError("scenario: expected a mapping with 'events'")
    events = document.get("events") or []
    if not isinstance(events, list):
        raise ScenarioError("scenario: 'events' must be a list")
    faults = None
    if document.get("faults") is not None:
        if not isinstance(document["faults"], Mapping):
            raise ScenarioError("scenario: 'faults' must map fault kinds to rates")
        try:
            faults = FaultRates().with_overrides(document["faults"])
        except (TypeError, ValueError) as exc:
            raise ScenarioError(f"scenario faults: {exc}") from exc
    duration = document.get("duration_h")
    return Scenario(
        name=str(document.get("name", "unnamed")),
        events=tuple(_event(spec, i) for i, spec in enumerate(events)),
        duration_h=None if duration is None else _number("scenario", document, "duration_h", None),
        faults=faults,
        description=str(document.get("description", "")),
    )


def load_scenario(path: str | os.PathLike[str]) -> Scenario:
    try:
        document = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ScenarioError(f"scenario {path}: {exc}") from exc
    return parse_scenario(document)


def default_scenario() -> Scenario:
    """The demo story for the Liaoning sample network (services/simulate/default_scenario.yaml)."""
    text = resources.files("services.simulate").joinpath("default_scenario.yaml").read_text(encoding="utf-8")
    return parse_scenario(yaml.safe_load(text))


def delayed(scenario: Scenario, hours: float) -> Scenario:
    """The same story starting ``hours`` later, after quiet background (history a tide fit needs)."""
    return replace(
        scenario,
        events=tuple(replace(event, start_h=event.start_h + hours) for event in scenario.events),
        duration_h=(scenario.duration_h or 0) + hours,
    )
