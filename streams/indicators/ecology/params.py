"""Ecological indicator parameters: defaults as data, overridable per station, validated at start-up.

A station's registry entry supplies its sampling interval, position and wetland thresholds
(`thresholds.marsh_platform_m`, `thresholds.porewater_salinity_limit_psu`); any other parameter can be
overridden under `thresholds.ecology`. Errors name the station and the field, so a typo stops the
service at start-up instead of silently using a default.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from schemas.registry import Station


class ParameterError(ValueError):
    """An invalid indicator parameter; the message names the station and field."""


@dataclass(frozen=True, slots=True)
class EcologyParams:
    """Every number the ecological indicators use; the defaults are the documented domain values."""

    sampling_interval_s: float = 600.0
    latitude_deg: float = 40.0
    longitude_deg: float = 121.0
    sensor_pressure_dbar: float = 0.0
    allowed_lateness_days: int = 2
    # Dissolved oxygen: hypoxia below 2 mg/L; readings further apart than the gap end an episode.
    hypoxia_mg_l: float = 2.0
    hypoxia_max_gap_s: float | None = None  # None: three sampling intervals
    # Algal bloom risk.
    chl_trigger_ug_l: float = 10.0
    chl_rise_factor: float = 2.0
    do_supersaturation_pct: float = 120.0
    ph_rise: float = 0.1
    baseline_days: int = 14
    baseline_min_days: int = 7
    # Acidification and salinity.
    ph_trend_days: int = 365
    ph_trend_min_days: int = 30
    salinity_baseline_days: int = 30
    salinity_baseline_psu: float | None = None  # None: trailing mean of the previous days
    porewater_salinity_limit_psu: float = 0.45
    # Wetland water; None switches the wetland indicators off for the station.
    marsh_platform_m: float | None = None
    # Marine heatwave event rules (the climatology's own parameters live with the climatology).
    mhw_min_duration_d: int = 5
    mhw_max_gap_d: int = 2
    # Blue carbon.
    ch4_gwp100: float = 27.0

    @property
    def hypoxia_gap_us(self) -> int:
        gap_s = self.hypoxia_max_gap_s if self.hypoxia_max_gap_s is not None else 3 * self.sampling_interval_s
        return round(gap_s * 1e6)

    @property
    def interval_us(self) -> int:
        return round(self.sampling_interval_s * 1e6)


def _positive(v: float) -> bool:
    return v > 0


def _non_negative(v: float) -> bool:
    return v >= 0


def _any(v: float) -> bool:
    return True


_RULES: dict[str, tuple[Callable[[float], bool], str]] = {
    "sampling_interval_s": (_positive, "> 0"),
    "latitude_deg": (lambda v: -90 <= v <= 90, "in [-90, 90]"),
    "longitude_deg": (lambda v: -180 <= v <= 180, "in [-180, 180]"),
    "sensor_pressure_dbar": (_non_negative, ">= 0"),
    "allowed_lateness_days": (_non_negative, ">= 0"),
    "hypoxia_mg_l": (_positive, "> 0"),
    "hypoxia_max_gap_s": (_positive, "> 0"),
    "chl_trigger_ug_l": (_positive, "> 0"),
    "chl_rise_factor": (lambda v: v > 1, "> 1"),
    "do_supersaturation_pct": (lambda v: v > 100, "> 100"),
    "ph_rise": (_positive, "> 0"),
    "baseline_days": (_positive, "> 0"),
    "baseline_min_days": (_positive, "> 0"),
    "ph_trend_days": (lambda v: v >= 2, ">= 2"),
    "ph_trend_min_days": (lambda v: v >= 2, ">= 2"),
    "salinity_baseline_days": (_positive, "> 0"),
    "salinity_baseline_psu": (_non_negative, ">= 0"),
    "porewater_salinity_limit_psu": (_non_negative, ">= 0"),
    "marsh_platform_m": (_any, "a number"),
    "mhw_min_duration_d": (_positive, "> 0"),
    "mhw_max_gap_d": (_non_negative, ">= 0"),
    "ch4_gwp100": (_positive, "> 0"),
}
_INTEGER_FIELDS = frozenset(f.name for f in dataclasses.fields(EcologyParams) if f.type in ("int", int))


def _checked(station_id: str, where: str, name: str, value: Any) -> float | int:
    if name not in _RULES:
        raise ParameterError(f"station {station_id!r}: field '{where}{name}' is not an ecology parameter")
    check, wanted = _RULES[name]
    kind = "an integer" if name in _INTEGER_FIELDS else "a number"
    number_ok = isinstance(value, int) if name in _INTEGER_FIELDS else isinstance(value, int | float)
    if isinstance(value, bool) or not number_ok or not math.isfinite(value) or not check(value):
        raise ParameterError(
            f"station {station_id!r}: field '{where}{name}' must be {kind} {wanted}, got {value!r}"
        )
    checked: float | int = value
    return checked


def _apply(station_id: str, params: EcologyParams, where: str, values: Mapping[str, Any]) -> EcologyParams:
    changes: dict[str, Any] = {
        name: _checked(station_id, where, name, value) for name, value in values.items()
    }
    params = dataclasses.replace(params, **changes)
    if params.baseline_min_days > params.baseline_days:
        raise ParameterError(
            f"station {station_id!r}: field '{where}baseline_min_days' exceeds baseline_days"
        )
    if params.ph_trend_min_days > params.ph_trend_days:
        raise ParameterError(
            f"station {station_id!r}: field '{where}ph_trend_min_days' exceeds ph_trend_days"
        )
    return params


def params_for_station(station: Station, overrides: Mapping[str, Any] | None = None) -> EcologyParams:
    """Parameters of one registry station: registry facts, then `thresholds.ecology`, then `overrides`."""
    params = _apply(
        station.id,
        EcologyParams(),
        "",
        {
            "sampling_interval_s": station.sampling_interval_s,
            "latitude_deg": station.latitude,
            "longitude_deg": station.longitude,
        },
    )
    wetland = {
        k: station.thresholds[k]
        for k in ("marsh_platform_m", "porewater_salinity_limit_psu")
        if k in station.thresholds
    }
    params = _apply(station.id, params, "thresholds.", wetland)
    section = station.thresholds.get("ecology") or {}
    if not isinstance(section, Mapping):
        raise ParameterError(f"station {station.id!r}: field 'thresholds.ecology' must be a mapping")
    params = _apply(station.id, params, "thresholds.ecology.", section)
    return _apply(station.id, params, "overrides.", overrides or {})
