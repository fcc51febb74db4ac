"""Settings from the environment (twelve-factor): the one place that reads and names every knob.

Every process reads the same ``TIDEWATCH_*`` variables, so the demo launcher can start a piece and
hand its address to the others by setting one variable. Each field of ``Settings`` names its variable
(``ENV_VARIABLES`` lists them, and the README's configuration table must list the same); the variables
of a notification channel are named after the channel and read through ``Settings.channel``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from typing import Any
from urllib.parse import urlsplit

from services.mqtt_auth import MqttTarget, parse_mqtt_url


@dataclass(frozen=True, slots=True)
class Endpoint:
    host: str
    port: int


def parse_endpoint(url: str, default_port: int) -> Endpoint:
    """``scheme://host:port`` (or ``host:port``) → Endpoint."""
    parts = urlsplit(url if "://" in url else f"x://{url}")
    return Endpoint(parts.hostname or "127.0.0.1", parts.port or default_port)


def _words(raw: str) -> tuple[str, ...]:
    """A comma-separated list, blanks dropped."""
    return tuple(word.strip() for word in raw.split(",") if word.strip())


def _switch(raw: str) -> bool:
    return raw.lower() not in {"off", "0", "false", "no"}


def _var(env: str, default: Any, parse: Callable[[str], Any] = str, *, secret: bool = False) -> Any:
    """A field read from variable ``env`` (an unset or empty variable keeps the default)."""
    return field(default=default, repr=not secret, metadata={"env": env, "parse": parse})


# A notification channel `duty_dingtalk` reads TIDEWATCH_DUTY_DINGTALK_URL, …_SECRET, …_TO, …_HOLD_S.
CHANNEL_SUFFIXES = ("_URL", "_SECRET", "_TO", "_HOLD_S")
CHANNEL_VARIABLES = tuple(f"TIDEWATCH_<NAME>{suffix}" for suffix in CHANNEL_SUFFIXES)


