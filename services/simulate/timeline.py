"""Place a scenario's events on each station's absolute timeline and resolve their strengths.

"Reach orange" becomes a surge height in metres here, computed from the station's own tide and
weather at the peak, so the registry's thresholds (data) decide how strong the event must be.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from services.simulate.scenario import Event, Scenario
from services.simulate.signals import (
    MIN_SURGE_M,
    REACH_MARGIN,
    ActiveEvent,
    StationModel,
    local_solar_hour,
)

NIGHT_START_H = 23.0  # local solar time a hypoxic night begins
DEFAULT_SURGE_M = 1.0
DEFAULT_WAVE_ADD_M = 2.5
DEFAULT_SALINITY_ADD_PSU = 10.0


def _place(event: Event, model: StationModel, start_s: float) -> ActiveEvent:
    begin = start_s + event.start_h * 3600.0
    length = event.duration_h * 3600.0
    if event.kind == "storm_surge" and event.params.get("align_high_water", True):
        begin = model.tide.high_water_near(begin + length / 2.0) - length / 2.0
    if event.kind == "hypoxia" and event.params.get("align_night", True):
        hour = float(local_solar_hour(np.array([begin]), model.station.longitude)[0])
        begin += ((NIGHT_START_H - hour) % 24.0) * 3600.0
    return ActiveEvent(event.kind, model.station.id, begin, begin + length, dict(event.params))


def _level(model: StationModel, threshold: str, colour: object) -> float | None:
    levels = model.station.thresholds.get(threshold) or {}
    return None if colour is None or colour not in levels else float(levels[colour])


def _resolve(event: ActiveEvent, model: StationModel) -> ActiveEvent:
    """Fill in the additive strength the signal code reads (add_m, add_psu, one)."""
    p = dict(event.params)
    at = model.frame(np.array([event.peak_s]))
    if event.kind == "storm_surge":
        level = _level(model, "warning_water_level_m", p.get("reach"))
        if p.get("peak_m") is not None:
            p["add_m"] = float(p["peak_m"])
        elif level is not None:
            p["add_m"] = max(level + REACH_MARGIN - float(at.water_level[0]), MIN_SURGE_M)
        else:
            p["add_m"] = DEFAULT_SURGE_M
    elif event.kind == "high_waves":
        level = _level(model, "wave_height_m", p.get("reach"))
        if p.get("peak_m") is not None:
            p["add_m"] = max(float(p["peak_m"]) - float(at.wave_height[0]), 0.0)
        elif level is not None:
            p["add_m"] = max(level + REACH_MARGIN - float(at.wave_height[0]), 0.0)
        else:
            p["add_m"] = DEFAULT_WAVE_ADD_M
    elif event.kind == "salinity_intrusion":
        limit = model.station.thresholds.get("porewater_salinity_limit_psu")
        target = p.get("peak_psu")
        if target is None and limit is not None:
            target = float(limit) + float(p["exceed_psu"])
        base = float(at.porewater_salinity[0])
        p["add_psu"] = DEFAULT_SALINITY_ADD_PSU if target is None else max(float(target) - base, 0.0)
    elif event.kind == "bloom":
        p["one"] = 1.0
    return replace(event, params=p)


def place_events(model: StationModel, scenario: Scenario, start_s: float) -> StationModel:
    """The station model with the scenario's events for this station, placed and resolved.

    Events resolve in scenario order after the weather, so "reach" accounts for a storm's inverse
    barometer and waves and for any surge listed before it.
    """
    placed = [_place(e, model, start_s) for e in scenario.events if e.applies_to(model.station)]
    weather = [e for e in placed if e.kind == "storm"]
    active = list(weather)
    for event in placed:
        if event.kind != "storm":
            active.append(_resolve(event, model.with_events(active)))
    return model.with_events(active)
