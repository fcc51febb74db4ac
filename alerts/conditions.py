"""Judge one observation against a rule's condition: the severity rank it supports (0 = clear).

Hysteresis and "n consecutive" need memory per input name (a QC rule watches every variable of a
station), kept as ``memory[name] = [level, count]`` in the alert state so it serialises with it.
"""

from __future__ import annotations

from alerts.inputs import Observation
from alerts.rules import Band, Condition, LevelCondition, QcCondition, ThresholdCondition

Memory = dict[str, list[int]]


def _enters(band: Band, direction: str, value: float) -> bool:
    return value >= band.enter if direction == "above" else value <= band.enter


def _stays(band: Band, direction: str, value: float) -> bool:
    return value > band.exit if direction == "above" else value < band.exit


def threshold_level(condition: ThresholdCondition, previous: int, value: float) -> int:
    """The band a value enters, or a band at most as severe as `previous` it has not yet left."""
    entered = [b.severity for b in condition.bands if _enters(b, condition.direction, value)]
    held = [
        b.severity
        for b in condition.bands
        if b.severity <= previous and _stays(b, condition.direction, value)
    ]
    return max([0, *entered, *held])


def level_severity(condition: LevelCondition, value: float) -> int:
    """The severity of the highest mapped level at or below an indicator level."""
    mapped = [sev for level, sev in condition.severities.items() if level <= round(value)]
    return max([0, *mapped])


def qc_flagged(condition: QcCondition, observation: Observation) -> bool:
    flag = observation.qc_flag
    if flag is None or flag == 9 or flag < condition.flag_at_least:
        return False
    return not condition.tests or bool(condition.tests.intersection(observation.qc_tests))


def judge(condition: Condition, memory: Memory, observation: Observation) -> int | None:
    """Update `memory` with one observation and return the rule's severity rank now (max over input
    names), or None when the observation says nothing about this condition."""
    previous, count = memory.get(observation.name, [0, 0])
    if isinstance(condition, QcCondition):
        if observation.qc_flag is None:
            return None
        count = count + 1 if qc_flagged(condition, observation) else 0
        level = condition.severity if count >= condition.consecutive else 0
        count = min(count, condition.consecutive)
    elif observation.value is None:
        return None
    elif isinstance(condition, ThresholdCondition):
        level = threshold_level(condition, previous, observation.value)
    elif isinstance(condition, LevelCondition):
        level = level_severity(condition, observation.value)
    else:
        return None
    if level or count:
        memory[observation.name] = [level, count]
    else:
        memory.pop(observation.name, None)
    return max((lv for lv, _ in memory.values()), default=0)
