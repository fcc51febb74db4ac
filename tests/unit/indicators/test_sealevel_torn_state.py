"""A worker killed while writing a gauge's state leaves only part of that write in the changelog.

The pieces of one export go to the changelog one record at a time, so a SIGKILL (or a new owner that
read the changelog while the old one was still writing) can leave any prefix of them. The new owner
restores from that prefix and receives again every reading after the last committed offset, which is
never past the start of the torn write. Whatever the cut, the restored state must end where the
uninterrupted one does: no reading counted twice or lost in the interval means (issue 12: Yingkou's
daily mean was 31 readings too high after a takeover in the two-worker test).
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from test_sealevel_tide import synthetic_series

from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.stream import SeaLevelState
from tests.unit.indicators.changelog import torn_table

CFG = SeaLevelConfig("synthetic", 360.0)
MEANS = ("msl_hourly_m", "msl_daily_m", "msl_monthly_m")


@pytest.fixture(scope="module")
def feed() -> list[tuple[np.ndarray, np.ndarray]]:
    """Three and a half days of 6-minute readings across a month's end (2024-02-28 → 03-02), in
    batches of 12: the 48-h window evicts whole slots from the second day on."""
    times, levels, _ = synthetic_series(1.5, step_s=360, noise_m=0.02, seed=3, start_day=-2.0)
    return [(times[i : i + 12], levels[i : i + 12]) for i in range(0, times.size, 12)]


def _writes(feed: list[tuple[np.ndarray, np.ndarray]]) -> tuple[list[list[tuple[str, object]]], list, list]:
    """The changelog records of every batch in the order they are written, and the state (its full
    export and its interval sums) after each."""
    state = SeaLevelState(CFG)
    writes, states, sums = [], [], []
    for times, levels in feed:
        state.update("water_level_m", times, levels)
        writes.append([(k, json.loads(json.dumps(v))) for k, v in state.export().items()])
        states.append(json.loads(json.dumps(state.export(full=True))))
        sums.append(copy.deepcopy(state.sums))
    return writes, states, sums


def test_a_torn_state_write_then_the_replay_ends_where_the_uninterrupted_state_does(feed) -> None:
    writes, states, sums = _writes(feed)
    evicting = [b for b, records in enumerate(writes) if any(v is None for _, v in records)]
    assert evicting, "the feed must be long enough to evict slots"
    batches = sorted({*evicting, *range(1, len(feed), 7)})
    torn = 0
    for batch in batches:
        for cut in range(1, len(writes[batch])):
            for replay_from in (batch, batch - 1):
                state = SeaLevelState.from_pieces(CFG, torn_table(writes, batch, cut))
                end = min(len(feed), batch + 3)
                for times, levels in feed[replay_from:end]:
                    state.update("water_level_m", times, levels)
                expected = states[end - 1]
                assert state.sums == sums[end - 1], (batch, cut, replay_from)
                got = json.loads(json.dumps(state.export(full=True)))
                for piece in expected:
                    if piece.startswith("raw/") or piece in ("closed", "head"):
                        assert got.get(piece) == expected[piece], (batch, cut, replay_from, piece)
                assert got.keys() == expected.keys(), (batch, cut, replay_from)
                torn += 1
    assert torn > 100


def test_the_means_after_a_torn_write_equal_the_batch(feed) -> None:
    """End to end on the emitted values: a cut in the middle of every evicting batch, then the rest."""
    writes, _, _ = _writes(feed)
    times = np.concatenate([t for t, _ in feed])
    levels = np.concatenate([v for _, v in feed])
    batch = {
        (r.indicator, r.time_us): r.value
        for r in compute_indicators(CFG, times, levels, [])
        if r.indicator in MEANS
    }
    for torn in [b for b, records in enumerate(writes) if any(v is None for _, v in records)][:6]:
        state = SeaLevelState(CFG)
        last: dict[tuple[str, int], float | None] = {}
        for times_b, levels_b in feed[:torn]:
            for r in state.update("water_level_m", times_b, levels_b):
                last[(r.indicator, r.time_us)] = r.value
        state = SeaLevelState.from_pieces(CFG, torn_table(writes, torn, len(writes[torn]) // 2))
        for times_b, levels_b in feed[torn:]:
            for r in state.update("water_level_m", times_b, levels_b):
                last[(r.indicator, r.time_us)] = r.value
        means = {k: v for k, v in last.items() if k[0] in MEANS and v is not None}
        assert means == batch, torn


def test_a_version_2_state_is_taken_over_with_its_sums(feed) -> None:
    """Version 2 stored the sums whole beside the raw readings: a restore derives the closed part from
    them, and the next export writes the closed piece and deletes the old one."""
    state = SeaLevelState(CFG)
    half = len(feed) * 2 // 3
    for times, levels in feed[:half]:
        state.update("water_level_m", times, levels)
    v3 = json.loads(json.dumps(state.export(full=True)))
    assert any(v3["closed"][p] for p in ("day", "month")), "the feed must have evicted slots by now"
    v2 = {k: v for k, v in v3.items() if k != "closed"}
    v2["head"] = {**v2["head"], "version": 2}
    v2["sums"] = {p: [[k, n, s] for k, (n, s) in sorted(v.items())] for p, v in state.sums.items()}
    again = SeaLevelState.from_pieces(CFG, v2)
    assert again.sums == state.sums and again.closed == state.closed
    written = again.export()
    assert written["sums"] is None and written["closed"] == v3["closed"]
    for times, levels in feed[half:]:
        assert again.update("water_level_m", times, levels) == state.update("water_level_m", times, levels)
    assert again.export(full=True) == state.export(full=True)


def test_a_restored_state_writes_what_its_restore_finished(feed) -> None:
    """A cut between the closed sums and the deletion of the slots they took over leaves those slots in
    the changelog; the restore leaves them out, and its next export deletes them, so a second restore
    from the changelog holds every reading once and no slot the closed sums already hold."""
    writes, _, sums = _writes(feed)
    checked = 0
    for batch in range(1, len(feed) - 3):
        for cut in range(1, len(writes[batch])):
            table = torn_table(writes, batch, cut)
            state = SeaLevelState.from_pieces(CFG, table)
            for times, levels in feed[batch : batch + 3]:
                state.update("water_level_m", times, levels)
                for key, value in state.export().items():
                    if value is None:
                        table.pop(key, None)
                    else:
                        table[key] = json.loads(json.dumps(value))
            again = SeaLevelState.from_pieces(CFG, table)
            assert again.sums == sums[batch + 2], (batch, cut)
            evicted = table["closed"]["evicted_before_us"]  # type: ignore[index]
            stale = [k for k in table if k.startswith("raw/") and int(k[4:]) * state.width_us < evicted]
            assert not stale, (batch, cut, stale)
            checked += 1
    assert checked > 100
