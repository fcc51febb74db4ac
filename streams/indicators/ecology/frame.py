"""What an indicator family sees and what it hands back to the streaming state.

A family turns one UTC day of readings into a compact JSON row (`day_row`), computes its indicator
values from rows (`outputs`) and, when days close, says which rows it still needs (`close`). The
values of every indicator id come with a scope start: all keys at or after it are recomputed on every
update, keys before it are final. That contract is what lets late readings correct earlier values
and lets the state retract a key (an event start that moved) without keeping unbounded history.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from streams.indicators.ecology.calendar import day_start_us

Row = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Series:
    """One variable's readings of one UTC day, sorted by time."""

    times_us: np.ndarray
    values: np.ndarray

    @classmethod
    def from_mapping(cls, readings: Mapping[int, float]) -> Series:
        times = np.fromiter(sorted(readings), dtype=np.int64, count=len(readings))
        values = np.fromiter((readings[t] for t in times.tolist()), dtype=np.float64, count=len(readings))
        return cls(times, values)


DayReadings = Mapping[str, Series]


@dataclass(slots=True)
class Outputs:
    """Indicator values of one update, grouped by id, each id with its scope start (None: everything)."""

    scopes: dict[str, int | None] = field(default_factory=dict)
    values: dict[str, dict[int, float]] = field(default_factory=dict)

    def scope(self, indicators: Iterable[str], from_us: int | None) -> None:
        for indicator in indicators:
            self.scopes[indicator] = from_us
            self.values.setdefault(indicator, {})

    def put(self, indicator: str, time_us: int, value: float) -> None:
        self.values[indicator][int(time_us)] = float(value)


class Family(Protocol):
    @property
    def name(self) -> str: ...

    def day_row(self, day: int, readings: DayReadings) -> Row | None: ...

    def outputs(
        self, rows: Mapping[int, Row], first_open: int | None, carry: dict[str, Any], out: Outputs
    ) -> None: ...

    def close(self, rows: Mapping[int, Row], first_open: int, carry: dict[str, Any]) -> int: ...


def live_days(rows: Mapping[int, Row], first_open: int | None) -> list[int]:
    """Days whose per-day values can still change: the open ones (all of them in a batch run)."""
    return [day for day in rows if first_open is None or day >= first_open]


def scope_start_us(first_day: int | None) -> int | None:
    return None if first_day is None else day_start_us(first_day)


def mean_of(readings: DayReadings, variable: str) -> float | None:
    series = readings.get(variable)
    return None if series is None else float(np.mean(series.values))


def previous_values(rows: Mapping[int, Row], key: str, day: int, n_days: int) -> list[float]:
    """The row values `key` of the `n_days` days before `day` that have one, oldest first."""
    found = (rows.get(d) for d in range(day - n_days, day))
    return [row[key] for row in found if row is not None and row.get(key) is not None]
