"""The alert event record: one transition of one alert, deterministic so upserts are idempotent.

`alert_id` is built from station, rule and the event time that opened the alert, and `seq` counts
the alert's events from 0, so storing by (alert_id, seq) after a replay or a restart overwrites a row
with the identical row instead of adding a duplicate.
"""

from __future__ import annotations

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

    def to_dict(self) -> dict:
        return msgspec.to_builtins(self)

    @classmethod
    def from_dict(cls, data: dict) -> AlertEvent:
        return msgspec.convert(data, cls)


def alert_id(station: str, rule: str, opened_us: int) -> str:
    return f"{station}/{rule}/{opened_us}"
