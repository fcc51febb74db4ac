"""Per-test runners: each flags the dirty readings of the series sharing one parameter set.

A runner takes (batch, parameters, items sharing them) and returns (dirty elements, their flags);
a trust function says where that result is exact (the test's whole context is still retained).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np

from schemas.quality import GOOD, MISSING, NOT_EVALUATED
from streams.qc import checks
from streams.qc.batch import Batch, drop_separators, run_starts
from streams.qc.config import AttenuatedSignalTest, FlatLineTest, GapTest, RateOfChangeTest, SpikeTest
from streams.qc.state import SeriesState

_SECOND_US = 1_000_000

Params = TypeVar("Params")
# (elements, their flags)
Flagged = tuple[np.ndarray, np.ndarray]
# Each runner and trust function takes its own test's parameters (a GapTest, a SpikeTest, ...); the
# table at the end holds them side by side, so its rows take the parameters as Any.
Runner = Callable[[Batch, Any, np.ndarray], Flagged]
Trust = Callable[[Batch, np.ndarray, Any], np.ndarray]


def _run_pointwise(
    check: Callable[[np.ndarray, Params], np.ndarray],
) -> Callable[[Batch, Params, np.ndarray], Flagged]:
    def run(batch: Batch, params: Params, items: np.ndarray) -> Flagged:
        elements = batch.elements(items, dirty_only=True)
        return elements, check(batch.values[elements], params)

    return run


def _run_climatology(batch: Batch, _: None, items: np.ndarray) -> Flagged:
    # One group for every series (its spans are a per-series table look-up): no shared parameters.
    elements = batch.elements(items, dirty_only=True)
    tests = [batch.works[i].config.climatology for i in items.tolist()]
    rank = np.searchsorted(items, batch.item[elements])
    return elements, checks.climatology(batch.values[elements], batch.times_us[elements], tests, rank)


def _dirty_part(batch: Batch, elements: np.ndarray, flags: np.ndarray) -> Flagged:
    is_dirty = batch.is_dirty(elements)
    return elements[is_dirty], flags[is_dirty]


def _run_spike(batch: Batch, params: SpikeTest, items: np.ndarray) -> Flagged:
    # Runs joined with no separator (every NaN costs ioos_qc a slow masked write): only a run's
    # last reading (its series' newest) and first reading see another series as a neighbour. The
    # first is context unless it starts its series; both get what ioos_qc gives an array's ends:
    # 2 (not evaluated), or 9 when the value is missing.
    elements = batch.elements(items, dirty_only=False)
    flags = checks.spike(batch.values[elements], params)
    starts = run_starts(batch.item[elements])
    ends = np.append(starts[1:], len(elements)) - 1
    edges = np.concatenate([starts, ends])
    flags[edges] = np.where(np.isnan(batch.values[elements[edges]]), MISSING, NOT_EVALUATED)
    return _dirty_part(batch, elements, flags)


def _run_rate_of_change(batch: Batch, params: RateOfChangeTest, items: np.ndarray) -> Flagged:
    # A copy of a run's first reading one second before it gives that reading a zero rate: GOOD,
    # or MISSING when it is missing, which is what ioos_qc gives the first point of an array.
    elements = batch.elements(items, dirty_only=False)
    starts = run_starts(batch.item[elements])
    first = elements[starts]
    values = np.insert(batch.values[elements], starts, batch.values[first])
    times = np.insert(batch.times_us[elements], starts, batch.times_us[first] - _SECOND_US)
    flags = checks.rate_of_change(values, times, params)
    return _dirty_part(batch, elements, drop_separators(flags, starts))


def _run_gap(batch: Batch, params: GapTest, items: np.ndarray) -> Flagged:
    # Before each run a time mirrored from its second reading: ioos_qc gives an array's first point
    # the flag of its second one, and a run's first reading then sees the same interval. A run of
    # one reading gets NaT before it, which ioos_qc answers with 2 (not evaluated).
    elements = batch.elements(items, dirty_only=False)
    starts = run_starts(batch.item[elements])
    times = batch.times_us[elements]
    ends = np.append(starts[1:], len(elements))
    has_second = ends - starts >= 2
    second = times[np.minimum(starts + 1, len(times) - 1)]
    mirrored = np.where(has_second, 2 * times[starts] - second, 0).astype("datetime64[us]")
    mirrored[~has_second] = np.datetime64("NaT")
    joined = np.insert(times.astype("datetime64[us]"), starts, mirrored)
    flags = checks.gap(joined, params)
    return _dirty_part(batch, elements, drop_separators(flags, starts))


def _context(
    batch: Batch, items: np.ndarray, first: Callable[[int, SeriesState], int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Each item's readings from ``first(item, state)`` to its newest, joined; and their offsets."""
    starts = [first(int(i), batch.works[i].state) for i in items]
    states = [batch.works[i].state for i in items]
    times = np.concatenate([s.times_us[a:] for s, a in zip(states, starts, strict=True)])
    values = np.concatenate([s.values[a:] for s, a in zip(states, starts, strict=True)])
    lengths = np.array([len(s) - a for s, a in zip(states, starts, strict=True)], dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]])
    return times, values, np.array(starts, dtype=np.int64), offsets


