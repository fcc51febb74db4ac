"""What the rules read: observations of readings (with their QC result) and indicators.

An observation is one value of one station at one event time. A QC rule reads the QC flag and the
tests that raised it from the reading observation itself, so the stream layer sends each reading once.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.qc.flags import TESTS

READING = "reading"
INDICATOR = "indicator"
QC = "qc"

OBSERVATION_KINDS = (READING, INDICATOR)
RULE_INPUT_KINDS = (READING, QC, INDICATOR)

# QARTOD flags (ioos_qc.qartod): 1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing.
QC_FLAGS = (1, 2, 3, 4, 9)
# The tests a QC rule may name: the ones the stream's QC engine runs and reports.
QC_TESTS = TESTS


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    """An indicator the indicator processors publish; `max_level` is set for ordinal levels."""

    name: str
    max_level: int | None = None


INDICATORS: dict[str, IndicatorSpec] = {
    spec.name: spec
    for spec in (
        IndicatorSpec("water_level_warning", 4),
        IndicatorSpec("wave_warning", 4),
        IndicatorSpec("surge_m"),
        IndicatorSpec("mhw_category", 4),
        IndicatorSpec("bloom_risk", 3),
        IndicatorSpec("salt_intrusion", 1),
        IndicatorSpec("do_saturation_pct"),
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
    qc_tests: tuple[str, ...] = ()

    def sort_key(self) -> tuple[int, str, str]:
        """Total order within a station, so equal-time observations settle the same way every run."""
        return (self.time_us, self.kind, self.name)

    def to_list(self) -> list:
        return [
            self.station,
            self.kind,
            self.name,
            self.time_us,
            self.value,
            self.qc_flag,
            list(self.qc_tests),
        ]

    @classmethod
    def from_list(cls, data: list) -> Observation:
        station, kind, name, time_us, value, qc_flag, tests = data
        return cls(station, kind, name, int(time_us), value, qc_flag, tuple(tests))
