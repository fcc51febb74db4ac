"""QARTOD flag values and the compact per-test encoding stored with every reading.

A reading keeps its aggregate flag and the flag each test gave it. The per-test flags are packed
into one integer, four bits per test in the fixed order of ``TESTS`` (0 = test not configured),
so a database column or a Kafka record carries them without a JSON object per reading; written in
hexadecimal the code reads test by test, lowest digit first.
"""

from __future__ import annotations

import numpy as np
from ioos_qc.qartod import QartodFlags

GOOD = QartodFlags.GOOD
NOT_EVALUATED = QartodFlags.UNKNOWN
SUSPECT = QartodFlags.SUSPECT
FAIL = QartodFlags.FAIL
MISSING = QartodFlags.MISSING
NOT_RUN = 0

# Append only: the position of a test is part of every stored code.
TESTS: tuple[str, ...] = (
    "gap",
    "location",
    "gross_range",
    "climatology",
    "spike",
    "rate_of_change",
    "flat_line",
    "attenuated_signal",
)
TEST_INDEX = {name: i for i, name in enumerate(TESTS)}
_NIBBLE = 4
_SHIFTS = np.arange(len(TESTS), dtype=np.int64) * _NIBBLE


def pack(columns: np.ndarray) -> np.ndarray:
    """(n, len(TESTS)) flags → n packed codes."""
    return (columns.astype(np.int64) << _SHIFTS).sum(axis=1)


def unpack(codes: np.ndarray) -> np.ndarray:
    """n packed codes → (n, len(TESTS)) flags (uint8, 0 where a test is not configured)."""
    return ((np.asarray(codes, dtype=np.int64)[:, None] >> _SHIFTS) & 0xF).astype(np.uint8)


def decode(code: int) -> dict[str, int]:
    """One packed code → {test: flag} for the tests that ran."""
    out = {}
    for i, name in enumerate(TESTS):
        flag = (code >> (i * _NIBBLE)) & 0xF
        if flag:
            out[name] = flag
    return out


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
    worst = _BY_RANK[_RANK[columns].max(axis=1, initial=0)]
    worst[missing_value] = MISSING
    return worst
