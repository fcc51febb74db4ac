"""Notification settings, built from the environment's settings (services/config.py reads them).

TIDEWATCH_WEBHOOK_URL         POST every routed webhook event here (unset: no webhook channel)
TIDEWATCH_SMTP_URL            smtp://[user:password@]host:port or smtps://… (unset: no e-mail channel)
TIDEWATCH_ALERT_EMAIL_TO      comma-separated recipients (required with TIDEWATCH_SMTP_URL)
TIDEWATCH_ALERT_EMAIL_FROM    sender address (default tidewatch@localhost)
TIDEWATCH_NOTIFY_ATTEMPTS     tries per event and channel before it becomes a dead letter (default 5)
TIDEWATCH_NOTIFY_BACKOFF_S    wait after the first failure, doubled after each further one (default 1)
TIDEWATCH_NOTIFY_MAX_BACKOFF_S  longest wait between two tries (default 60)
TIDEWATCH_NOTIFY_TIMEOUT_S    timeout of one try (default 10)

Every other channel of ``alerts/channels.yaml`` reads its own variables, named after the channel
(`duty_dingtalk` → TIDEWATCH_DUTY_DINGTALK_…); a channel without its URL is not sent:
TIDEWATCH_<NAME>_URL          the robot webhook (DingTalk access_token, WeCom key in it), the SMS
                              gateway, or the Alertmanager base URL (http://user:password@host:9093)
TIDEWATCH_<NAME>_SECRET       DingTalk/Feishu signing secret; SMS gateway HMAC key (optional)
TIDEWATCH_<NAME>_TO           SMS: comma-separated phone numbers (required for an SMS channel)
TIDEWATCH_<NAME>_HOLD_S       Alertmanager: how long an open alert stays firing without another notice
                              (endsAt = now + hold; default 2 days, longer than the longest renotify)
URLs and secrets are credentials: they never appear in a log line or a recorded error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from alerts.channels import Channel, load_channels
from services.config import ChannelSettings, Settings, channel_prefix

# Channel types delivered by an HTTP POST to TIDEWATCH_<NAME>_URL.
HTTP_TYPES = frozenset({"webhook", "dingtalk", "wecom", "feishu", "sms", "alertmanager"})
DEFAULT_HOLD_S = 2 * 86400.0


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
class ChannelEndpoint:
    """Where one HTTP channel posts, and its credentials (left out of repr, so never logged)."""

    type: str
    url: str = field(repr=False)
    secret: str | None = field(default=None, repr=False)
    recipients: tuple[str, ...] = ()
    hold_s: float = DEFAULT_HOLD_S

    def __post_init__(self) -> None:
        if self.type not in HTTP_TYPES:
            raise ValueError(f"channel type {self.type!r} is not sent over HTTP")
        if urlsplit(self.url).scheme not in ("http", "https") or not urlsplit(self.url).hostname:
            raise ValueError(f"a {self.type} channel needs an http(s):// URL")
        if self.type == "sms" and not self.recipients:
            raise ValueError("an SMS channel needs its phone numbers (TIDEWATCH_<NAME>_TO)")
        if self.hold_s <= 0:
            raise ValueError("an Alertmanager hold must be positive")

    def secrets(self) -> tuple[str, ...]:
        """Every string of this endpoint that must not be shown: URL, its query values, the secret."""
        parts = urlsplit(self.url)
        found = [self.url, parts.query, parts.password or "", self.secret or ""]
        found += [pair.partition("=")[2] for pair in parts.query.split("&")]
        found += [s for s in parts.path.split("/") if len(s) >= 16]  # Feishu: the hook id is the key
        return tuple(sorted({s for s in found if len(s) >= 4}, key=len, reverse=True))


def channel_endpoint(channel: Channel, variables: ChannelSettings) -> ChannelEndpoint | None:
    """The endpoint of an HTTP channel from its TIDEWATCH_<NAME>_* variables; None when its URL is unset."""
    if channel.type not in HTTP_TYPES or variables.url is None:
        return None
    try:
        return ChannelEndpoint(
            type=channel.type,
            url=variables.url,
            secret=variables.secret,
            recipients=variables.recipients,
            hold_s=DEFAULT_HOLD_S if variables.hold_s is None else variables.hold_s,
        )
    except ValueError as exc:
        raise ValueError(f"channel {channel.name!r} ({channel_prefix(channel.name)}_*): {exc}") from None


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    webhook_url: str | None = None
    smtp: SmtpServer | None = None
    email_to: tuple[str, ...] = ()
    email_from: str = "tidewatch@localhost"
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    # HTTP channels by channel name (robots, SMS, Alertmanager, further webhooks).
    endpoints: Mapping[str, ChannelEndpoint] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.smtp is not None and not self.email_to:
            raise ValueError("TIDEWATCH_SMTP_URL is set but TIDEWATCH_ALERT_EMAIL_TO names no recipient")

    @classmethod
    def from_settings(cls, settings: Settings, channels: Sequence[Channel] | None = None) -> NotifyConfig:
        """The configuration for ``channels`` (default: the channel table the settings name)."""
        endpoints = {
            channel.name: endpoint
            for channel in (channels if channels is not None else load_channels(settings.channels_path))
            if (endpoint := channel_endpoint(channel, settings.channel(channel.name))) is not None
        }
        return cls(
            endpoints=endpoints,
            webhook_url=settings.webhook_url,
            smtp=parse_smtp_url(settings.smtp_url) if settings.smtp_url else None,
            email_to=settings.alert_email_to,
            email_from=settings.alert_email_from,
            retry=RetryPolicy(
                attempts=settings.notify_attempts,
                backoff_s=settings.notify_backoff_s,
                max_backoff_s=settings.notify_max_backoff_s,
                timeout_s=settings.notify_timeout_s,
            ),
        )
