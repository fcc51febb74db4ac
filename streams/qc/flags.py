"""The aggregate QARTOD flag of a reading from its test flags (the flag values are in ``schemas.quality``)."""

from __future__ import annotations

import numpy as np

from schemas.quality import FAIL, GOOD, MISSING, NOT_EVALUATED, SUSPECT

# qartod_compare's precedence, lowest first: MISSING < NOT_EVALUATED < GOOD < SUSPECT < FAIL.
_RANK = np.zeros(16, dtype=np.uint8)
_RANK[[MISSING, NOT_EVALUATED, GOOD, SUSPECT, FAIL]] = [1, 2, 3, 4, 5]
_BY_RANK = np.array([NOT_EVALUATED, MISSING, NOT_EVALUATED, GOOD, SUSPECT, FAIL], dtype=np.uint8)


def aggregate(columns: np.ndarray, missing_value: np.ndarray) -> np.ndarray:
    """Aggregate flag per reading: the worst test flag, by ioos_qc ``qartod_compare``'s precedence.

    Computed here as a table look-up (``qartod_compare`` costs ~1 ms a call whatever its size; the
    tests check both agree). Two rules on top: a reading whose value is missing is 9 whatever the
    time-only gap test says, and a reading no test ran on is 2 (not evaluated) rather than 9.
    """
    worst: np.ndarray = _BY_RANK[_RANK[columns].max(axis=1, initial=0)]
    worst[missing_value] = MISSING
    return worst
