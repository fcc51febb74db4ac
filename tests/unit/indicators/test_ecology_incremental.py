"""An update recomputes only what its changed day rows feed (issue 12): its records and the values it
remembers must equal those of recomputing every value that can still change, whatever the arrival
order, the chunking, single-variable samples and withdrawals of readings QC no longer rates good."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import numpy as np
import pytest

from schemas.records import Sample
from streams.indicators.ecology import EcologyState
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.ecology_helpers import late_arrivals
from tests.unit.indicators.test_ecology_streaming import (  # noqa: F401  (a fixture)
    CLIMATOLOGY,
    PARAMS,
    station_series,
)


def _mixed_feed(series: list[Sample], seed: int) -> list[list[Sample]]:
    """Late arrivals in random chunks; some samples split into one sample per variable, some readings
    withdrawn later (None) and some of those given back."""
    rng = np.random.default_rng(seed)
    samples: list[Sample] = []
    for sample in late_arrivals(series, 2 * DAY_US, seed):
        if rng.random() < 0.1:
            samples += [Sample(sample.time_us, {name: value}) for name, value in sample.values.items()]
        else:
            samples.append(sample)
        if rng.random() < 0.05:
            name = str(rng.choice(sorted(sample.values)))
            samples.append(Sample(sample.time_us, {name: None}))
            if rng.random() < 0.5:
                samples.append(Sample(sample.time_us, {name: sample.values[name]}))
    chunks, k = [], 0
    while k < len(samples):
        size = int(rng.choice([1, 1, 2, 5, 12, 48, 100]))
        chunks.append(samples[k : k + size])
        k += size
    return chunks


@pytest.mark.parametrize("seed", [3, 4])
def test_incremental_updates_equal_recomputing_every_open_value(station_series, seed):  # noqa: F811
    incremental = EcologyState("st", PARAMS, CLIMATOLOGY)
    full = EcologyState("st", PARAMS, CLIMATOLOGY)
    partial = 0
    for chunk in _mixed_feed(station_series, seed):
        full._stale = True  # as after a restore: every value that can still change is recomputed
        got, expected = incremental.update(chunk), full.update(chunk)
        assert got == expected
        assert incremental.emitted == {k: v for k, v in full.emitted.items() if v or k in incremental.emitted}
        assert incremental.export() == full.export()
        partial += len({day for s in chunk for day in [s.time_us // DAY_US]}) < len(incremental.raw)
    assert partial > 100  # most updates touched fewer days than are open


def test_a_sample_of_one_variable_leaves_the_other_families_alone(station_series):  # noqa: F811
    """A chlorophyll reading changes no oxygen, chemistry or heatwave row: their values are not
    recomputed, and nothing but the bloom values is emitted."""
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    state.update(station_series[:480])
    state.export()
    last = station_series[479]
    out = state.update([Sample(last.time_us, {"chlorophyll_ug_l": last.values["chlorophyll_ug_l"] + 5.0})])
    assert out and {r.indicator for r in out} <= {"chl_daily_mean_ug_l", "bloom_risk", "chl_baseline_ug_l"}
    assert {r.time_us for r in out} == {last.time_us // DAY_US * DAY_US}


# The full export of `stream_state` after the first 20 days, in batches of 24 samples, written by the
# code before issue 12 (main at 9186b50): dicts of floats for raw readings, lists in oxygen rows.
WRITTEN_BEFORE = Path(__file__).parent / "data" / "ecology_state_v3_main_9186b50.json.gz"


def test_a_state_written_before_compact_arrays_is_restored_and_continues(station_series):  # noqa: F811
    pieces = json.loads(gzip.decompress(WRITTEN_BEFORE.read_bytes()))
    restored = EcologyState.from_pieces(pieces, PARAMS, CLIMATOLOGY)
    assert json.loads(json.dumps(restored.export(full=True))) == pieces
    uninterrupted = EcologyState("st", PARAMS, CLIMATOLOGY)
    for k in range(0, 20 * 48, 24):
        uninterrupted.update(station_series[k : k + 24])
    assert json.loads(json.dumps(uninterrupted.export(full=True))) == pieces
    for k in range(20 * 48, 30 * 48, 24):
        batch = station_series[k : k + 24]
        assert restored.update(batch) == uninterrupted.update(batch)
    assert restored.export(full=True) == uninterrupted.export(full=True)
