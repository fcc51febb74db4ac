"""Settings from the environment (twelve-factor): one place that names every knob.

Every service reads the same ``TIDEWATCH_*`` variables, so the demo launcher can start a piece and
hand its address to the others by setting one variable.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
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


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default) or default


@dataclass(frozen=True, slots=True)
class Settings:
    # mqtt[s]://user:password@host:port. mqtt_url is this process's own account (ingest's); the
    # alert publisher and the station/simulator publisher use theirs when set (else mqtt_url).
    mqtt_url: str = "mqtt://127.0.0.1:1883"
    mqtt_alerts_url: str = ""
    mqtt_publish_url: str = ""
    mqtt_ca_file: str | None = None
    kafka_url: str = "kafka://127.0.0.1:9092"
    database_url: str = "postgresql://postgres@127.0.0.1:5432/tidewatch"
    registry_path: str | None = None
    qc_config_path: str | None = None
    topic_partitions: int = 4
    # Ingest
    # No shared subscription by default: Mosquitto forgets an offline client's shared subscription
    # when it restarts, and what arrives meanwhile is lost. mqtt_client_id names the replica; the
    # id sent to the broker is derived from it and the ingest password (services/mqtt_auth).
    mqtt_share_group: str = ""
    mqtt_client_id: str = "tidewatch-ingest-1"
    ingest_linger_ms: float = 20.0
    ingest_max_batch: int = 2000
    ingest_max_inflight: int = 10_000
    # Stream workers
    worker_id: str = "tidewatch"
    store_batch_within_s: float = 0.2
    tide_refit_check_s: float = 60.0
    qc_enabled: bool = True
    qc_checkpoint_s: float = 60.0
    agents: tuple[str, ...] = ("store", "indicate", "alerting")
    kafka_offset_reset: str = "earliest"
    # Alert engine: clock ticks (timers fire on them), when an input counts as late, and how often
    # the notifier sweeps the stored events for notices nobody has sent.
    alert_tick_s: float = 5.0
    alert_late_after_s: float = 600.0
    notify_sweep_s: float = 30.0
    climatology_dir: str | None = None
    metrics_port: int = 0
    metrics_host: str = "127.0.0.1"
    data_dir: str = ".tidewatch"

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

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)


def load_settings() -> Settings:
    defaults = Settings()
    return Settings(
        mqtt_url=_env("TIDEWATCH_MQTT_URL", defaults.mqtt_url),
        mqtt_alerts_url=_env("TIDEWATCH_MQTT_ALERTS_URL", ""),
        mqtt_publish_url=_env("TIDEWATCH_MQTT_PUBLISH_URL", ""),
        mqtt_ca_file=os.environ.get("TIDEWATCH_MQTT_CA_FILE") or None,
        kafka_url=_env("TIDEWATCH_KAFKA_URL", defaults.kafka_url),
        database_url=_env("TIDEWATCH_DATABASE_URL", defaults.database_url),
        registry_path=os.environ.get("TIDEWATCH_REGISTRY") or None,
        qc_config_path=os.environ.get("TIDEWATCH_QC_CONFIG") or None,
        topic_partitions=int(_env("TIDEWATCH_TOPIC_PARTITIONS", str(defaults.topic_partitions))),
        mqtt_share_group=os.environ.get("TIDEWATCH_MQTT_SHARE_GROUP", defaults.mqtt_share_group),
        mqtt_client_id=_env("TIDEWATCH_MQTT_CLIENT_ID", defaults.mqtt_client_id),
        ingest_linger_ms=float(_env("TIDEWATCH_INGEST_LINGER_MS", str(defaults.ingest_linger_ms))),
        ingest_max_batch=int(_env("TIDEWATCH_INGEST_MAX_BATCH", str(defaults.ingest_max_batch))),
        ingest_max_inflight=int(_env("TIDEWATCH_INGEST_MAX_INFLIGHT", str(defaults.ingest_max_inflight))),
        worker_id=_env("TIDEWATCH_WORKER_ID", defaults.worker_id),
        store_batch_within_s=float(
            _env("TIDEWATCH_STORE_BATCH_WITHIN_S", str(defaults.store_batch_within_s))
        ),
        climatology_dir=os.environ.get("TIDEWATCH_CLIMATOLOGY_DIR") or None,
        kafka_offset_reset=_env("TIDEWATCH_KAFKA_OFFSET_RESET", defaults.kafka_offset_reset),
        agents=tuple(
            a.strip() for a in _env("TIDEWATCH_AGENTS", "store,indicate,alerting").split(",") if a.strip()
        ),
        qc_checkpoint_s=float(_env("TIDEWATCH_QC_CHECKPOINT_S", str(defaults.qc_checkpoint_s))),
        qc_enabled=_env("TIDEWATCH_QC", "on").lower() not in {"off", "0", "false", "no"},
        alert_tick_s=float(_env("TIDEWATCH_ALERT_TICK_S", str(defaults.alert_tick_s))),
        alert_late_after_s=float(_env("TIDEWATCH_ALERT_LATE_AFTER_S", str(defaults.alert_late_after_s))),
        notify_sweep_s=float(_env("TIDEWATCH_NOTIFY_SWEEP_S", str(defaults.notify_sweep_s))),
        tide_refit_check_s=float(_env("TIDEWATCH_TIDE_REFIT_CHECK_S", str(defaults.tide_refit_check_s))),
        metrics_port=int(_env("TIDEWATCH_METRICS_PORT", "0")),
        metrics_host=_env("TIDEWATCH_METRICS_HOST", defaults.metrics_host),
        data_dir=_env("TIDEWATCH_DATA_DIR", defaults.data_dir),
    )


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
