"""QC results and indicators sent twice by a worker that died between sending and storing them (issue 12).

The QC agent hands its results to the alert engine's log before it stores their rows; a worker that
dies in between leaves the readings unstored, so the next one judges and sends them again, right after
the first copies. Judged twice, a night of oxygen readings replayed after newer ones escalates and
de-escalates an alert that never did. Each result carries the offset of the readings record it came
from and ``SourceWatermark`` lets only results newer than what the engine has judged through.
"""

from __future__ import annotations

import numpy as np

from alerts import AlertEngine
from alerts.inputs import indicator_observations, reading_observation
from schemas.indicators import Indicator
from schemas.topics import IndicatorBatch, ObservationBatch
from streams.qc import QcResult
from streams.watermark import SourceWatermark

STATION, OXYGEN = "changhai-seagrass", "dissolved_oxygen_mg_l"
T0_US = 1_790_000_000 * 1_000_000
STEP_US = 600_000_000  # a reading every 10 minutes


def night() -> list[ObservationBatch]:
    """A hypoxic night, one readings record per reading (offsets 0, 1, …), as QC sends it on."""
    hours = np.arange(144) / 6.0
    oxygen = 5.0 - 3.6 * np.exp(-(((hours - 12.0) / 2.5) ** 2))
    return [
        ObservationBatch(
            [QcResult(STATION, OXYGEN, T0_US + i * STEP_US, round(float(v), 3), 1, 0, False)],
            T0_US + i * STEP_US,
            [i],
        )
        for i, v in enumerate(oxygen)
    ]


def judge(
    log: list[ObservationBatch] | list[IndicatorBatch], engine: AlertEngine, watermark: SourceWatermark | None
) -> list:
    """The events of a log of QC-result or indicator records, as the alert agent judges them."""
    events = []
    for batch in log:
        items = batch.results if isinstance(batch, ObservationBatch) else batch.items
        if watermark is not None:
            items = watermark.fresh(0, batch.wall_us, items, batch.sources)[0]
        if isinstance(batch, ObservationBatch):
            observations = [reading_observation(r) for r in items]
        else:
            observations = indicator_observations(items)
        events += engine.observe(observations, batch.wall_us)
    return [(e.alert_id, e.seq, e.kind, e.severity, e.time_us) for e in events]


def test_repeats_after_a_crash_change_nothing(registry, rules, channels) -> None:
    log = night()
    expected = judge(log, AlertEngine(registry, rules, channels), None)
    assert {"firing", "escalated", "resolved"} <= {e[2] for e in expected}
    differs_without = 0
    for crash in range(10, len(log), 13):
        for sent_again in (1, 6, 30):
            # The dead worker's last records, sent again by its successor right after the originals
            # (one batch of its own, stamped when the successor sent it).
            again = [
                ObservationBatch(b.results, log[crash - 1].wall_us + 20_000_000, b.sources)
                for b in log[max(0, crash - sent_again) : crash]
            ]
            replayed = log[:crash] + again + log[crash:]
            got = judge(replayed, AlertEngine(registry, rules, channels), SourceWatermark())
            assert got == expected, (crash, sent_again)
            differs_without += judge(replayed, AlertEngine(registry, rules, channels), None) != expected
    assert differs_without > 0  # the repeats do change the history when judged again


def test_a_batch_in_several_records_passes_whole_and_counts_once_complete() -> None:
    mark = SourceWatermark()
    result = QcResult(STATION, OXYGEN, 1, 5.0, 1, 0, False)
    # One QC batch in two records (same wall time), its sources in time order, not offset order.
    assert mark.fresh(2, 100, [result] * 3, [4, 7, 5])[1] == 0
    assert mark.fresh(2, 100, [result] * 2, [6, 3])[1] == 0
    # The next batch: everything up to offset 7 has been judged; a successor's repeats are skipped.
    kept, repeated = mark.fresh(2, 200, [result] * 3, [6, 7, 9])
    assert (len(kept), repeated) == (1, 2) and mark.state(2) == [7, 200, 9]
    assert mark.state(3) == [-1, 0, -1]  # partitions are apart
    assert mark.fresh(2, 300, [result], []) == ([result], 0)  # records without sources pass
    # An item no record made (a tide model's indicators: source -1) always passes, moving nothing.
    assert mark.fresh(2, 400, [result, result], [-1, 12]) == ([result, result], 0)
    assert mark.fresh(2, 500, [result, result], [-1, 12]) == ([result], 1)


BLOOM = "bloom_risk"


def bloom_days() -> list[IndicatorBatch]:
    """Bloom risk rising to a bloom and falling back, one indicator batch per observations record."""
    levels = [0, 1, 1, 2, 3, 3, 2, 1, 0, 0, 1, 2, 2, 1, 0]
    return [
        IndicatorBatch(
            [Indicator(STATION, BLOOM, T0_US + i * 3_600_000_000, float(level), "1")],
            T0_US + i * 3_600_000_000,
            [i],
        )
        for i, level in enumerate(levels)
    ]


def test_indicators_sent_again_after_a_crash_change_nothing(registry, rules, channels) -> None:
    log = bloom_days()
    expected = judge(log, AlertEngine(registry, rules, channels), None)
    assert {"firing", "escalated", "resolved"} <= {e[2] for e in expected}
    differs_without = 0
    for crash in range(2, len(log)):
        for sent_again in (1, 3, 8):
            again = [
                IndicatorBatch(b.items, log[crash - 1].wall_us + 20_000_000, b.sources)
                for b in log[max(0, crash - sent_again) : crash]
            ]
            replayed = log[:crash] + again + log[crash:]
            got = judge(replayed, AlertEngine(registry, rules, channels), SourceWatermark())
            assert got == expected, (crash, sent_again)
            differs_without += judge(replayed, AlertEngine(registry, rules, channels), None) != expected
    assert differs_without > 0  # judged again, the repeats do change the history
