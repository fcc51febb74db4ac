"""What goes into the QC engine (columns of readings) and what comes out (one result per flagged reading)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np

from schemas.quality import QcResult
from schemas.records import ReadingBatch


@dataclass(frozen=True, slots=True)
class Readings:
    """A batch of readings of many series, as columns; NaN values are missing readings."""

    station: Sequence[str]
    variable: Sequence[str]
    time_us: np.ndarray
    value: np.ndarray

    def __post_init__(self) -> None:
        if not len(self.station) == len(self.variable) == len(self.time_us) == len(self.value):
            raise ValueError("Readings columns must have the same length")

    def __len__(self) -> int:
        return len(self.time_us)

    @classmethod
    def from_rows(cls, rows: Iterable[tuple[str, str, int, float | None]]) -> Readings:
        rows = list(rows)
        return cls(
            [r[0] for r in rows],
            [r[1] for r in rows],
            np.array([r[2] for r in rows], dtype=np.int64),
            np.array([np.nan if r[3] is None else r[3] for r in rows], dtype=np.float64),
        )

    def by_station(self) -> Iterator[tuple[str, Readings]]:
        """Each station's readings of the batch, in their given order."""
        rows: dict[str, list[int]] = {}
        for i, station in enumerate(self.station):
            rows.setdefault(station, []).append(i)
        for station, index in rows.items():
            at = np.array(index, dtype=np.int64)
            variables = [self.variable[i] for i in index]
            yield station, Readings([station] * len(index), variables, self.time_us[at], self.value[at])

    def by_series(self) -> Iterator[tuple[tuple[str, str], np.ndarray, np.ndarray]]:
        """(station, variable), times sorted and unique (first reading of a time wins), values."""
        if len(self) == 0:
            return
        ids: dict[tuple[str, str], int] = {}
        series = np.fromiter(
            (ids.setdefault(k, len(ids)) for k in zip(self.station, self.variable, strict=True)),
            dtype=np.int64,
            count=len(self),
        )
        order = np.lexsort((self.time_us, series))  # stable: equal keys keep arrival order
        series, times, values = series[order], np.asarray(self.time_us)[order], np.asarray(self.value)[order]
        first = np.ones(len(order), dtype=bool)
        first[1:] = (series[1:] != series[:-1]) | (times[1:] != times[:-1])
        series, times, values = series[first], times[first], values[first]
        bounds = np.concatenate([[0], np.flatnonzero(np.diff(series)) + 1, [len(series)]]).tolist()
        keys = list(ids)
        for a, b in pairwise(bounds):
            yield keys[series[a]], times[a:b], values[a:b]


def readings_from_batch(batch: ReadingBatch) -> Readings:
    """Flatten a Kafka reading batch (station messages of samples) into columns."""
    station: list[str] = []
    variable: list[str] = []
    times: list[int] = []
    values: list[float] = []
    for item in batch.items:
        for sample in item.samples:
            for name, value in sample.values.items():
                station.append(item.station)
                variable.append(name)
                times.append(sample.time_us)
                values.append(np.nan if value is None else value)
    return Readings(station, variable, np.array(times, dtype=np.int64), np.array(values, dtype=np.float64))


def flag_counts(results: Iterable[QcResult]) -> dict[tuple[str, str, int], int]:
    """Results per (station, variable, aggregate flag): for metrics and the QC-results topic.

    Every result counts, corrections included; pass ``[r for r in results if not r.revised]`` to
    count each new reading once by its first flag.
    """
    return dict(Counter((r.station, r.variable, r.flag) for r in results))
