"""The `alerts` projection follows the engine: after every event the state it derives (pending, firing,
resolved) is the alert's state in the engine, for every event kind, corrections and reopenings included.

``services.db.alerts.projected_state`` is what the projection's upsert writes; here it is folded over
the engine's events in order (a kind that leaves the state alone keeps the previous one) and compared
with the engine's own open alerts after each step.
"""

from __future__ import annotations

from alert_helpers import at, feed, reading

from alerts import AlertEngine, Silence
from alerts.channels import EVENT_KINDS, ROUTED_AS
from services.db.alerts import projected_state

BUOY, DO = "liaodong-bay-buoy", "dissolved_oxygen_mg_l"  # hypoxia: `for` 30 min, keep-firing 30 min
LEVEL = "water_level_m"  # Dalian's water level warning: no `for`, blue 3.6 m … red 4.2 m


class Projection:
    """The projection's state per alert, as the upsert writes it, checked against the engine."""

    def __init__(self, engine: AlertEngine) -> None:
        self.engine = engine
        self.states: dict[str, str] = {}
        self.kinds: set[str] = set()

    def apply(self, events) -> None:
        for event in events:
            self.kinds.add(event.kind)
            state = projected_state(event)
            previous = self.states.get(event.alert_id, "firing")  # the upsert's default for a new row
            self.states[event.alert_id] = previous if state is None else state
        open_alerts = {a["alert_id"]: a["phase"] for a in self.engine.open_alerts()}
        assert self.states == {a: open_alerts.get(a, "resolved") for a in self.states}, events


def do(minutes: float, value: float | None, flag: int = 1, tests: tuple[str, ...] = (), revised=False):
    return reading(BUOY, DO, minutes, value, 9 if value is None else flag, tests, revised=revised)


def test_every_event_kind_leaves_the_projection_in_the_engines_state(engine):
    projection = Projection(engine)

    def step(*observations):
        for observation in observations:
            projection.apply(engine.observe([observation]))

    # Pending, then firing on a suspect reading that QC fails: back to pending (corrected), firing
    # again on the next reading, red, then orange once keep-firing lets red go.
    step(do(0, 1.8), do(10, 1.8), do(20, 1.8), do(30, 1.8, 3, ("rate_of_change",)))
    step(do(30, 1.8, 4, ("spike",), revised=True))
    assert projection.states == {f"{BUOY}/hypoxia/{at(0)}": "pending"}
    step(do(40, 1.8), do(50, 0.9), *(do(m, 1.8) for m in range(60, 100, 10)))
    alert_id = next(iter(projection.states))
    projection.apply(engine.acknowledge(alert_id, actor="wang", time_us=at(95)))
    projection.apply(
        engine.silence(Silence("s1", created_us=at(96), ends_us=at(120), actor="ops", station=BUOY))
    )
    projection.apply(engine.tick(at(130)))  # the silence ends
    # Resolved by a reading after 40 min without values, reopened when QC fails it, resolved again.
    step(*(do(m, None) for m in (100, 110, 120, 130)), do(140, 6.0))
    step(do(140, 6.0, 4, ("spike",), revised=True))
    step(*(do(m, 6.0) for m in range(150, 200, 10)))
    assert projection.states[alert_id] == "resolved"
    # Pending, resolved, and pending again when QC withdraws the resolving reading.
    step(do(300, 1.8), *(do(m, None) for m in (310, 320, 330)), do(340, 6.0))
    step(do(340, 6.0, 4, ("spike",), revised=True))
    # Re-notice: hypoxic for 6 h past firing.
    step(*(do(m, 1.8) for m in range(350, 760, 10)))
    # Dalian: a spike that opened a warning is retracted, one that escalated it corrected.
    step(
        *(reading("dalian", LEVEL, m, 2.0) for m in range(3)),
        reading("dalian", LEVEL, 3, 5.2, 3, ("rate_of_change",)),
    )
    step(reading("dalian", LEVEL, 3, 5.2, 4, ("spike",), revised=True))
    step(
        *(reading("dalian", LEVEL, m, 3.7) for m in range(4, 7)),
        reading("dalian", LEVEL, 7, 5.0, 3, ("rate_of_change",)),
    )
    step(reading("dalian", LEVEL, 7, 5.0, 4, ("spike",), revised=True))
    produced = set(EVENT_KINDS) | set(ROUTED_AS)
    assert projection.kinds == produced, produced - projection.kinds


def test_a_correction_back_to_pending_is_told_to_those_who_heard_it_fire(engine):
    events = feed(engine, [do(0, 1.8), do(10, 1.8), do(20, 1.8), do(30, 0.9, 3, ("rate_of_change",))])
    (firing,) = [e for e in events if e.kind == "firing"]
    (corrected,) = engine.observe([do(30, 0.9, 4, ("spike",), revised=True)])
    assert (corrected.kind, corrected.state) == ("corrected", "pending")
    assert corrected.channels and set(corrected.channels) <= set(firing.channels)
