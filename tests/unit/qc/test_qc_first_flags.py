"""The alert engine's view of QC results: a reading's first flags as if it had arrived alone."""

from __future__ import annotations

import numpy as np

from schemas.registry import load_registry
from streams.qc import QcEngine, Readings, load_qc_config
from streams.qc.first_flags import alert_view

T0_US = 1_700_000_000_000_000
STEP_US = 60_000_000
LEVELS = [2.0, 2.01, 2.02, 5.2, 2.03, 2.04, 2.05, 2.06, 2.07]  # a spike at the fourth reading


def run(batches: list[list[int]]) -> list[tuple]:
    """(minute, flag, tests, revised) of every result the alert engine is given, batch by batch."""
    engine = QcEngine(load_qc_config(load_registry()))
    out = []
    for batch in batches:
        results = engine.process(
            Readings(
                ["dalian"] * len(batch),
                ["water_level_m"] * len(batch),
                np.array([T0_US + i * STEP_US for i in batch], dtype=np.int64),
                np.array([LEVELS[i] for i in batch]),
            )
        )
        out += [((r.time_us - T0_US) // STEP_US, r.flag, r.tests, r.revised) for r in alert_view(results)]
    return out


def relevant(results: list[tuple]) -> list[tuple]:
    """Drop revisions that repeat what the reading's previous result said (flag and failing tests)."""
    shown: dict[int, tuple] = {}
    out = []
    for minute, flag, tests, revised in results:
        failing = tuple((tests >> (4 * i)) & 0xF in (3, 4) for i in range(8))
        if revised and shown.get(minute) == (flag, failing):
            continue
        shown[minute] = (flag, failing)
        out.append((minute, flag, failing, revised))
    return out


def test_every_batching_gives_the_same_sequence():
    alone = run([[i] for i in range(len(LEVELS))])
    for size in (2, 3, len(LEVELS)):
        batched = run([list(range(i, min(i + size, len(LEVELS)))) for i in range(0, len(LEVELS), size)])
        assert relevant(batched) == relevant(alone), size


def test_a_spike_is_first_suspect_then_failed():
    view = relevant(run([list(range(len(LEVELS)))]))
    spike = [(flag, revised) for minute, flag, _, revised in view if minute == 3]
    # First as it stood alone (the rate of change flags it suspect), then the spike test fails it.
    assert spike == [(3, False), (4, True)]
