"""What the broker acknowledged survives a broker kill -9 while ingest is offline (issue 19 item 4).

Real private Mosquitto with the project's settings; the subscriber has the ingest's identity and
subscription (services/ingest/service.py), so a wrong ingest setting or broker setting fails here.
"""

from __future__ import annotations

import asyncio
import uuid

import pytest

from schemas.contract import readings_topic
from services.config import Settings
from services.stack.mqtt import prepare_private_broker, run_broker
from tests.support.mqtt_broker import drain, log_of, publish_acknowledged, subscribe_and_leave

pytestmark = pytest.mark.integration
AUTOSAVE_S = 1.0  # docker/mosquitto/mosquitto.conf autosave_interval


async def test_broker_kill_while_ingest_is_offline_keeps_what_it_acknowledged(tmp_path):
    broker = prepare_private_broker(tmp_path / "mqtt")
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"dur{uuid.uuid4().hex[:8]}"
    child = await run_broker(broker, tmp_path / "mqtt" / "mqtt.log")
    try:
        await subscribe_and_leave(broker, settings, network)
        acked = publish_acknowledged(broker.url("gateway"), readings_topic(network, "s1"), 2000)
        await asyncio.sleep(3 * AUTOSAVE_S)  # past one autosave: all of it must be on disk
        child.kill()
        child = await run_broker(broker, tmp_path / "mqtt" / "mqtt.log")
        received = await drain(broker, settings)
    finally:
        child.stop()
    log = log_of(tmp_path / "mqtt")
    assert "Permission denied" not in log
    assert acked == 2000
    assert len(received) == acked, f"lost {acked - len(received)} of {acked} acknowledged messages"


async def test_messages_published_after_the_restart_reach_the_offline_ingest(tmp_path):
    """The subscription itself survives the kill (a shared one did not: 'No matching subscribers')."""
    broker = prepare_private_broker(tmp_path / "mqtt")
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"dur{uuid.uuid4().hex[:8]}"
    child = await run_broker(broker, tmp_path / "mqtt" / "mqtt.log")
    try:
        await subscribe_and_leave(broker, settings, network)
        await asyncio.sleep(3 * AUTOSAVE_S)
        child.kill()
        child = await run_broker(broker, tmp_path / "mqtt" / "mqtt.log")
        acked = publish_acknowledged(broker.url("gateway"), readings_topic(network, "s1"), 500)
        received = await drain(broker, settings)
    finally:
        child.stop()
    assert len(received) == acked == 500
