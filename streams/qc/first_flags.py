"""QC results as the alert engine must see them: the same sequence whatever the QC batching.

A reading that arrives alone gets its first flags without the spike test (it needs the next reading)
and a revision when the next one comes; a reading whose successor arrived in the same batch gets its
final flags at once. Judged on those as they stand, an alert would depend on how readings happened
to be batched. So each first result is given as it would have been alone (look-ahead tests not yet
evaluated), followed by the final flags as a revision where they differ in what a rule reads (the
aggregate flag or the tests that flag it suspect or bad); revisions pass through. In data-time order
per partition, every batching then gives the alert engine the identical sequence.
"""

from __future__ import annotations

import numpy as np

from schemas.quality import NOT_EVALUATED, TEST_INDEX, QcResult, pack, unpack
from streams.qc.flags import aggregate

# Tests that judge a reading by the readings after it.
LOOK_AHEAD_TESTS = ("spike",)
_COLUMNS = [TEST_INDEX[t] for t in LOOK_AHEAD_TESTS]


def alert_view(results: list[QcResult]) -> list[QcResult]:
    """First flags as if alone, then final ones as revisions; sorted (time, revised, station, variable)."""
    first = [r for r in results if not r.revised]
    out = [r for r in results if r.revised]
    if first:
        columns = unpack(np.array([r.tests for r in first], dtype=np.int64))
        looked_ahead: np.ndarray = columns[:, _COLUMNS]
        alone = columns.copy()
        alone[:, _COLUMNS] = np.where(looked_ahead > 0, NOT_EVALUATED, 0)
        missing = np.array([r.value is None for r in first])
        flags = aggregate(alone, missing).tolist()
        codes = pack(alone).tolist()
        flagged: np.ndarray = np.any(looked_ahead >= 3, axis=1)
        changed = flagged.tolist()
        for r, flag, code, flagged_ahead in zip(first, flags, codes, changed, strict=True):
            if flag == r.flag and code == r.tests:
                out.append(r)
                continue
            out.append(QcResult(r.station, r.variable, r.time_us, r.value, flag, code, False))
            if flag != r.flag or flagged_ahead:
                out.append(QcResult(r.station, r.variable, r.time_us, r.value, r.flag, r.tests, True))
    out.sort(key=lambda r: (r.time_us, r.revised, r.station, r.variable))
    return out