def channel_prefix(channel: str) -> str:
    return "TIDEWATCH_" + channel.upper()


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """One notification channel's variables; URL and secret are credentials, kept out of repr."""

    url: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    recipients: tuple[str, ...] = ()
    hold_s: float | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    # mqtt[s]://user:password@host:port. mqtt_url is this process's own account (ingest's); the
    # alert publisher and the station/simulator publisher use theirs when set (else mqtt_url).
    mqtt_url: str = _var("TIDEWATCH_MQTT_URL", "mqtt://127.0.0.1:1883")
    mqtt_alerts_url: str = _var("TIDEWATCH_MQTT_ALERTS_URL", "")
    mqtt_publish_url: str = _var("TIDEWATCH_MQTT_PUBLISH_URL", "")
    mqtt_ca_file: str | None = _var("TIDEWATCH_MQTT_CA_FILE", None)
    mqtt_password_file: str = _var("TIDEWATCH_MQTT_PASSWORD_FILE", "docker/mosquitto/secrets/passwd")
    kafka_url: str = _var("TIDEWATCH_KAFKA_URL", "kafka://127.0.0.1:9092")
    database_url: str = _var("TIDEWATCH_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/tidewatch")
    registry_path: str | None = _var("TIDEWATCH_REGISTRY", None)
    qc_config_path: str | None = _var("TIDEWATCH_QC_CONFIG", None)
    channels_path: str | None = _var("TIDEWATCH_CHANNELS", None)
    routing_path: str | None = _var("TIDEWATCH_ROUTING", None)
    climatology_dir: str | None = _var("TIDEWATCH_CLIMATOLOGY_DIR", None)
    topic_partitions: int = _var("TIDEWATCH_TOPIC_PARTITIONS", 4, int)
    # Ingest
    # No shared subscription by default: Mosquitto forgets an offline client's shared subscription
    # when it restarts, and what arrives meanwhile is lost. mqtt_client_id names the replica; the
    # id sent to the broker is derived from it and the ingest password (services/mqtt_auth).
    mqtt_share_group: str = _var("TIDEWATCH_MQTT_SHARE_GROUP", "")
    mqtt_client_id: str = _var("TIDEWATCH_MQTT_CLIENT_ID", "tidewatch-ingest-1")
    ingest_linger_ms: float = _var("TIDEWATCH_INGEST_LINGER_MS", 20.0, float)
    ingest_max_batch: int = _var("TIDEWATCH_INGEST_MAX_BATCH", 2000, int)
    ingest_max_inflight: int = _var("TIDEWATCH_INGEST_MAX_INFLIGHT", 10_000, int)
    # Stream workers
    worker_id: str = _var("TIDEWATCH_WORKER_ID", "tidewatch")
    store_batch_within_s: float = _var("TIDEWATCH_STORE_BATCH_WITHIN_S", 0.2, float)
    tide_refit_check_s: float = _var("TIDEWATCH_TIDE_REFIT_CHECK_S", 60.0, float)
    qc_enabled: bool = _var("TIDEWATCH_QC", True, _switch)
    qc_checkpoint_s: float = _var("TIDEWATCH_QC_CHECKPOINT_S", 60.0, float)
    manual_qc_refresh_s: float = _var("TIDEWATCH_MANUAL_QC_REFRESH_S", 5.0, float)
    agents: tuple[str, ...] = _var("TIDEWATCH_AGENTS", ("store", "indicate", "alerting"), _words)
    kafka_offset_reset: str = _var("TIDEWATCH_KAFKA_OFFSET_RESET", "earliest")
    # How soon the group drops a worker that stopped heartbeating (a crash); Tansu also holds a first
    # join about half of it.
    kafka_session_timeout_s: float = _var("TIDEWATCH_KAFKA_SESSION_TIMEOUT_S", 10.0, float)
    # Alert engine: clock ticks (timers fire on them), when an input counts as late, and how often
    # the notifier sweeps the stored events for notices nobody has sent.
    alert_tick_s: float = _var("TIDEWATCH_ALERT_TICK_S", 5.0, float)
    alert_late_after_s: float = _var("TIDEWATCH_ALERT_LATE_AFTER_S", 600.0, float)
    # How long before a tick a record may be stamped and still land after it in the log (a tick fires
    # what was due that long before its own time): wider than the agents' send delay, not the tick.
    alert_tick_grace_s: float = _var("TIDEWATCH_ALERT_TICK_GRACE_S", 5.0, float)
    notify_sweep_s: float = _var("TIDEWATCH_NOTIFY_SWEEP_S", 30.0, float)
    # Notifications (services/notify): the webhook and e-mail channels, and retries of every channel.
    webhook_url: str | None = _var("TIDEWATCH_WEBHOOK_URL", None, secret=True)
    smtp_url: str | None = _var("TIDEWATCH_SMTP_URL", None, secret=True)
    alert_email_to: tuple[str, ...] = _var("TIDEWATCH_ALERT_EMAIL_TO", (), _words)
    alert_email_from: str = _var("TIDEWATCH_ALERT_EMAIL_FROM", "tidewatch@localhost")
    notify_attempts: int = _var("TIDEWATCH_NOTIFY_ATTEMPTS", 5, int)
    notify_backoff_s: float = _var("TIDEWATCH_NOTIFY_BACKOFF_S", 1.0, float)
    notify_max_backoff_s: float = _var("TIDEWATCH_NOTIFY_MAX_BACKOFF_S", 60.0, float)
    notify_timeout_s: float = _var("TIDEWATCH_NOTIFY_TIMEOUT_S", 10.0, float)
    # The API and the console it serves
    api_host: str = _var("TIDEWATCH_API_HOST", "127.0.0.1")
    api_port: int = _var("TIDEWATCH_API_PORT", 8080, int)
    api_url: str = _var("TIDEWATCH_API_URL", "http://127.0.0.1:8080")  # where `tidewatch query` asks
    api_statement_timeout_ms: int = _var("TIDEWATCH_API_STATEMENT_TIMEOUT_MS", 60_000, int)
    netcdf_attributes_path: str | None = _var("TIDEWATCH_NETCDF_ATTRIBUTES", None)
    console_secret: str | None = _var("TIDEWATCH_CONSOLE_SECRET", None, secret=True)
    console_action_timeout_s: float = _var("TIDEWATCH_CONSOLE_ACTION_TIMEOUT_S", 5.0, float)
    console_login_failures: int = _var("TIDEWATCH_CONSOLE_LOGIN_FAILURES", 5, int)
    console_address_failures: int = _var("TIDEWATCH_CONSOLE_ADDRESS_FAILURES", 20, int)
    console_failure_window_s: float = _var("TIDEWATCH_CONSOLE_FAILURE_WINDOW_S", 900.0, float)
    console_cookie_secure: str = _var("TIDEWATCH_CONSOLE_COOKIE_SECURE", "auto", str.lower)
    console_trusted_proxies: tuple[str, ...] = _var("TIDEWATCH_CONSOLE_TRUSTED_PROXIES", (), _words)
    # Operations
    metrics_port: int = _var("TIDEWATCH_METRICS_PORT", 0, int)
    metrics_host: str = _var("TIDEWATCH_METRICS_HOST", "127.0.0.1")
    data_dir: str = _var("TIDEWATCH_DATA_DIR", ".tidewatch")
    # Not variables of their own: the channel variables present (credentials, so not in repr), and
    # the fields whose variable was set (the demo starts a private broker unless one was given).
    channel_variables: Mapping[str, str] = field(default_factory=dict, repr=False)
    given: frozenset[str] = frozenset()

    @property
    def mqtt(self) -> Endpoint:
        return parse_endpoint(self.mqtt_url, 1883)

    def mqtt_target(self, role: str = "") -> MqttTarget:
        """Address, account and TLS for ``role`` ("", "alerts" or "publish")."""
        url = {"alerts": self.mqtt_alerts_url, "publish": self.mqtt_publish_url}.get(role) or self.mqtt_url
        return parse_mqtt_url(url, self.mqtt_ca_file)

    @property
    def kafka(self) -> Endpoint:
        return parse_endpoint(self.kafka_url, 9092)

    @property
    def kafka_bootstrap(self) -> str:
        return f"{self.kafka.host}:{self.kafka.port}"

    def channel(self, name: str) -> ChannelSettings:
        """The variables of notification channel ``name`` (TIDEWATCH_<NAME>_URL, _SECRET, _TO, _HOLD_S)."""
        prefix = channel_prefix(name)
        url, secret, to, hold_s = (self.channel_variables.get(prefix + s) or None for s in CHANNEL_SUFFIXES)
        return ChannelSettings(
            url=url,
            secret=secret,
            recipients=_words(to or ""),
            hold_s=_parsed(f"{prefix}_HOLD_S", hold_s, float) if hold_s else None,
        )

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)


