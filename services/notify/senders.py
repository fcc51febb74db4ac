"""The senders: one try of one alert event on one channel. Retrying is the notifier's job.

A sender raises `SendError`; `permanent=True` means another try cannot help (the receiver refused the
request itself), so the event goes to the dead letter at once instead of after every retry.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

import aiohttp
import orjson

from alerts.events import AlertEvent
from alerts.templates import format_time_us
from services.notify.config import SmtpServer

# HTTP statuses that are worth another try: timeouts, throttling and server-side failures.
RETRY_STATUSES = frozenset({408, 425, 429})


class SendError(Exception):
    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class Sender(Protocol):
    async def send(self, event: AlertEvent) -> None: ...

    async def close(self) -> None: ...


def event_payload(event: AlertEvent) -> dict:
    """The JSON document a receiver gets: the alert event as stored in the alert history."""
    return event.to_dict()


class WebhookSender:
    """POST the event JSON; `Idempotency-Key` lets a receiver drop a duplicate after a lost reply."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._session: aiohttp.ClientSession | None = None

    async def send(self, event: AlertEvent) -> None:
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=self.timeout)
        headers = {
            "Content-Type": "application/json",
            "Idempotency-Key": f"{event.alert_id}#{event.seq}",
            "User-Agent": "tidewatch-notify",
        }
        try:
            async with self._session.post(
                self.url, data=orjson.dumps(event_payload(event)), headers=headers
            ) as response:
                if response.status < 300:
                    return
                text = (await response.text())[:200]
                permanent = response.status < 500 and response.status not in RETRY_STATUSES
                raise SendError(f"HTTP {response.status}: {text}", permanent=permanent)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None


def email_message(event: AlertEvent, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """Subject in English, body in English and Chinese, with the alert's identity for the record."""
    message = EmailMessage()
    message["Subject"] = f"[tidewatch] {event.message_en}"
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="tidewatch")
    message["X-Tidewatch-Alert"] = f"{event.alert_id}#{event.seq}"
    message.set_content(
        "\n".join(
            [
                event.message_en,
                event.message_zh,
                "",
                f"alert:    {event.alert_id} (event {event.seq})",
                f"station:  {event.station}",
                f"rule:     {event.rule}",
                f"event:    {event.kind}, severity {event.severity or 'none'}",
                f"time:     {format_time_us(event.time_us)}",
                *([f"by:       {event.actor}"] if event.actor else []),
                *([f"comment:  {event.comment}"] if event.comment else []),
            ]
        )
        + "\n"
    )
    return message


class EmailSender:
    """SMTP through the standard library, in a worker thread so the event loop never blocks."""

    def __init__(
        self, server: SmtpServer, sender: str, recipients: tuple[str, ...], timeout_s: float
    ) -> None:
        self.server = server
        self.sender = sender
        self.recipients = recipients
        self.timeout_s = timeout_s

    def _send_blocking(self, message: EmailMessage) -> None:
        factory = smtplib.SMTP_SSL if self.server.ssl else smtplib.SMTP
        with factory(self.server.host, self.server.port, timeout=self.timeout_s) as smtp:
            if self.server.username:
                if not self.server.ssl:
                    smtp.starttls()
                smtp.login(self.server.username, self.server.password or "")
            smtp.send_message(message)

    async def send(self, event: AlertEvent) -> None:
        message = email_message(event, self.sender, self.recipients)
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except smtplib.SMTPResponseException as exc:
            detail = exc.smtp_error.decode(errors="replace") if isinstance(exc.smtp_error, bytes) else exc
            raise SendError(f"SMTP {exc.smtp_code}: {detail}", permanent=exc.smtp_code >= 500) from exc
        except smtplib.SMTPRecipientsRefused as exc:
            raise SendError(f"recipients refused: {exc.recipients}", permanent=True) from exc
        except (smtplib.SMTPException, OSError) as exc:
            raise SendError(f"{type(exc).__name__}: {exc}") from exc

    async def close(self) -> None:
        return None
