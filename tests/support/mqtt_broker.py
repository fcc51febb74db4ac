"""A private secured Mosquitto for broker-level tests, and a counter of what survives a broker kill."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import aiomqtt
import paho.mqtt.client as paho
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from schemas.contract import readings_subscription
from services.config import Settings
from services.ingest.service import SESSION_EXPIRY_S
from services.mqtt_auth import aiomqtt_options, configure_paho, parse_mqtt_url, private_client_id
from services.stack.mqtt import PrivateBroker


def ingest_like_client(broker: PrivateBroker, settings: Settings) -> aiomqtt.Client:
    """A client with the ingest's identity and session settings (id, clean start off, expiry)."""
    target = parse_mqtt_url(broker.url("ingest"))
    properties = Properties(PacketTypes.CONNECT)
    properties.SessionExpiryInterval = SESSION_EXPIRY_S
    return aiomqtt.Client(
        **aiomqtt_options(target),
        identifier=private_client_id("tidewatch-ingest", target, settings.mqtt_client_id),
        protocol=aiomqtt.ProtocolVersion.V5,
        clean_start=False,
        properties=properties,
    )


async def subscribe_and_leave(broker: PrivateBroker, settings: Settings, network: str) -> None:
    """Make the ingest's persistent session exist, then go offline (as a stopped ingest does)."""
    async with ingest_like_client(broker, settings) as client:
        await client.subscribe(readings_subscription(network, settings.mqtt_share_group or None), qos=1)


def publish_acknowledged(url: str, topic: str, count: int, size_bytes: int = 0) -> int:
    """Publish ``count`` QoS 1 messages (numbered, padded to ``size_bytes``); how many were acknowledged."""
    client = paho.Client(paho.CallbackAPIVersion.VERSION2, client_id=f"pub-{time.monotonic_ns()}")
    configure_paho(client, parse_mqtt_url(url))
    client.max_inflight_messages_set(200)
    client.max_queued_messages_set(0)
    client.connect(*_address(url))
    client.loop_start()
    try:
        acked = 0
        for start in range(0, count, 5000):  # chunks keep paho's own queue small
            infos = [
                client.publish(topic, f"{i}".encode().ljust(size_bytes), qos=1)
                for i in range(start, min(count, start + 5000))
            ]
            for info in infos:
                info.wait_for_publish(30)
            acked += sum(info.is_published() for info in infos)
        return acked
    finally:
        client.disconnect()
        client.loop_stop()


def _address(url: str) -> tuple[str, int]:
    target = parse_mqtt_url(url)
    return target.host, target.port


async def drain(broker: PrivateBroker, settings: Settings, quiet_s: float = 1.5) -> set[bytes]:
    """Reconnect with the ingest's session and collect what the broker still holds for it."""
    received: set[bytes] = set()
    async with ingest_like_client(broker, settings) as client:

        async def collect() -> None:
            async for message in client.messages:
                received.add(bytes(message.payload))

        task = asyncio.create_task(collect())
        seen = -1
        while seen != len(received):
            seen = len(received)
            await asyncio.sleep(quiet_s)
        task.cancel()
    return received


def log_of(work_dir: Path) -> str:
    path = work_dir / "mqtt.log"
    return path.read_text(errors="replace") if path.exists() else ""
