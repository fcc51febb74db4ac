"""Ingest relies on aiomqtt handing out what it had queued even after the connection is lost.

Ingest produces what it read when the broker connection drops (a broker killed before it saved a
message never redelivers it). That covers only messages the iterator hands out: aiomqtt 2.5 still
yields messages already taken off the socket before it raises for the lost connection (the queued
message wins the race against the disconnect in ``MessagesIterator.__anext__``). Checked here with
the real broker, killed with nothing saved, so that an upgrade that drops the queue instead shows.
"""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest

from benchmarks.broker_durability import shipped_broker
from schemas.contract import readings_subscription, readings_topic
from services.config import Settings
from services.stack.mqtt import run_broker
from tests.support.mqtt_broker import ingest_like_client, publish_acknowledged

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_messages_queued_when_the_broker_dies_are_still_handed_out(tmp_path) -> None:
    broker = shipped_broker(tmp_path, ("persistence false",))  # dies with nothing saved
    mqtt = await run_broker(broker, tmp_path / "mqtt.log")
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"ur{uuid.uuid4().hex[:8]}"
    handed_out: list[int] = []
    try:
        with pytest.raises(aiomqtt.MqttError):
            async with ingest_like_client(broker, settings) as client:
                await client.subscribe(readings_subscription(network, None), qos=1)
                acked = await asyncio.to_thread(
                    publish_acknowledged, broker.url("gateway"), readings_topic(network, "s1"), 200
                )
                for _ in range(100):  # the client reads them off the socket; nobody takes them yet
                    if len(client.messages) == acked:
                        break
                    await asyncio.sleep(0.05)
                queued = len(client.messages)
                mqtt.kill()
                await asyncio.sleep(0.5)  # the client has seen the connection end
                async for message in client.messages:
                    handed_out.append(int(message.payload))
    finally:
        mqtt.stop()
    assert acked == queued == 200
    assert handed_out == list(range(200)), "messages read before the connection was lost were dropped"
