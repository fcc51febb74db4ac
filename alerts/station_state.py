"""Per-station evaluator state: the reorder buffer, the event-time clock and one alert state per rule.

This is the value of the changelog table keyed by station (the partition key of the readings), so a
worker that restarts from it continues with exactly the same clock, buffer and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alerts.inputs import READING, Observation
from alerts.lifecycle import AlertState

# (time_us, kind, name, n): the observation's sort key, and n to keep observations (not readings) that
# share it apart, in arrival order.
BufferKey = tuple[int, str, str, int]


@dataclass(slots=True)
class StationState:
    # Observations received but not yet judged, by ``key`` (judged in key order).
    buffer: dict[BufferKey, Observation] = field(default_factory=dict)
    # Latest event time received for the station.
    max_seen_us: int | None = None
    # Event time up to which the station has been judged; anything older arriving now is late.
    clock_us: int | None = None
    late_count: int = 0
    # QC revisions of readings already judged (a reading is judged once): counted, not applied.
    late_revisions: int = 0
    alerts: dict[str, AlertState] = field(default_factory=dict)

    def alert(self, rule_id: str) -> AlertState:
        return self.alerts.setdefault(rule_id, AlertState())

    def key(self, observation: Observation) -> BufferKey:
        """A reading's place in the buffer: one per reading, so that its QC revision replaces it. Any
        other observation (an indicator) gets a place of its own after those with the same sort key."""
        time_us, kind, name = observation.sort_key()
        n = 0
        if kind != READING:
            while (time_us, kind, name, n) in self.buffer:
                n += 1
        return time_us, kind, name, n

    def to_dict(self) -> dict:
        return {
            "buffer": [self.buffer[k].to_list() for k in sorted(self.buffer)],
            "max_seen_us": self.max_seen_us,
            "clock_us": self.clock_us,
            "late_count": self.late_count,
            "late_revisions": self.late_revisions,
            "alerts": {rule_id: a.to_dict() for rule_id, a in sorted(self.alerts.items())},
        }

    @classmethod
    def from_dict(cls, data: dict) -> StationState:
        state = cls(
            max_seen_us=data["max_seen_us"],
            clock_us=data["clock_us"],
            late_count=data["late_count"],
            late_revisions=data.get("late_revisions", 0),  # absent from states written before it
            alerts={rule_id: AlertState.from_dict(a) for rule_id, a in data["alerts"].items()},
        )
        for item in data["buffer"]:  # in key order: every observation gets its key back
            observation = Observation.from_list(item)
            state.buffer[state.key(observation)] = observation
        return state
