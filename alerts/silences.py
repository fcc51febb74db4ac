"""Operator silences: mute notifications for a station and/or a rule until an end time.

A silence is an operator action with its own timestamp; it mutes, it does not stop evaluation, so
the alert history stays complete and the alert is still open when the silence ends.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from schemas.actions import SilenceAction


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    created_us: int
    ends_us: int
    actor: str
    station: str | None = None
    rule: str | None = None
    comment: str = ""

    def __post_init__(self) -> None:
        if self.station is None and self.rule is None:
            raise ValueError(f"silence {self.id!r}: give a station, a rule or both")
        if self.ends_us <= self.created_us:
            raise ValueError(f"silence {self.id!r}: ends before it starts")

    def covers(self, station: str, rule: str, time_us: int) -> bool:
        return (
            time_us < self.ends_us
            and (self.station is None or self.station == station)
            and (self.rule is None or self.rule == rule)
        )

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Silence:
        return cls(**data)

    @classmethod
    def from_action(cls, action: SilenceAction) -> Silence:
        """A console's "silence" action (alert-inputs topic): it starts at the action's time."""
        return cls(
            id=action.id,
            created_us=action.time_us,
            ends_us=action.ends_us,
            actor=action.actor,
            station=action.station or None,
            rule=action.rule or None,
            comment=action.comment,
        )
