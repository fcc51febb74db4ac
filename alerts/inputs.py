"""What the rules read: observations of readings (with their QC result) and indicators.

An observation is one value of one station at one event time. A QC rule reads the QC flag and the
tests that raised it from the reading observation itself, so the stream layer sends each reading once
(and again as a revision when later data change its QC flags; see ``AlertEngine.observe``).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from schemas.indicators import Indicator
from schemas.quality import TESTS, QcResult, decode

READING = "reading"
INDICATOR = "indicator"
QC = "qc"

OBSERVATION_KINDS = (READING, INDICATOR)
RULE_INPUT_KINDS = (READING, QC, INDICATOR)

# QARTOD flags (ioos_qc.qartod): 1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing.
QC_FLAGS = (1, 2, 3, 4, 9)
# The tests a QC rule may name: the ones the stream's QC engine runs and reports.
QC_TESTS = TESTS
# Tests that judge a reading by its neighbours, and how many readings in a row one bad value can make
# them flag. ioos_qc's spike test compares a reading with the mean of the readings before and after
# it: a spike more than twice the fail threshold fails both neighbours too (a simulated 3.2 m water
# level spike against the 1.0 m threshold fails three readings in a row). The rate of change flags
# the jump into a bad value and the jump back. Every other test judges a reading by itself (or by
# the readings before it): one bad value, one flagged reading.
QC_FLAGS_PER_BAD_VALUE: dict[str, int] = {"spike": 3, "rate_of_change": 2}


@dataclass(frozen=True, slots=True)
class RuleIndicator:
    """An indicator a rule may take as its input (not the catalogue entry, ``schemas.indicators``);
    `max_level` is set for ordinal levels."""

    name: str
    max_level: int | None = None


INDICATORS: dict[str, RuleIndicator] = {
    spec.name: spec
    for spec in (
        RuleIndicator("water_level_warning", 4),
        RuleIndicator("wave_warning", 4),
        RuleIndicator("surge_m"),
        RuleIndicator("mhw_category", 4),
        RuleIndicator("bloom_risk", 3),
        RuleIndicator("salt_intrusion", 1),
        RuleIndicator("do_saturation_pct"),
    )
}


@dataclass(frozen=True, slots=True)
class Observation:
    """One value of one station at one event time (int µs since the epoch, UTC)."""

    station: str
    kind: str
    name: str
    time_us: int
    value: float | None
    qc_flag: int | None = None
    # (test, flag) of each test that flagged the reading suspect (3) or failed it (4), by test name.
    qc_tests: tuple[tuple[str, int], ...] = ()
    # A later QC result for a reading already sent (its flags changed); see ``AlertEngine.observe``.
    revised: bool = False

    def sort_key(self) -> tuple[int, str, str]:
        """Total order within a station, so equal-time observations settle the same way every run."""
        return (self.time_us, self.kind, self.name)

    def failed(self, flag_at_least: int) -> frozenset[str]:
        """The tests that flagged this reading at least `flag_at_least`."""
        return frozenset(test for test, flag in self.qc_tests if flag >= flag_at_least)

    def to_list(self) -> tuple[Any, ...]:
        """Buffered form in the changelog table, a JSON array (a revision flag is not kept: it has been
        applied). The fields as they are, in a tuple (the test pairs are tuples too): written for every
        waiting reading after every batch, so it must be cheap; the observation itself is immutable."""
        return (self.station, self.kind, self.name, self.time_us, self.value, self.qc_flag, self.qc_tests)

    @classmethod
    def from_list(cls, data: list[Any]) -> Observation:
        station, kind, name, time_us, value, qc_flag, tests = data
        # A state written before per-test flags lists only names: each gets the reading's flag.
        pairs = tuple((t, int(qc_flag or 0)) if isinstance(t, str) else (str(t[0]), int(t[1])) for t in tests)
        return cls(station, kind, name, int(time_us), value, qc_flag, pairs)


def reading_observation(result: QcResult) -> Observation:
    """A QC result of the stream as a reading observation, with the tests that flagged it 3 or 4."""
    return Observation(
        result.station,
        READING,
        result.variable,
        result.time_us,
        result.value,
        result.flag,
        tuple(sorted((t, flag) for t, flag in decode(result.tests).items() if flag in (3, 4))),
        result.revised,
    )


def indicator_observations(items: Iterable[Indicator]) -> list[Observation]:
    """Indicator values at their own data time; a None value retracts one and is not judged."""
    return [
        Observation(item.station, INDICATOR, item.indicator, item.time_us, item.value)
        for item in items
        if item.value is not None
    ]
