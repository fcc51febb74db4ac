"""Astronomical tide synthesis from harmonic constituents (M2, S2, N2, K1, O1).

The phases are plausible, not official, so these are not tide *predictions* of the real sites; they
give the right ranges, the spring–neap cycle (M2/S2 beat, 14.8 d) and the diurnal inequality
(K1/O1), which is what tide-dependent QC, surge extraction and the wetland water table need.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import yaml

from schemas.registry import Station

J2000_S = 946_728_000.0  # 2000-01-01T12:00:00Z, the phase reference
HIGH_WATER_MARGIN_M = 0.25  # keep astronomical high water this far below the blue warning level


@dataclass(frozen=True, slots=True)
class TideModel:
    """Constituents of one site: angular speeds (rad/s), amplitudes (m) and phase lags (rad)."""

    names: tuple[str, ...]
    omega_rad_s: np.ndarray
    amplitude_m: np.ndarray
    phase_rad: np.ndarray

    def level_m(self, t_s: np.ndarray) -> np.ndarray:
        """Tide height about mean sea level at times t_s (s since the epoch)."""
        t = np.asarray(t_s, dtype=np.float64) - J2000_S
        arg = np.multiply.outer(t, self.omega_rad_s) - self.phase_rad
        return np.cos(arg) @ self.amplitude_m

    def scaled(self, factor: float) -> TideModel:
        return TideModel(self.names, self.omega_rad_s, self.amplitude_m * factor, self.phase_rad)

    def high_water_near(self, t_s: float, half_window_s: float = 6.5 * 3600.0) -> float:
        """Time of the highest astronomical tide within ±half_window_s of t_s (one-minute search)."""
        grid = t_s + np.arange(-half_window_s, half_window_s + 1.0, 60.0)
        return float(grid[int(np.argmax(self.level_m(grid)))])


@cache
def _table() -> dict[str, Any]:
    text = resources.files("services.simulate").joinpath("tides.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


def _model(spec: Mapping[str, list[float]], periods_h: Mapping[str, float]) -> TideModel:
    names = tuple(spec)
    return TideModel(
        names=names,
        omega_rad_s=np.array([2.0 * np.pi / (periods_h[n] * 3600.0) for n in names]),
        amplitude_m=np.array([float(spec[n][0]) for n in names]),
        phase_rad=np.radians([float(spec[n][1]) for n in names]),
    )


def tide_for(station: Station, base_id: str | None = None) -> TideModel:
    """The constituents of a station (by id, by the id it was cloned from, by area, or the default).

    Scaled down when the constituents could reach the blue warning level on their own: a warning
    must mean a surge, never an ordinary spring tide.
    """
    table = _table()
    spec = (
        table["stations"].get(station.id)
        or (table["stations"].get(base_id) if base_id else None)
        or table["areas"].get(station.area)
        or table["default"]
    )
    model = _model(spec, table["periods_h"])
    blue = (station.thresholds.get("warning_water_level_m") or {}).get("blue")
    if blue is not None:
        allowed_m = float(blue) - station.datum.msl_above_datum_m - HIGH_WATER_MARGIN_M
        total_m = float(model.amplitude_m.sum())
        if allowed_m > 0 and total_m > allowed_m:
            model = model.scaled(allowed_m / total_m)
    return model
