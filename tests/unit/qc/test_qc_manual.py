"""Operators' judgements over automatic QC: the newest covering judgement is a reading's flag."""

from __future__ import annotations

import numpy as np

from schemas.quality import QcResult
from streams.qc.manual import JudgementBook, apply_judgements

HOUR_US = 3_600_000_000
GOOD, SUSPECT, BAD, MISSING = 1, 3, 4, 9


def _result(station: str, variable: str, hour: int, value: float | None, flag: int = GOOD) -> QcResult:
    return QcResult(station, variable, hour * HOUR_US, value, flag, 17, False)


def test_the_newest_covering_judgement_wins_and_missing_values_keep_their_flag() -> None:
    flags = np.array([GOOD, GOOD, GOOD, MISSING, GOOD], dtype=np.int16)
    variable = np.array(["level", "level", "temp", "level", "level"], dtype=object)
    time_us = np.array([0, 1, 1, 2, 5], dtype=np.int64) * HOUR_US
    missing = np.array([False, False, False, True, False])
    apply_judgements(
        flags,
        variable,
        time_us,
        missing,
        [(None, 0, 3 * HOUR_US, BAD), ("level", HOUR_US, 6 * HOUR_US, SUSPECT)],
    )
    # hour 0: only the first judgement; hour 1: the newer one for level, the older one (all variables)
    # for temp; hour 2 missing: untouched; hour 5: the newer; [from, to) excludes to.
    assert flags.tolist() == [BAD, SUSPECT, BAD, MISSING, SUSPECT]
    edge = np.array([GOOD], dtype=np.int16)
    apply_judgements(edge, np.array(["level"], dtype=object), np.array([3 * HOUR_US]), np.array([False]),
                     [(None, 0, 3 * HOUR_US, BAD)])  # fmt: skip
    assert edge.tolist() == [GOOD]


def test_the_book_overrules_only_judged_stations_and_keeps_the_tests() -> None:
    book = JudgementBook()
    results = [
        _result("a", "level", 1, 2.0),
        _result("b", "level", 1, 2.0),
        _result("a", "level", 1, None, 9),
    ]
    assert book.overrule(results) is results  # nothing judged: the same list
    book.add(7, "a", ("level", 0, 2 * HOUR_US, BAD))
    book.add(7, "a", ("level", 0, 2 * HOUR_US, GOOD))  # the same judgement read twice: held once
    book.add(3, "b", (None, 0, 2 * HOUR_US, BAD))  # older than the newest held: already read
    out = book.overrule(results)
    assert [(r.station, r.flag) for r in out] == [("a", BAD), ("b", GOOD), ("a", 9)]
    assert out[0].tests == results[0].tests and out[0].value == results[0].value
    assert book.overrule([results[1]]) == [results[1]]
    book.add(9, "a", (None, HOUR_US, 2 * HOUR_US, SUSPECT))
    assert book.overrule(results)[0].flag == SUSPECT and book.newest_id == 9
