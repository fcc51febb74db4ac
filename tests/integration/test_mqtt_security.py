"""Nobody in without an account, nobody beyond their topics (issue 19 item 5), on the real Mosquitto."""

from __future__ import annotations

import asyncio
import uuid

import aiomqtt
import pytest

from schemas.contract import readings_topic
from services.config import Settings
from services.mqtt_auth import aiomqtt_options, parse_mqtt_url, private_client_id
from services.mqtt_auth.accounts import set_password
from services.notify.mqtt import alert_topic
from services.stack.mqtt import PrivateBroker, prepare_private_broker, run_broker
from tests.support.mqtt_broker import drain, subscribe_and_leave

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def broker(tmp_path_factory):
    work = tmp_path_factory.mktemp("secure-mqtt")
    broker = prepare_private_broker(work)
    set_password(broker.password_file, "station-a", "pw-a")
    set_password(broker.password_file, "station-b", "pw-b")
    child = await run_broker(broker, work / "mqtt.log")
    try:
        yield broker
    finally:
        child.stop()


def client(broker: PrivateBroker, username: str | None, password: str | None, **kw) -> aiomqtt.Client:
    return aiomqtt.Client("127.0.0.1", broker.port, username=username, password=password, **kw)


async def collect(broker: PrivateBroker, topic: str, seconds: float) -> list[bytes]:
    got: list[bytes] = []
    async with aiomqtt.Client(**aiomqtt_options(parse_mqtt_url(broker.url("ingest")))) as sub:
        await sub.subscribe(topic, qos=1)

        async def read() -> None:
            async for message in sub.messages:
                if message.payload:
                    got.append(bytes(message.payload))

        with pytest.raises(TimeoutError):
            await asyncio.wait_for(read(), seconds)
    return got


async def test_anonymous_and_wrong_passwords_are_refused(broker):
    for username, password in ((None, None), ("ingest", "guess"), ("station-a", "pw-b")):
        with pytest.raises(aiomqtt.MqttError, match=r"135|134|Not authorized|Bad user"):
            async with client(broker, username, password):
                pass


async def test_a_station_cannot_publish_on_another_stations_topic(broker):
    network = f"sec{uuid.uuid4().hex[:6]}"
    received = asyncio.create_task(collect(broker, readings_topic(network, "+"), 2.0))
    await asyncio.sleep(0.5)
    async with client(broker, "station-a", "pw-a", protocol=aiomqtt.ProtocolVersion.V5) as a:
        await a.publish(readings_topic(network, "station-a"), b"own", qos=1)
        await a.publish(readings_topic(network, "station-b"), b"forged", qos=1)
    assert await received == [b"own"]


async def test_only_the_alert_publisher_writes_retained_alerts(broker):
    topic = alert_topic(f"sec{uuid.uuid4().hex[:6]}", "station-a", "surge")
    async with client(broker, "station-a", "pw-a") as a:
        await a.publish(topic, b'{"severity":"red"}', qos=1, retain=True)
    gateway = parse_mqtt_url(broker.url("gateway"))
    async with aiomqtt.Client(**aiomqtt_options(gateway)) as g:
        await g.publish(topic, b'{"severity":"red"}', qos=1, retain=True)
    assert await collect(broker, topic, 1.0) == []
    async with aiomqtt.Client(**aiomqtt_options(parse_mqtt_url(broker.url("alerts")))) as worker:
        await worker.publish(topic, b'{"severity":"amber"}', qos=1, retain=True)
    assert await collect(broker, topic, 1.0) == [b'{"severity":"amber"}']


async def test_nobody_takes_over_the_ingest_session(broker):
    """A station reusing the old guessable id does not touch the ingest's queued messages."""
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"sec{uuid.uuid4().hex[:6]}"
    await subscribe_and_leave(broker, settings, network)
    async with client(broker, "station-a", "pw-a", protocol=aiomqtt.ProtocolVersion.V5) as a:
        await a.publish(readings_topic(network, "station-a"), b"queued", qos=1)
    target = parse_mqtt_url(broker.url("ingest"))
    ingest_id = private_client_id("tidewatch-ingest", target, settings.mqtt_client_id)
    assert ingest_id not in {
        "tidewatch-ingest-1",
        settings.mqtt_client_id,
        f"tidewatch-ingest-{settings.mqtt_client_id}",
    }
    for identifier in ("tidewatch-ingest-1", f"tidewatch-ingest-{settings.mqtt_client_id}"):
        async with client(
            broker,
            "station-a",
            "pw-a",
            identifier=identifier,
            clean_start=True,
            protocol=aiomqtt.ProtocolVersion.V5,
        ):
            pass
    with pytest.raises(aiomqtt.MqttError):  # the real id without the ingest's password
        async with client(
            broker,
            "ingest",
            "wrong",
            identifier=ingest_id,
            clean_start=False,
            protocol=aiomqtt.ProtocolVersion.V5,
        ):
            pass
    assert await drain(broker, settings, quiet_s=1.0) == {b"queued"}


async def test_tls_listener_with_the_generated_ca(broker):
    target = parse_mqtt_url(broker.url("ingest", tls=True), str(broker.ca_file))
    assert target.tls and target.port == broker.tls_port
    async with aiomqtt.Client(**aiomqtt_options(target)) as c:
        await c.publish(alert_topic("x", "y", "z"), b"", qos=1)  # a QoS 1 round trip over TLS
    untrusted = parse_mqtt_url(broker.url("ingest", tls=True))  # system CAs only: refused
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(**aiomqtt_options(untrusted)):
            pass
