"""Where each alert event goes after the channel table: held by inhibition, escalated by tier.

The engine hands every event it renders to ``Router.route`` and asks ``Router.tier_due`` for one more
timer per alert, so escalation is a timer like re-notify: it fires on the ticks and records of the
alert-inputs log at the station's data time, and a replay steps through the same tiers at the same
times. Per alert the router keeps a small memory in the station state (``StationState.routing``):

    tier     the step of the chain the alert is at (1: the channel table's channels)
    reached  the highest tier told so far; those tiers hear the alert's further notices
    since    when the current step began (None: acknowledged, the chain stopped)
    told     whether any notice of the alert went anywhere; held: whether one was held

A firing, an escalation of severity, a reopening and the end of a silence start the chain at the
notice's time (tier 1 again, the tiers reached keep hearing); acknowledging stops it; a silenced or
held alert (or one nobody was told of) does not escalate; a closed alert is forgotten.
"""

from __future__ import annotations

from collections.abc import Sequence

from alerts.channels import Channel, route
from alerts.events import CLOSING_KINDS
from alerts.inhibition import held_by
from alerts.lifecycle import FIRING, AlertState, Transition
from alerts.routing import Routing
from alerts.rules import Rule
from alerts.station_state import StationState

TIER_ESCALATED = "tier_escalated"
# Kinds after which the alert waits for an acknowledgement again: the chain starts afresh.
RESTART_KINDS = frozenset({"firing", "escalated", "reopened", "unsilenced"})
# Kinds the tiers an alert reached hear too (reminders stay with tier 1; the chain is their reminder).
TIERS_HEAR = frozenset(
    {
        "escalated",
        "deescalated",
        "corrected",
        "reopened",
        "resolved",
        "retracted",
        "acknowledged",
        "unsilenced",
    }
)
# Kinds only whoever was told before hears (an alert that was held throughout stays quiet).
FOLLOW_UP_KINDS = frozenset({"resolved", "retracted", "corrected", "deescalated", "acknowledged"})


class Router:
    def __init__(self, routing: Routing, channels: Sequence[Channel]) -> None:
        self.routing = routing
        self.channels = tuple(channels)
        self.escalation = routing.escalation

    def tier_due(self, state: StationState, rule_id: str, alert: AlertState) -> int | None:
        """When this alert goes to its next tier (None: it does not)."""
        memory = state.routing.get(rule_id)
        if (
            memory is None
            or memory["since"] is None
            or not memory["told"]
            or alert.phase != FIRING
            or alert.acked
            or alert.silence_id is not None
        ):
            return None
        delay_us = self.escalation.delay_us(alert.severity, memory["tier"])
        if delay_us is None or held_by(self.routing, state.alerts, rule_id, alert.severity):
            return None
        since_us: int = memory["since"]
        return since_us + delay_us

    def next_tier(
        self, station: str, state: StationState, rule: Rule, alert: AlertState, due_us: int
    ) -> Transition:
        """The step to the next tier, due at `due_us`: an alert event of its own (the next seq). The
        memory moves on here, so whoever fires the timer sees the next one (or none) at once."""
        memory = state.routing[rule.id]
        tier = self.escalation.tier(memory["tier"] + 1)
        waited_min = round((due_us - memory["since"]) / 60e6)
        memory["tier"], memory["since"] = tier.number, due_us
        memory["reached"] = max(memory["reached"], tier.number)
        transition = Transition(
            alert_id=alert.alert_id(station, rule),
            seq=alert.seq,
            kind=TIER_ESCALATED,
            severity=alert.severity,
            time_us=due_us,
            value=alert.value,
            fired=True,
            silenced=False,
            state=alert.phase,  # firing: the step changes nothing the projection shows
            comment=f"tier {tier.number} ({tier.name}): unacknowledged for {waited_min} min",
        )
        alert.seq += 1
        return transition

    def route(
        self, state: StationState, rule_id: str, alert: AlertState, transition: Transition
    ) -> tuple[tuple[str, ...], str | None]:
        """The channels of one event and its comment (why it was held, if it was)."""
        memory = state.routing.get(rule_id)
        if memory is None:
            memory = state.routing[rule_id] = {
                "tier": 1,
                "reached": 1,
                "since": None,
                "told": False,
                "held": False,
            }
        kind = transition.kind
        if kind == TIER_ESCALATED:  # the step itself (``next_tier`` moved the memory on)
            channels = self.escalation.tier(memory["tier"]).channels
        else:
            channels = route(
                self.channels, kind, transition.severity, fired=transition.fired, silenced=transition.silenced
            )
            if kind in TIERS_HEAR and transition.fired and not transition.silenced:
                # (clamped: a restarted worker may read a memory written under more tiers)
                for number in range(2, min(memory["reached"], len(self.escalation.tiers) + 1) + 1):
                    channels += tuple(c for c in self.escalation.tier(number).channels if c not in channels)
        comment = transition.comment
        reason = held_by(self.routing, state.alerts, rule_id, transition.severity)
        if reason is not None:
            channels, memory["held"] = (), True
            comment = comment or f"held: {reason} at this station"
        elif kind in FOLLOW_UP_KINDS and memory["held"] and not memory["told"]:
            channels = ()
        memory["told"] = memory["told"] or bool(channels)
        if kind in RESTART_KINDS:
            memory["tier"], memory["since"] = 1, max(transition.time_us, alert.last_notified_us or 0)
        elif kind == "acknowledged":
            memory["since"] = None
        if kind in CLOSING_KINDS or not alert.is_open:
            del state.routing[rule_id]
        return channels, comment