def _positions(
    batch: Batch, elements: np.ndarray, items: np.ndarray, starts: np.ndarray, offsets: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Where elements of the items sit inside a context built by ``_context``, and their item's rank."""
    rank = np.searchsorted(items, batch.item[elements])
    return offsets[rank] + batch.local[elements] - starts[rank], rank


def _run_flat_line(batch: Batch, params: FlatLineTest, items: np.ndarray) -> Flagged:
    elements = batch.elements(items, dirty_only=True)
    values = batch.values[elements]
    flags = np.full(len(elements), GOOD, dtype=np.uint8)
    flags[np.isnan(values)] = MISSING
    # A reading that moved by at least the tolerance since the one before cannot end a flat line
    # (its window's range is at least that step): most readings are settled without their window.
    has_previous = batch.local[elements] >= 1
    with np.errstate(invalid="ignore"):
        moved = has_previous & (
            np.abs(values - batch.values[np.maximum(elements - 1, 0)]) >= params.tolerance
        )
    candidates = np.flatnonzero(~moved & ~np.isnan(values) & (batch.local[elements] >= params.suspect_count))
    if len(candidates):
        chosen = elements[candidates]
        owners = np.unique(batch.item[chosen])
        _, context, starts, offsets = _context(
            batch, owners, lambda i, _: max(int(batch.dirty_from[i]) - params.fail_count, 0)
        )
        positions, rank = _positions(batch, chosen, owners, starts, offsets)
        history = batch.local[chosen] - starts[rank]
        flags[candidates] = checks.flat_line(context, positions, history, params)
    return elements, flags


def _run_attenuated(batch: Batch, params: AttenuatedSignalTest, items: np.ndarray) -> Flagged:
    period_us = params.test_period * _SECOND_US

    def first(i: int, state: SeriesState) -> int:
        times = state.times_us
        return int(np.searchsorted(times, times[batch.dirty_from[i]] - period_us, side="right"))

    times, values, starts, offsets = _context(batch, items, first)
    # Shift each series onto its own stretch of time, more than one period after the previous one,
    # so the rolling time window of ioos_qc never reaches into another series.
    lengths = np.diff(np.append(offsets, len(times)))
    base = times[offsets]
    spans = times[offsets + lengths - 1] - base + period_us + _SECOND_US
    shift = np.concatenate([[0], np.cumsum(spans)[:-1]]) - base
    flags = checks.attenuated_signal(values, times + np.repeat(shift, lengths), params)
    elements = batch.elements(items, dirty_only=True)
    positions, _ = _positions(batch, elements, items, starts, offsets)
    return elements, flags[positions]


# ---------------------------------------------------------------- when a computed flag is exact
# A test's result is kept only where its whole context is still retained; elsewhere the reading
# keeps the flag it had (2 for a reading never flagged before).


def _always(batch: Batch, elements: np.ndarray, params: object) -> np.ndarray:
    return np.ones(len(elements), dtype=bool)


def _after_first(batch: Batch, elements: np.ndarray, params: object) -> np.ndarray:
    trusted: np.ndarray = (batch.local[elements] >= 1) | ~batch.evicted[batch.item[elements]]
    return trusted


def _flat_line_trusted(batch: Batch, elements: np.ndarray, params: FlatLineTest) -> np.ndarray:
    trusted: np.ndarray = (batch.local[elements] >= params.fail_count) | ~batch.evicted[batch.item[elements]]
    return trusted


def _attenuated_trusted(batch: Batch, elements: np.ndarray, params: AttenuatedSignalTest) -> np.ndarray:
    item = batch.item[elements]
    horizon = batch.times_us[elements] - params.test_period * _SECOND_US
    trusted: np.ndarray = ~batch.evicted[item] | (batch.evicted_until_us[item] <= horizon)
    return trusted


RUNNERS: list[tuple[str, Runner, Trust, bool]] = [
    # (test, runner, where its result is exact, one call per shared parameter set)
    ("gap", _run_gap, _after_first, True),
    ("gross_range", _run_pointwise(checks.gross_range), _always, True),
    ("climatology", _run_climatology, _always, False),
    ("spike", _run_spike, _after_first, True),
    ("rate_of_change", _run_rate_of_change, _after_first, True),
    ("flat_line", _run_flat_line, _flat_line_trusted, True),
    ("attenuated_signal", _run_attenuated, _attenuated_trusted, True),
]
