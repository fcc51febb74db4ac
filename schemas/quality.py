"""The QC contract: QARTOD flag values, the compact per-test encoding stored with every reading, and
the QC result the stream agents, the alert engine and the database layer share.

A reading keeps its aggregate flag and the flag each test gave it. The per-test flags are packed
into one integer, four bits per test in the fixed order of ``TESTS`` (0 = test not configured),
so a database column or a Kafka record carries them without a JSON object per reading; written in
hexadecimal the code reads test by test, lowest digit first.
"""

from __future__ import annotations

import msgspec
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
    codes: np.ndarray = (columns.astype(np.int64) << _SHIFTS).sum(axis=1)
    return codes


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


class QcResult(msgspec.Struct, frozen=True, gc=False):
    """The flags of one reading: aggregate QARTOD flag and the packed flag of each test.

    ``revised`` is False for a reading's first result and True for a later correction (a spike
    confirmed by the next sample, a late reading changing its neighbours): store by upsert on
    (station, variable, time_us).
    """

    station: str
    variable: str
    time_us: int
    value: float | None
    flag: int
    tests: int
    revised: bool

    def test_flags(self) -> dict[str, int]:
        return decode(self.tests)
