"""Per-station evaluator state: the station's clock and one alert state per rule.

This is the value of the changelog table keyed by station (the partition key of the readings), so a
worker that restarts from it continues with exactly the same clock and alerts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.lifecycle import AlertState


@dataclass(slots=True)
class StationState:
    # The station's time when its latest record arrived (its newest data time, or later: the clock
    # never goes back when a record comes slower than the one before) and that record's wall time
    # (both µs). Its "now" at a wall time is clock_us + (wall time - arrival_us), so a station whose
    # uplink is slow keeps its own time and is never judged by its partition mates'.
    clock_us: int | None = None
    arrival_us: int | None = None
    # Readings judged although older than the clock (out of order, or slower than the one before):
    # counted, judged all the same.
    late_count: int = 0
    # QC revisions that could not be applied (their reading is no longer the last one judged).
    late_revisions: int = 0
    alerts: dict[str, AlertState] = field(default_factory=dict)
    # Per rule, the open alert's escalation and inhibition memory (alerts/router.py).
    routing: dict[str, dict[str, Any]] = field(default_factory=dict)

    def alert(self, rule_id: str) -> AlertState:
        alert = self.alerts.get(rule_id)
        if alert is None:  # not setdefault: that builds a blank state for every reading judged
            alert = self.alerts[rule_id] = AlertState()
        return alert

    def now_us(self, wall_us: int) -> int | None:
        """The station's event time at wall time `wall_us` (None before its first reading)."""
        if self.clock_us is None or self.arrival_us is None:
            return None
        return self.clock_us + max(0, wall_us - self.arrival_us)

    def to_dict(self) -> dict[str, Any]:
        data = {
            "clock_us": self.clock_us,
            "arrival_us": self.arrival_us,
            "late_count": self.late_count,
            "late_revisions": self.late_revisions,
            "alerts": {rule_id: a.to_dict() for rule_id, a in sorted(self.alerts.items())},
        }
        if self.routing:
            data["routing"] = {rule_id: dict(m) for rule_id, m in sorted(self.routing.items())}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StationState:
        return cls(
            clock_us=data["clock_us"],
            arrival_us=data.get("arrival_us", data["clock_us"]),  # states written before arrivals
            late_count=data["late_count"],
            late_revisions=data.get("late_revisions", 0),
            alerts={rule_id: AlertState.from_dict(a) for rule_id, a in data["alerts"].items()},
            routing={rule_id: dict(m) for rule_id, m in data.get("routing", {}).items()},
        )
