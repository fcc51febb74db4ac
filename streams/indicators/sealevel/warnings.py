"""Warning levels (blue, yellow, orange, red) from station thresholds, per China's GB/T 17839 practice.

The thresholds are data in the station registry, never constants here: an operator replaces them with
the warning tide levels their authority publishes for the coastal segment.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

LEVEL_NAMES = ("none", "blue", "yellow", "orange", "red")
COLOURS = LEVEL_NAMES[1:]
WATER_LEVEL_FIELD = "warning_water_level_m"
WAVE_FIELD = "wave_height_m"


class ThresholdError(ValueError):
    """A station's warning thresholds are missing or not ascending; the message names station and field."""


@dataclass(frozen=True, slots=True)
class WarningThresholds:
    """Four ascending thresholds; level k is reached when the value is >= the k-th threshold."""

    blue: float
    yellow: float
    orange: float
    red: float

    def as_array(self) -> np.ndarray:
        return np.array([self.blue, self.yellow, self.orange, self.red], dtype=float)


def parse_thresholds(station: str, field: str, spec: Any) -> WarningThresholds:
    where = f"station {station!r} thresholds.{field}"
    if not isinstance(spec, Mapping):
        raise ThresholdError(f"{where}: expected a mapping with {', '.join(COLOURS)}, got {spec!r}")
    missing = [c for c in COLOURS if c not in spec]
    if missing:
        raise ThresholdError(f"{where}: missing {', '.join(missing)}")
    values = []
    for colour in COLOURS:
        value = spec[colour]
        if isinstance(value, bool) or not isinstance(value, int | float) or not np.isfinite(value):
            raise ThresholdError(f"{where}: {colour} must be a finite number, got {value!r}")
        values.append(float(value))
    if any(b <= a for a, b in itertools.pairwise(values)):
        pairs = ", ".join(f"{c}={v}" for c, v in zip(COLOURS, values, strict=True))
        raise ThresholdError(f"{where}: must ascend strictly blue < yellow < orange < red, got {pairs}")
    return WarningThresholds(*values)


def station_thresholds(station: str, thresholds: Mapping[str, Any], field: str) -> WarningThresholds | None:
    """The station's thresholds for ``field``, or None when the station has none configured."""
    if field not in thresholds:
        return None
    return parse_thresholds(station, field, thresholds[field])


def classify(values: np.ndarray | float, thresholds: WarningThresholds) -> np.ndarray:
    """Warning level 0..4 of each value: the number of thresholds it reaches; NaN gives 0."""
    values = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        levels: np.ndarray = (values[..., None] >= thresholds.as_array()).sum(axis=-1).astype(np.int8)
    return levels
