"""What an indicator family sees and what it hands back to the streaming state.

A family turns one UTC day of readings into a compact row (`day_row`; `encode_row` gives its JSON
form for the state's pieces), computes its indicator values from rows (`outputs`) and, when days
close, says which rows it still needs (`close`). The
values of every indicator id come with two bounds: keys before the first are final (the state forgets
them), keys at or after the second are recomputed now (a key there that is not put again is
retracted), keys in between keep what was emitted before. The state tells a family the first day
whose row changed (`since`), so an update recomputes only what that day feeds, not every open day:
per-day values look back (baselines, trends, year-to-date sums), never forward, and the few that look
forward (events) are recomputed from the last point before that day that no change can reach back
past (a reading at or above the hypoxia limit or after a gap; max_gap + 1 days without exceedance),
else from their anchor. That contract is what lets late readings correct earlier values and lets the
state retract a key (an event start that moved) without keeping unbounded history.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping
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

# `since` of a family whose rows did not change in this update: nothing is recomputed.
UNCHANGED = 1 << 40
NEVER_US = day_start_us(UNCHANGED)


class Day(dict[str, Series]):
    """One day's readings, with a memo of values derived from them that several families use, and
    what the families kept from the same open day's previous readings (`kept`, in memory only: a
    family may reuse a part still computed from the same inputs; empty after a restore)."""

    __slots__ = ("derived", "kept")

    def __init__(self, series: Mapping[str, Series], kept: dict[str, Any] | None = None) -> None:
        super().__init__(series)
        self.derived: dict[str, Any] = {}
        self.kept: dict[str, Any] = {} if kept is None else kept


class Rows(Mapping[int, Row]):
    """A family's rows in day order: the closed days' (all before the first open day) then the open
    days'. A view, so an update does not merge or sort the whole history; `memo` keeps arrays made
    from the closed rows between updates (the caller empties it when they change), and values made
    from the rows before a day (`looking_back`)."""

    __slots__ = ("_closed", "_closed_days", "_memo", "_open")

    def __init__(
        self, closed: Mapping[int, Row], open_rows: Mapping[int, Row], memo: dict[Any, Any] | None = None
    ) -> None:
        self._closed, self._open, self._memo = closed, open_rows, {} if memo is None else memo
        self._closed_days = list(closed)
        if self._closed_days and open_rows and self._closed_days[-1] >= next(iter(open_rows)):
            # Closed rows of open days: a restore from a write torn before its days piece. The open
            # day's row wins, as the uninterrupted state has it.
            self._open = dict(sorted({**closed, **open_rows}.items()))
            self._closed, self._closed_days, self._memo = {}, [], {}

    def __getitem__(self, day: int) -> Row:
        row = self._open.get(day)
        return self._closed[day] if row is None else row

    def get(self, day: int, default: Any = None) -> Any:
        row = self._open.get(day)
        return self._closed.get(day, default) if row is None else row

    def __contains__(self, day: object) -> bool:
        return day in self._open or day in self._closed

    def __iter__(self) -> Iterator[int]:
        yield from self._closed_days
        yield from self._open

    def __len__(self) -> int:
        return len(self._closed_days) + len(self._open)

    def days_from(self, first: int | None) -> list[int]:
        """The days at or after `first` (None: all), in order."""
        if first is None:
            return [*self._closed_days, *self._open]
        closed = self._closed_days[bisect_left(self._closed_days, first) :]
        return [*closed, *(day for day in self._open if day >= first)]

    def split_from(self, first: int) -> tuple[list[int], list[int]]:
        """The closed days and the open days at or after `first`, in order."""
        closed = self._closed_days[bisect_left(self._closed_days, first) :]
        return closed, [day for day in self._open if day >= first]

    def open_from(self, first: int) -> list[int]:
        """The open days at or after `first`, in order."""
        return [day for day in self._open if day >= first]

    def memoized(self, key: Any, make: Callable[[], Any]) -> Any:
        """A value made from the closed rows only, made once until they change."""
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def looking_back(self, key: Any, since: int | None) -> dict[int, Any]:
        """A memo of values of a day made from the rows of the days before it only, kept between
        updates: those of days after `since` (the first day whose row changed; None: any) are
        dropped, as their inputs may have changed."""
        kept: dict[int, Any] = self._memo.setdefault(("looking back", key), {})
        if since is None:
            kept.clear()
        else:
            for day in [day for day in kept if day > since]:
                del kept[day]
        return kept

    def column(self, key: str, first: int) -> tuple[np.ndarray, np.ndarray]:
        """The days at or after `first` whose row has a value `key` (not None), and those values."""
        memo_key = ("column", key)
        if memo_key not in self._memo:
            days = [d for d in self._closed_days if self._closed[d][key] is not None]
            self._memo[memo_key] = (
                np.array(days, dtype=np.int64),
                np.array([self._closed[d][key] for d in days], dtype=float),
            )
        closed_days, closed_values = self._memo[memo_key]
        lo = int(np.searchsorted(closed_days, first))
        days = [d for d in self._open if d >= first and self._open[d][key] is not None]
        return (
            np.concatenate([closed_days[lo:], np.array(days, dtype=np.int64)]),
            np.concatenate([closed_values[lo:], np.array([self._open[d][key] for d in days], dtype=float)]),
        )

    def joined(self, key: str, dtype: type) -> np.ndarray:
        """The lists `key` of every row, joined in day order."""
        memo_key = ("joined", key)
        if memo_key not in self._memo:
            closed: list[np.ndarray] = [
                np.asarray(self._closed[d][key], dtype=dtype) for d in self._closed_days
            ]
            self._memo[memo_key] = np.concatenate([np.empty(0, dtype=dtype), *closed])
        parts = [self._memo[memo_key], *(np.asarray(row[key], dtype=dtype) for row in self._open.values())]
        return np.concatenate(parts)


@dataclass(slots=True)
class Outputs:
    """Indicator values of one update, grouped by id, each id with its bounds (final before, recomputed
    from; None: nothing final, everything recomputed)."""

    scopes: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)
    values: dict[str, dict[int, float]] = field(default_factory=dict)

    def scope(self, indicators: Iterable[str], final_us: int | None, from_us: int | None) -> None:
        """Keys before `final_us` are final; keys from `from_us` on are put now (NEVER_US: none)."""
        for indicator in indicators:
            self.scopes[indicator] = (final_us, from_us)
            self.values.setdefault(indicator, {})

    def put(self, indicator: str, time_us: int, value: float) -> None:
        self.values[indicator][int(time_us)] = float(value)

    def put_many(self, indicator: str, times_us: Any, values: Any) -> None:
        """`put` of every (time, value) pair of two sequences (arrays), in their order."""
        pairs = zip(
            np.asarray(times_us, dtype=np.int64).tolist(),
            np.asarray(values, dtype=np.float64).tolist(),
            strict=True,
        )
        self.values[indicator].update(pairs)


class IndicatorFamily(Protocol):
    """One family of indicators: its row of a day, its values from the rows, and from which day on it
    still needs closed rows (``close``). ``family_state`` is what the family keeps between updates, a
    JSON dict saved in the days piece: the heatwave's and oxygen's anchor, before which their event
    values are final; the other families keep nothing there."""

    @property
    def name(self) -> str: ...

    def day_row(self, day: int, readings: DayReadings) -> Row | None: ...

    def outputs(
        self,
        rows: Rows,
        first_open: int | None,
        since: int | None,
        family_state: dict[str, Any],
        out: Outputs,
    ) -> None: ...

    def close(self, rows: Mapping[int, Row], first_open: int, family_state: dict[str, Any]) -> int: ...

    def encode_row(self, row: Row) -> Row: ...

    def decode_row(self, row: Row) -> Row: ...


class JsonRows:
    """For families whose rows are plain JSON values in memory too (the state's pieces hold a
    closed day's row as JSON; a family may keep compact arrays in memory and convert)."""

    __slots__ = ()

    def encode_row(self, row: Row) -> Row:
        return row

    def decode_row(self, row: Row) -> Row:
        return row


def recompute_from(first_open: int | None, since: int | None) -> int | None:
    """The first day whose per-day values this update recomputes: open and at or after the first
    changed day (None: every day, as in a batch run or the first update after a restore)."""
    if first_open is None:
        return since
    return first_open if since is None else max(first_open, since)


def live_days(rows: Rows, first: int | None) -> list[int]:
    """Days at or after `first` (None: all of them); UNCHANGED gives none."""
    return [] if first is not None and first >= UNCHANGED else rows.days_from(first)


def scope_start_us(first_day: int | None) -> int | None:
    return None if first_day is None else day_start_us(first_day)


def mean_of(readings: DayReadings, variable: str) -> float | None:
    """The mean of a day's readings: np.mean's sum and division without its ~4 µs of overhead."""
    series = readings.get(variable)
    if series is None:
        return None
    n = series.values.size
    return float(np.add.reduce(series.values)) / n if n else float("nan")


def previous_values(rows: Mapping[int, Row], key: str, day: int, n_days: int) -> list[float]:
    """The row values `key` of the `n_days` days before `day` that have one, oldest first."""
    found = (rows.get(d) for d in range(day - n_days, day))
    return [row[key] for row in found if row is not None and row.get(key) is not None]