def _parsed(name: str, raw: str, parse: Callable[[str], Any]) -> Any:
    """``raw`` by ``parse``; only the numeric parsers refuse anything, and the error names the variable."""
    try:
        return parse(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r}: expected a number") from None


_FIELDS = tuple(f for f in fields(Settings) if "env" in f.metadata)
ENV_VARIABLES: tuple[str, ...] = tuple(f.metadata["env"] for f in _FIELDS)


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Settings from ``env`` (default: this process's environment); unset or empty keeps the default."""
    env = os.environ if env is None else env
    values = {
        f.name: _parsed(f.metadata["env"], env[f.metadata["env"]], f.metadata["parse"])
        for f in _FIELDS
        if env.get(f.metadata["env"])
    }
    channel_variables = {
        name: value
        for name, value in env.items()
        if name.startswith("TIDEWATCH_") and name.endswith(CHANNEL_SUFFIXES) and value
    }
    return Settings(**values, channel_variables=channel_variables, given=frozenset(values))


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that hands these settings to a child process."""
    env = {
        "TIDEWATCH_MQTT_URL": settings.mqtt_url,
        "TIDEWATCH_MQTT_ALERTS_URL": settings.mqtt_alerts_url,
        "TIDEWATCH_MQTT_PUBLISH_URL": settings.mqtt_publish_url,
        "TIDEWATCH_MQTT_CA_FILE": settings.mqtt_ca_file or "",
        "TIDEWATCH_KAFKA_URL": settings.kafka_url,
        "TIDEWATCH_DATABASE_URL": settings.database_url,
        "TIDEWATCH_TOPIC_PARTITIONS": str(settings.topic_partitions),
        "TIDEWATCH_WORKER_ID": settings.worker_id,
        "TIDEWATCH_KAFKA_OFFSET_RESET": settings.kafka_offset_reset,
    }
    if settings.registry_path:
        env["TIDEWATCH_REGISTRY"] = settings.registry_path
    if settings.qc_config_path:
        env["TIDEWATCH_QC_CONFIG"] = settings.qc_config_path
    return env
