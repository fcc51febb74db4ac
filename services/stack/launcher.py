"""The local stack: reuse what the settings point at when it answers, start the rest from pip parts.

Used by ``tidewatch demo``, the integration tests and the benchmarks, so all three run the same way.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg

from services.config import Settings
from services.stack.kafka import start_tansu
from services.stack.mqtt import PrivateBroker, start_mqtt_broker
from services.stack.postgres import start_embedded_postgres
from services.stack.process import Child, port_open

log = logging.getLogger(__name__)


@dataclass
class Stack:
    settings: Settings
    children: list[Child] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    postgres_server: object | None = None
    mqtt_broker: PrivateBroker | None = None

    def stop(self) -> None:
        for child in reversed(self.children):
            child.stop()


async def _postgres_answers(url: str) -> bool:
    admin = url.rsplit("/", 1)[0] + "/postgres"
    try:
        conn = await asyncpg.connect(admin, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    await conn.close()
    return True


async def start_stack(
    settings: Settings, work_dir: Path, *, fresh_kafka: bool = False, private_mqtt: bool = False
) -> Stack:
    """Resolve PostgreSQL, MQTT and Kafka.

    ``fresh_kafka`` always starts a private, empty Kafka-protocol broker. ``private_mqtt`` starts a
    Mosquitto with tidewatch's broker settings instead of using whatever answers at the MQTT URL: a
    stock Mosquitto drops QoS 1 messages beyond 1,000 queued for an offline ingest.
    """
    work_dir.mkdir(parents=True, exist_ok=True)
    stack = Stack(settings)
    try:
        if await _postgres_answers(settings.database_url):
            stack.notes.append(f"PostgreSQL: using {settings.database_url}")
        else:
            server, url = await start_embedded_postgres(work_dir / "pgdata")
            stack.postgres_server = server
            stack.settings = stack.settings.with_(database_url=url)
            stack.notes.append(f"PostgreSQL: none answered, started embedded-postgres at {url}")

        mqtt = settings.mqtt
        if not private_mqtt and port_open(mqtt.host, mqtt.port):
            stack.notes.append(f"MQTT: using {settings.mqtt_url}")
        else:
            child, broker = await start_mqtt_broker(work_dir / "mqtt")
            stack.children.append(child)
            stack.mqtt_broker = broker
            stack.settings = stack.settings.with_(
                mqtt_url=broker.url("ingest"),
                mqtt_alerts_url=broker.url("alerts"),
                mqtt_publish_url=broker.url("gateway"),
                mqtt_ca_file=str(broker.ca_file),
            )
            why = "private broker with tidewatch's settings" if private_mqtt else "none answered"
            stack.notes.append(
                f"MQTT: {why}, started {child.name} at mqtt://127.0.0.1:{broker.port} "
                f"and mqtts://127.0.0.1:{broker.tls_port} (CA {broker.ca_file}; no anonymous access)"
            )

        kafka = settings.kafka
        if not fresh_kafka and port_open(kafka.host, kafka.port):
            stack.notes.append(f"Kafka: using {settings.kafka_url}")
        else:
            child, url = await start_tansu(work_dir)
            stack.children.append(child)
            stack.settings = stack.settings.with_(kafka_url=url)
            stack.notes.append(f"Kafka: started Tansu (memory storage) at {url}")
    except BaseException:
        stack.stop()
        raise
    return stack
