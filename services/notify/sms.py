"""A generic SMS-gateway webhook: one short bilingual text to the duty phones, signed when keyed.

Gateways differ, so tidewatch posts one small documented JSON document and the centre's gateway (or a
thin adapter in front of its provider) maps it: ``{"to": [...], "text": ..., "alert": "id#seq",
"station", "rule", "kind", "state", "severity"}`` (``state``: pending, firing or resolved, what the
alert is after the event; null for an event stored before events kept it). With a secret,
``X-Tidewatch-Timestamp`` (Unix seconds) and ``X-Tidewatch-Signature: sha256=<hex
HMAC-SHA256(secret, "{timestamp}.{body}")>`` let the gateway check the sender and refuse a replayed
request; ``Idempotency-Key`` lets it drop a duplicate.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable

import orjson

from alerts.events import AlertEvent
from services.notify.http import JsonPoster
from services.notify.messages import short_text


def sms_document(event: AlertEvent, recipients: tuple[str, ...]) -> dict:
    return {
        "to": list(recipients),
        "text": short_text(event),
        "alert": f"{event.alert_id}#{event.seq}",
        "station": event.station,
        "rule": event.rule,
        "kind": event.kind,
        "state": event.state,
        "severity": event.severity,
    }


def sms_signature(secret: str, timestamp_s: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp_s}.".encode() + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


class SmsSender:
    def __init__(
        self,
        url: str,
        recipients: tuple[str, ...],
        secret: str | None,
        timeout_s: float,
        secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.recipients, self.secret, self.clock = url, recipients, secret, clock
        self._poster = JsonPoster(timeout_s, secrets)

    async def send(self, event: AlertEvent) -> None:
        body = orjson.dumps(sms_document(event, self.recipients))
        headers = {"Idempotency-Key": f"{event.alert_id}#{event.seq}"}
        if self.secret:
            timestamp_s = int(self.clock())
            headers["X-Tidewatch-Timestamp"] = str(timestamp_s)
            headers["X-Tidewatch-Signature"] = sms_signature(self.secret, timestamp_s, body)
        await self._poster.post(self.url, body, headers)

    async def close(self) -> None:
        await self._poster.close()
