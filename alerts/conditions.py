"""Judge one observation against a rule's condition: the severity rank it supports (0 = clear).

Hysteresis and "n consecutive" need memory per input name (a QC rule watches every variable of a
station), kept as ``memory[name] = [level, *counts]`` in the alert state so it serialises with it.
"""

from __future__ import annotations

from alerts.inputs import QC_FLAGS_PER_BAD_VALUE, Observation
from alerts.rules import Band, Condition, LevelCondition, QcCondition, ThresholdCondition

Memory = dict[str, list[int]]

# Per run counter of a QC rule (its memory after the level): how many readings in a row one bad value
# can flag. First the tests that judge a reading by itself, then each neighbour test.
_PER_BAD_VALUE = (1, *QC_FLAGS_PER_BAD_VALUE.values())
_NO_HITS = (False,) * len(_PER_BAD_VALUE)


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


def qc_hits(condition: QcCondition, observation: Observation) -> tuple[bool, ...]:
    """Which run counters this reading extends: (a test judging the reading by itself flagged it,
    then each neighbour test (``QC_FLAGS_PER_BAD_VALUE``) flagged it), at ``flag_at_least`` or worse.

    A reading whose aggregate flag qualifies but whose tests are not listed counts as flagged by itself.
    """
    flag = observation.qc_flag
    if flag is None or flag == 9 or flag < condition.flag_at_least:
        return _NO_HITS
    tests = observation.failed(condition.flag_at_least)
    if condition.tests:
        tests &= condition.tests
        if not tests:
            return _NO_HITS
    neighbours = tests & QC_FLAGS_PER_BAD_VALUE.keys()
    return (bool(tests - neighbours) or not tests, *(t in neighbours for t in QC_FLAGS_PER_BAD_VALUE))


def bad_in_a_row(condition: QcCondition, runs: list[int], observation: Observation) -> tuple[int, list[int]]:
    """How many bad values the latest run of flagged readings shows at least, and the updated runs
    (empty when no run goes on).

    A run of a neighbour test's flags shows the fewest bad values that explain it: an isolated spike
    (the spike test fails it and both neighbours) is one bad value, two spikes at most two, so the
    count reaches ``consecutive`` only when that many values are bad.
    """
    hits = qc_hits(condition, observation)
    if hits is _NO_HITS:
        return 0, []
    runs = [*runs, *[0] * len(_PER_BAD_VALUE)][: len(_PER_BAD_VALUE)]
    runs = [
        min(run + 1, condition.consecutive * per) if hit else 0
        for run, hit, per in zip(runs, hits, _PER_BAD_VALUE, strict=True)
    ]
    return max(-(-run // per) for run, per in zip(runs, _PER_BAD_VALUE, strict=True)), runs


def judge(condition: Condition, memory: Memory, observation: Observation) -> int | None:
    """Update `memory` with one observation and return the rule's severity rank now (max over input
    names), or None when the observation says nothing about this condition."""
    previous, *counts = memory.get(observation.name, [0])
    if isinstance(condition, QcCondition):
        if observation.qc_flag is None:
            return None
        bad, counts = bad_in_a_row(condition, counts, observation)
        level = condition.severity if bad >= condition.consecutive else 0
    elif observation.value is None:
        return None
    elif isinstance(condition, ThresholdCondition):
        level, counts = threshold_level(condition, previous, observation.value), []
    elif isinstance(condition, LevelCondition):
        level, counts = level_severity(condition, observation.value), []
    else:
        return None
    if level or any(counts):
        memory[observation.name] = [level, *counts]
    else:
        memory.pop(observation.name, None)
    return max((entry[0] for entry in memory.values()), default=0)
