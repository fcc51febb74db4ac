"""Notification settings from the environment, read here so the rest of tidewatch needs no knob for them.

TIDEWATCH_WEBHOOK_URL         POST every routed webhook event here (unset: no webhook channel)
TIDEWATCH_SMTP_URL            smtp://[user:password@]host:port or smtps://… (unset: no e-mail channel)
TIDEWATCH_ALERT_EMAIL_TO      comma-separated recipients (required with TIDEWATCH_SMTP_URL)
TIDEWATCH_ALERT_EMAIL_FROM    sender address (default tidewatch@localhost)
TIDEWATCH_NOTIFY_ATTEMPTS     tries per event and channel before it becomes a dead letter (default 5)
TIDEWATCH_NOTIFY_BACKOFF_S    wait after the first failure, doubled after each further one (default 1)
TIDEWATCH_NOTIFY_MAX_BACKOFF_S  longest wait between two tries (default 60)
TIDEWATCH_NOTIFY_TIMEOUT_S    timeout of one try (default 10)
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 5
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    timeout_s: float = 10.0

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError("a notification needs at least one attempt")

    def delay_s(self, failures: int) -> float:
        """Wait after the `failures`-th failed try: backoff, 2×backoff, 4×backoff … up to the cap."""
        return min(self.backoff_s * 2 ** (failures - 1), self.max_backoff_s)


@dataclass(frozen=True, slots=True)
class SmtpServer:
    host: str
    port: int
    ssl: bool = False
    username: str | None = None
    password: str | None = None


def parse_smtp_url(url: str) -> SmtpServer:
    parts = urlsplit(url)
    if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
        raise ValueError(f"TIDEWATCH_SMTP_URL must look like smtp://host:port, got {url!r}")
    ssl = parts.scheme == "smtps"
    return SmtpServer(
        host=parts.hostname,
        port=parts.port or (465 if ssl else 25),
        ssl=ssl,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    webhook_url: str | None = None
    smtp: SmtpServer | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = "tidewatch@localhost"
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def __post_init__(self) -> None:
        if self.smtp is not None and not self.email_to:
            raise ValueError("TIDEWATCH_SMTP_URL is set but TIDEWATCH_ALERT_EMAIL_TO names no recipient")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> NotifyConfig:
        env = os.environ if env is None else env
        defaults = RetryPolicy()
        smtp_url = env.get("TIDEWATCH_SMTP_URL") or None
        return cls(
            webhook_url=env.get("TIDEWATCH_WEBHOOK_URL") or None,
            smtp=parse_smtp_url(smtp_url) if smtp_url else None,
            email_to=tuple(
                a.strip() for a in env.get("TIDEWATCH_ALERT_EMAIL_TO", "").split(",") if a.strip()
            ),
            email_from=env.get("TIDEWATCH_ALERT_EMAIL_FROM") or "tidewatch@localhost",
            retry=RetryPolicy(
                attempts=int(env.get("TIDEWATCH_NOTIFY_ATTEMPTS") or defaults.attempts),
                backoff_s=float(env.get("TIDEWATCH_NOTIFY_BACKOFF_S") or defaults.backoff_s),
                max_backoff_s=float(env.get("TIDEWATCH_NOTIFY_MAX_BACKOFF_S") or defaults.max_backoff_s),
                timeout_s=float(env.get("TIDEWATCH_NOTIFY_TIMEOUT_S") or defaults.timeout_s),
            ),
        )
