"""Who a client is on the MQTT broker: credentials and TLS from ``TIDEWATCH_MQTT_URL``.

``mqtt://user:password@host:1883`` or ``mqtts://user:password@host:8883`` (TLS; the CA file from
``TIDEWATCH_MQTT_CA_FILE`` or the system store). Every tidewatch MQTT client (ingest, the alert
publisher, the simulator, the tests) connects through these helpers, so credentials and TLS are
handled once.
"""

from __future__ import annotations

import hashlib
import ssl
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit


@dataclass(frozen=True, slots=True)
class MqttTarget:
    host: str
    port: int
    username: str | None = None
    password: str | None = None
    tls: bool = False
    ca_file: str | None = None

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.ca_file or None)


def parse_mqtt_url(url: str, ca_file: str | None = None) -> MqttTarget:
    """``mqtt[s]://[user[:password]@]host[:port]`` → MqttTarget (8883 is the mqtts default)."""
    parts = urlsplit(url if "://" in url else f"mqtt://{url}")
    tls = parts.scheme in {"mqtts", "ssl", "tls"}
    return MqttTarget(
        host=parts.hostname or "127.0.0.1",
        port=parts.port or (8883 if tls else 1883),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
        tls=tls,
        ca_file=ca_file,
    )


def aiomqtt_options(target: MqttTarget) -> dict[str, object]:
    """Keyword arguments for ``aiomqtt.Client`` (address, credentials, TLS)."""
    return {
        "hostname": target.host,
        "port": target.port,
        "username": target.username,
        "password": target.password,
        "tls_context": target.tls_context(),
    }


def configure_paho(client: object, target: MqttTarget) -> None:
    """Credentials and TLS on a paho client, before it connects."""
    if target.username:
        client.username_pw_set(target.username, target.password)  # type: ignore[attr-defined]
    context = target.tls_context()
    if context is not None:
        client.tls_set_context(context)  # type: ignore[attr-defined]


def private_client_id(prefix: str, target: MqttTarget, replica: str = "") -> str:
    """A stable client id nobody can guess without the account's password.

    MQTT lets any authenticated client connect with any client id and so take over (and, with a
    clean start, discard) another client's persistent session. Deriving the ingest's id from its
    password keeps it fixed across restarts (the broker keeps its session) but unknown to stations.
    """
    if not target.password:
        return f"{prefix}-{replica}" if replica else prefix
    secret = f"{target.username}:{target.password}:{replica}".encode()
    return f"{prefix}-{hashlib.sha256(secret).hexdigest()[:20]}"
