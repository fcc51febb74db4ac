"""Operator actions on the alert-inputs log: what the console (and its silence schedules) submit and
the alert agent applies, in stream order, next to the data.

One JSON object per action, told apart by ``type``; times are µs since the epoch (UTC). A silence
names a station, a rule or both (``None``: every one); it runs from ``time_us`` to ``ends_us``.
"""

from __future__ import annotations

from typing import Any

import msgspec

from schemas.alert_ids import parse_alert_id


class Acknowledge(msgspec.Struct, frozen=True, tag_field="type", tag="acknowledge"):
    alert_id: str
    actor: str
    time_us: int
    comment: str = ""


class SilenceAction(msgspec.Struct, frozen=True, tag_field="type", tag="silence"):
    id: str
    station: str | None
    rule: str | None
    ends_us: int
    actor: str
    time_us: int
    comment: str = ""


class RemoveSilence(msgspec.Struct, frozen=True, tag_field="type", tag="remove_silence"):
    id: str
    actor: str
    time_us: int


AlertAction = Acknowledge | SilenceAction | RemoveSilence


def action_of(document: Any) -> AlertAction:
    """A decoded JSON object as its action; ``msgspec.ValidationError`` names what is wrong."""
    action: AlertAction = msgspec.convert(document, AlertAction)
    return action


def encode_action(action: AlertAction) -> bytes:
    return msgspec.json.encode(action)


def action_document(action: AlertAction) -> dict[str, Any]:
    """The action as the JSON object it travels as (for answers and audit records)."""
    document: dict[str, Any] = msgspec.to_builtins(action)
    return document


def action_station(action: AlertAction) -> str | None:
    """The station an action concerns: named, or the first part of the alert id (None: every one)."""
    if isinstance(action, Acknowledge):
        parsed = parse_alert_id(action.alert_id)
        return parsed[0] if parsed else None
    if isinstance(action, SilenceAction):
        return action.station
    return None
