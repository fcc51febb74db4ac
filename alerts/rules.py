"""The rule model: which stations, which input, which condition, how long, and what to say.

Rules are data (``alerts/rules/*.yaml``, parsed by ``alerts.loader``); these frozen objects are what
the evaluator reads. Thresholds that differ per station are resolved at load time from the registry,
so evaluation never looks anything up.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ANY_NAME = "*"


@dataclass(frozen=True, slots=True)
class Band:
    """One severity band of a threshold condition: enter at `enter`, stay until past `exit`."""

    severity: int
    enter: float
    exit: float


@dataclass(frozen=True, slots=True)
class ThresholdCondition:
    """`above` fires on high values (v >= enter, stays while v > exit); `below` on low values."""

    direction: str
    bands: tuple[Band, ...]


@dataclass(frozen=True, slots=True)
class LevelCondition:
    """An ordinal indicator (0 none … n) mapped to severities, e.g. water_level_warning 1 → blue."""

    severities: Mapping[int, int]


@dataclass(frozen=True, slots=True)
class QcCondition:
    """A sensor fault: `consecutive` readings of one variable flagged >= `flag_at_least` (by `tests`)."""

    flag_at_least: int
    tests: frozenset[str]
    consecutive: int
    severity: int


@dataclass(frozen=True, slots=True)
class SilentCondition:
    """No reading for more than `intervals` sampling intervals of the station."""

    intervals: float
    severity: int


Condition = ThresholdCondition | LevelCondition | QcCondition | SilentCondition


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    source: str
    title_en: str
    title_zh: str
    input_kind: str
    input_name: str
    for_us: int
    keep_firing_us: int
    renotify_us: int
    message_en: str
    message_zh: str
    skip_qc_flags: frozenset[int]
    # Per station the resolved condition (station thresholds differ), for the stations it applies to.
    conditions: Mapping[str, Condition] = field(default_factory=dict)

    def applies_to(self, station: str) -> bool:
        return station in self.conditions

    def reads(self, kind: str, name: str) -> bool:
        """Whether an observation (kind, name) is an input of this rule (QC rules read readings)."""
        wanted = "reading" if self.input_kind == "qc" else self.input_kind
        return kind == wanted and (self.input_name == ANY_NAME or self.input_name == name)
