"""The stream's incremental high/low-water search equals the whole-window search after every update."""

from __future__ import annotations

import numpy as np
import pytest
from test_sealevel_tide import T0_US, US_PER_DAY, synthetic_series

from streams.indicators.sealevel.compute import SeaLevelConfig
from streams.indicators.sealevel.extrema import find_extrema
from streams.indicators.sealevel.means import to_um
from streams.indicators.sealevel.stream import SeaLevelState
from tests.unit.indicators.changelog import apply_pieces

CFG = SeaLevelConfig("synthetic", 60.0)


def test_a_range_search_finds_exactly_what_the_whole_search_finds_there() -> None:
    times, levels, _ = synthetic_series(3, noise_m=0.03, seed=21)
    level_um = to_um(levels)
    whole = find_extrema(times, level_um)
    assert len(whole) >= 10
    for lo_h, hi_h in ((0, 3), (5, 9.5), (20, 44), (66, 72), (-5, 100)):
        lo, hi = T0_US + int(lo_h * 3.6e9), T0_US + int(hi_h * 3.6e9)
        assert find_extrema(times, level_um, None, lo, hi) == [e for e in whole if lo <= e.anchor_us <= hi]


@pytest.mark.parametrize("seed", [1, 2])
def test_incremental_search_equals_the_whole_window_after_every_update(seed: int) -> None:
    # Four days of 1-minute readings with a surge and a 3-h gap, arriving late and out of order in
    # batches of 1-30, with withdrawals (QC downgrades) and a restart: the window slides and evicts.
    rng = np.random.default_rng(seed)
    times, levels, _ = synthetic_series(4, noise_m=0.03, seed=seed, surge_peak_day=2.5)
    keep = (times < T0_US + int(1.3 * US_PER_DAY)) | (
        times > T0_US + int(1.3 * US_PER_DAY) + 3 * 3_600_000_000
    )
    times, levels = times[keep], levels[keep]
    order = np.argsort(times + rng.integers(0, 3 * 3_600_000_000, times.size), kind="stable")
    state = SeaLevelState(CFG)
    changelog: dict[str, object] = {}
    position, updates, checked = 0, 0, 0
    while position < order.size:
        size = int(rng.integers(1, 30))
        chunk = order[position : position + size]
        position += size
        flags = np.where(rng.random(chunk.size) < 0.03, 4, 1)
        state.update("water_level_m", times[chunk], levels[chunk], flags)
        updates += 1
        apply_pieces(changelog, state.export())
        if updates % 97 == 0:
            state = SeaLevelState.from_pieces(CFG, changelog)
        if state._found is not None:
            raw_t, raw_um = state._raw_arrays()
            # What the next update searches with (its edges redone after the eviction), where only the
            # last reading changed: everything kept from earlier updates must still be exact.
            last = int(raw_t[-1])
            assert state._search(raw_t, raw_um, (last, last)) == find_extrema(raw_t, raw_um)
            checked += 1
    assert checked > updates * 0.9 and len(state._found or {}) >= 6
