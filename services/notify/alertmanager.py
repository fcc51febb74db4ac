"""Forward alert events to a Prometheus Alertmanager (API v2) for centres that already route with it.

Each event is one ``POST /api/v2/alerts`` of the alert at each of the four severities, labelled
``alertname`` (the rule), ``station``, ``severity``, ``alert_id`` and ``source="tidewatch"``, so the
centre's routes and inhibitions match on severity as they do for Prometheus alerts. Whether the alert
fires is the event's ``state`` (what the alert is after the event), not its kind: while it is firing,
its current severity is sent firing: ``endsAt`` = now + hold, renewed by every later notice (keep the
hold longer than the longest renotify interval). The other severities are sent resolved (``endsAt`` =
the event's time), so an escalation ends the lower one; an event that leaves the alert resolved or
pending (``corrected``: QC withdrew the reading that made it fire) resolves them all. Alertmanager
notifies nothing for a resolved alert it never saw firing, so the stateless form costs nothing
downstream. The ``value`` annotation carries its unit (services/notify/messages.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote, urlsplit, urlunsplit

import aiohttp

from alerts.events import AlertEvent, fires
from alerts.severity import SEVERITIES
from services.notify.http import JsonPoster
from services.notify.messages import value_text

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def rfc3339(time_us: int) -> str:
    return (EPOCH + timedelta(microseconds=time_us)).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def postable_alerts(event: AlertEvent, now_us: int, hold_s: float) -> list[dict]:
    """The API v2 ``postableAlerts`` for one event (pure: the clock comes in as `now_us`)."""
    annotations = {
        "summary": event.message_en,
        "summary_zh": event.message_zh,
        "event": f"{event.kind} (event {event.seq}), {event.state or 'state not recorded'}",
    }
    if (value := value_text(event)) is not None:
        annotations["value"] = value
    if event.actor:
        annotations["actor"] = event.actor
    if event.comment:
        annotations["comment"] = event.comment
    alerts, firing_now = [], fires(event)
    for severity in SEVERITIES:
        firing = firing_now and severity == event.severity
        ends_us = now_us + round(hold_s * 1e6) if firing else event.time_us
        alerts.append(
            {
                "labels": {
                    "alertname": event.rule,
                    "station": event.station,
                    "severity": severity,
                    "alert_id": event.alert_id,
                    "source": "tidewatch",
                },
                "annotations": annotations,
                "startsAt": rfc3339(event.time_us),
                "endsAt": rfc3339(ends_us),
            }
        )
    return alerts


def split_credentials(url: str) -> tuple[str, aiohttp.BasicAuth | None]:
    """The alerts endpoint without user:password, and those as basic auth (sent, never in the URL)."""
    parts = urlsplit(url.rstrip("/"))
    auth = (
        aiohttp.BasicAuth(unquote(parts.username), unquote(parts.password or "")) if parts.username else None
    )
    netloc = parts.netloc.rpartition("@")[2]
    return urlunsplit((parts.scheme, netloc, parts.path + "/api/v2/alerts", "", "")), auth


class AlertmanagerSender:
    def __init__(
        self,
        url: str,
        hold_s: float,
        timeout_s: float,
        secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.auth = split_credentials(url)
        self.hold_s, self.clock = hold_s, clock
        self._poster = JsonPoster(timeout_s, secrets)

    async def send(self, event: AlertEvent) -> None:
        alerts = postable_alerts(event, round(self.clock() * 1e6), self.hold_s)
        await self._poster.post(self.url, alerts, auth=self.auth)

    async def close(self) -> None:
        await self._poster.close()
