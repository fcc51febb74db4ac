"""Which stored alerts count as warnings issued, from their event history (pure, no I/O).

The ``alerts`` table is a projection: a row exists for every alert the engine opened, also one that
stayed pending and never fired, or one a QC revision withdrew (``retracted``: the reading that opened it
was a spike; its row then reads ``resolved`` with the level the spike gave it). A report that counted
rows counted those as warnings. Here each alert's events are replayed in order: it was issued when
an event left it firing, and a ``retracted`` event, or a ``corrected`` one that put it back to pending,
takes that back (the firing rested on the withdrawn reading). Its level is the highest it was firing at
(a ``corrected`` event replaces the level the withdrawn reading gave it); its time the first firing.
"""

from __future__ import annotations

from dataclasses import dataclass

from services.report.assemble import SEVERITIES, AlertRow
from services.report.base import year_bounds_us

# event kinds that leave an alert firing when the event carries no state (rows stored before events had one)
_FIRING_KINDS = frozenset({"firing", "escalated", "deescalated", "renotify", "reopened", "acknowledged"})


@dataclass(frozen=True)
class AlertEventRow:
    alert_id: str
    station_id: str
    rule: str
    seq: int
    kind: str
    state: str | None
    severity: str | None
    time_us: int
    acknowledged_us: int | None  # the alert's acknowledgement (alerts.acknowledged_at)


def _rank(severity: str | None) -> int:
    return SEVERITIES.index(severity) + 1 if severity in SEVERITIES else 0


def alert_rows(events: list[AlertEventRow], year: int) -> list[AlertRow]:
    """One row per alert whose first firing (or, never fired, its first event) lies in the year."""
    start_us, end_us = year_bounds_us(year)
    by_alert: dict[str, list[AlertEventRow]] = {}
    for e in events:
        by_alert.setdefault(e.alert_id, []).append(e)
    rows = []
    for alert_id in sorted(by_alert):
        history = sorted(by_alert[alert_id], key=lambda e: e.seq)
        fired_at: int | None = None
        peak = 0
        withdrawn = False
        for e in history:
            firing = e.state == "firing" if e.state is not None else e.kind in _FIRING_KINDS
            if e.kind == "retracted" or (e.kind == "corrected" and not firing):
                fired_at, peak, withdrawn = None, 0, True
            elif e.kind == "corrected":
                peak = _rank(e.severity)  # the level the data support, without the withdrawn reading
                fired_at = e.time_us if fired_at is None else fired_at
            elif firing:
                peak = max(peak, _rank(e.severity))
                fired_at = e.time_us if fired_at is None else fired_at
        first = history[0]
        when = fired_at if fired_at is not None else first.time_us
        if not start_us <= when < end_us:
            continue
        severity = SEVERITIES[peak - 1] if peak else (first.severity or "")
        rows.append(
            AlertRow(
                first.station_id,
                first.rule,
                severity,
                when,
                first.acknowledged_us,
                fired=fired_at is not None,
                withdrawn=withdrawn and fired_at is None,
            )
        )
    return rows
