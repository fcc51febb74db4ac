"""The alert event record: one transition of one alert, deterministic so upserts are idempotent.

`alert_id` is built from station, rule and the data time of the first qualifying input, and `seq` counts
the alert's events from 0, so storing by (alert_id, seq) after a replay or a restart overwrites a row
with the identical row instead of adding a duplicate.
"""

from __future__ import annotations

from typing import Any

import msgspec


class AlertEvent(msgspec.Struct, frozen=True, kw_only=True):
    alert_id: str
    seq: int
    station: str
    rule: str
    kind: str
    severity: str | None
    time_us: int
    value: float | None
    message_en: str
    message_zh: str
    channels: tuple[str, ...]
    actor: str | None = None
    comment: str | None = None
    # Wall time (µs) the input that caused the event reached the alert engine's log, None for timer
    # and operator events; `late` when that was more than the station's lateness allowance after
    # `time_us` (a slow uplink, a backlog, an indicator known hours after its time).
    received_us: int | None = None
    late: bool = False
    # The alert's state after the event (pending, firing or resolved), what the `alerts` projection
    # shows: a `corrected` event may leave it firing or put it back to pending. None: not recorded
    # (an event stored before `alert_events` kept it).
    state: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = msgspec.to_builtins(self)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertEvent:
        return msgspec.convert(data, cls)


# Event kinds that close an alert: resolved, or retracted (QC withdrew the reading that opened it).
# Its opposite, ``reopened``: QC withdrew the reading that had resolved it, so it fires again (a
# pending alert so reopened shows as ``pending`` again).
CLOSING_KINDS = frozenset({"resolved", "retracted"})
RESOLVED_STATE, FIRING_STATE, PENDING_STATE = "resolved", "firing", "pending"


def closes(event: AlertEvent) -> bool:
    """Whether the alert is over after `event`: its state says so; an event stored without one
    (before ``alert_events`` kept it) is judged by its kind."""
    return event.state == RESOLVED_STATE if event.state is not None else event.kind in CLOSING_KINDS


def fires(event: AlertEvent) -> bool:
    """Whether the alert is firing after `event` (not pending, not over). Without a state, every
    event but a closing or a pending one is taken as firing (what the senders did before)."""
    if event.state is not None:
        return event.state == FIRING_STATE
    return event.kind not in CLOSING_KINDS and event.kind != PENDING_STATE
