"""One incident for one hazard across stations: group keys, members and the group's notice (pure).

A group is named by its spec, the `by` keys of the alert's station (rule, area, network) and the
window its alert opened in (the opening time, which is part of the alert id, rounded down to the
spec's window counted from 1970 UTC). The name is a function of the alert alone, so every worker
puts an alert in the same group whatever order the partitions' events reach it, and a replay forms
the same groups; the cost is that a storm opening across a window boundary makes two groups.

The notifier keeps each group's members (their latest event) and sends the group's notice, listing
the members, when a member joins, changes severity or closes (``Incident.apply`` says whether an
event is such a change); a reminder, acknowledgement or tier step updates the member quietly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.events import FIRING_STATE, RESOLVED_STATE, AlertEvent, closes
from alerts.routing import GroupSpec
from alerts.severity import SEVERITY_ZH, name, rank
from schemas.alert_ids import opened_us
from schemas.registry import Station

GROUP_PREFIX = "group:"
# Member events that change what the group's notice says.
NOTABLE_KINDS = frozenset(
    {"firing", "escalated", "deescalated", "corrected", "reopened", "resolved", "retracted"}
)
GROUP_OPENED, GROUP_UPDATED, GROUP_RESOLVED = "group_opened", "group_updated", "group_resolved"
GROUP_KINDS = (GROUP_OPENED, GROUP_UPDATED, GROUP_RESOLVED)


def window_start_us(spec: GroupSpec, alert_id: str) -> int:
    return opened_us(alert_id) // spec.window_us * spec.window_us


def group_id(spec: GroupSpec, station: Station, event: AlertEvent) -> str:
    """``group:coastal_flooding/water_level_warning/liaodong-bay/1700006400000000``."""
    keys = {"rule": event.rule, "area": station.area or "-", "network": station.network}
    parts = [spec.id, *(keys[k] for k in spec.by), str(window_start_us(spec, event.alert_id))]
    return GROUP_PREFIX + "/".join(parts)


@dataclass(slots=True)
class Incident:
    group_id: str
    spec_id: str
    members: dict[str, dict[str, Any]] = field(
        default_factory=dict
    )  # alert id → its latest event (fields below)
    revision: int = -1  # the last notice's number (-1: none sent yet)

    @property
    def open_members(self) -> list[dict[str, Any]]:
        return [m for m in self.members.values() if m["open"]]

    @property
    def is_open(self) -> bool:
        return bool(self.open_members)

    def severity(self) -> str | None:
        ranks = [rank(m["severity"]) for m in (self.open_members or self.members.values()) if m["severity"]]
        return name(max(ranks, default=0))

    def apply(self, event: AlertEvent) -> bool:
        """Take one member event (an older one than the member's latest is ignored); True when the
        group's notice should say so."""
        member = self.members.get(event.alert_id)
        if member is not None and member["seq"] >= event.seq:
            return False
        if member is None and event.kind not in NOTABLE_KINDS:
            return False  # a reminder of an alert the group never heard open: not a member
        notable = event.kind in NOTABLE_KINDS
        said = event if notable or member is None else None  # what the member's line says
        known = member if member is not None else {}  # its line before (there is one when not said)
        acked = known.get("acknowledged_by")
        if event.kind == "acknowledged":
            acked = event.actor
        elif event.kind in ("escalated", "reopened"):  # a new severity needs a new acknowledgement
            acked = None
        self.members[event.alert_id] = {
            "station": event.station,
            "rule": event.rule,
            "seq": event.seq,
            "kind": event.kind if said else known["kind"],
            "severity": event.severity if said else known["severity"],
            "open": not closes(event),
            "time_us": event.time_us,
            "message_en": said.message_en if said else known["message_en"],
            "message_zh": said.message_zh if said else known["message_zh"],
            "acknowledged_by": acked,
        }
        return event.kind in NOTABLE_KINDS

    def notice(self, channels: tuple[str, ...]) -> AlertEvent:
        """The next group notice (revision + 1): every member's latest condition, open ones first."""
        self.revision += 1
        members = sorted(self.members.values(), key=lambda m: (not m["open"], m["station"], m["rule"]))
        kind = GROUP_RESOLVED if not self.is_open else GROUP_OPENED if self.revision == 0 else GROUP_UPDATED
        severity = self.severity()
        stations = sorted({m["station"] for m in members})
        rules = sorted({m["rule"] for m in members})
        still = len({m["station"] for m in self.open_members})  # stations with an open member
        head_en = (
            f"{kind.replace('_', ' ')}: {self.spec_id} incident, {still} of "
            f"{len(stations)} stations open, worst {severity or 'none'}"
        )
        state_zh = {GROUP_OPENED: "发布", GROUP_UPDATED: "更新", GROUP_RESOLVED: "解除"}[kind]
        head_zh = (
            f"{self.spec_id} 事件（{state_zh}）：{len(stations)} 个站点中 {still} 个未解除，"
            f"最高{SEVERITY_ZH.get(severity or '', '无')}"
        )
        return AlertEvent(
            alert_id=self.group_id,
            seq=self.revision,
            station=",".join(stations),
            rule=rules[0] if len(rules) == 1 else self.spec_id,
            kind=kind,
            severity=severity,
            time_us=max(m["time_us"] for m in members),
            value=None,
            message_en="\n".join([head_en, *(f"- {m['message_en']}" for m in members)]),
            message_zh="\n".join([head_zh, *(f"- {m['message_zh']}" for m in members)]),
            channels=channels,
            state=FIRING_STATE if self.is_open else RESOLVED_STATE,  # what the senders go by
        )
