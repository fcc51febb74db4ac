"""The plain senders (webhook, e-mail): one try of one alert event on one channel. Retrying is the
notifier's job; the chat robots, SMS and Alertmanager have modules of their own.

A sender raises `SendError`; `permanent=True` means another try cannot help (the receiver refused the
request itself), so the event goes to the dead letter at once instead of after every retry.
"""

from __future__ import annotations

import asyncio
import smtplib
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Protocol

from alerts.events import AlertEvent
from services.notify.config import SmtpServer
from services.notify.errors import RETRY_STATUSES, SendError
from services.notify.http import JsonPoster
from services.notify.messages import event_lines, event_title

__all__ = ["RETRY_STATUSES", "EmailSender", "SendError", "Sender", "WebhookSender", "email_message"]


class Sender(Protocol):
    async def send(self, event: AlertEvent) -> None: ...

    async def close(self) -> None: ...


def event_payload(event: AlertEvent) -> dict:
    """The JSON document a receiver gets: the alert event as stored in the alert history."""
    return event.to_dict()


class WebhookSender:
    """POST the event JSON; `Idempotency-Key` lets a receiver drop a duplicate after a lost reply."""

    def __init__(self, url: str, timeout_s: float, secrets: tuple[str, ...] = ()) -> None:
        self.url = url
        self._poster = JsonPoster(timeout_s, secrets)

    async def send(self, event: AlertEvent) -> None:
        headers = {"Idempotency-Key": f"{event.alert_id}#{event.seq}"}
        await self._poster.post(self.url, event_payload(event), headers)

    async def close(self) -> None:
        await self._poster.close()


def email_message(event: AlertEvent, sender: str, recipients: tuple[str, ...]) -> EmailMessage:
    """Subject in English, body in English and Chinese, with the alert's identity for the record."""
    message = EmailMessage()
    message["Subject"] = event_title(event)
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message["Date"] = formatdate(usegmt=True)
    message["Message-ID"] = make_msgid(domain="tidewatch")
    message["X-Tidewatch-Alert"] = f"{event.alert_id}#{event.seq}"
    message.set_content("\n".join(event_lines(event)) + "\n")
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
