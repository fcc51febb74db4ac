"""The simulator publishing to the real Mosquitto (127.0.0.1:1883) and a subscriber receiving it all.

Each test uses its own network name, so its topics `tidewatch/v1/<network>/+/readings` are private.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from collections import Counter, defaultdict

import paho.mqtt.client as mqtt
import pytest

from schemas.contract import Validator
from services.simulate import faults as fk
from services.simulate.faults import FaultRates
from services.simulate.model import Simulation
from services.simulate.publisher import run_simulator
from services.simulate.scenario import parse_scenario
from services.simulate.synthetic import synthetic_registry

pytestmark = pytest.mark.integration

HOST, PORT = "127.0.0.1", 1883
US = 1_000_000
# malformed_json 0.05: ~9 in the test hour, so never zero by chance (at 0.01 it was zero ~16 % of runs)
RATES = FaultRates().with_overrides({"duplicate": 0.05, "gap": 0.02, "malformed_json": 0.05})
STORY = parse_scenario({"name": "it", "events": [{"kind": "late_batch", "start_h": 0.2, "duration_h": 0.3}]})


class Subscriber:
    """A plain paho subscriber collecting (topic, payload) in arrival order."""

    def __init__(self, network: str) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.subscribed = False
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=f"sub-{network}")
        self.client.on_connect = lambda c, *_: c.subscribe(f"tidewatch/v1/{network}/+/readings", qos=1)
        self.client.on_subscribe = lambda *_: setattr(self, "subscribed", True)
        self.client.on_message = lambda c, u, m: self.received.append((m.topic, m.payload))
        self.client.connect(HOST, PORT)
        self.client.loop_start()

    async def ready(self) -> None:
        for _ in range(200):
            if self.subscribed:
                return
            await asyncio.sleep(0.02)
        raise TimeoutError("no SUBACK from Mosquitto")

    async def wait_for(self, count: int, timeout_s: float = 5.0) -> None:
        deadline = time.monotonic() + timeout_s
        while len(self.received) < count and time.monotonic() < deadline:
            await asyncio.sleep(0.02)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


@pytest.fixture
def network():
    return f"it{uuid.uuid4().hex[:10]}"


@pytest.fixture
async def subscriber(network):
    sub = Subscriber(network)
    try:
        await sub.ready()
        yield sub
    finally:
        sub.close()


async def test_everything_the_model_generates_arrives_in_order(network, subscriber):
    registry = synthetic_registry(4, seed=5, network=network)
    now_us = int(time.time()) * US
    start_us = now_us - 2 * 3600 * US - now_us % (60 * US)
    scenario = STORY
    expected = list(
        Simulation(registry, scenario, 21, start_us, faults=RATES).messages_between(
            start_us, start_us + 3600 * US
        )
    )
    stats = await asyncio.wait_for(
        run_simulator(
            registry,
            HOST,
            PORT,
            speedup=36_000,
            rate=None,
            start_us=start_us,
            duration_s=3600,
            seed=21,
            faults=RATES,
            scenario=scenario,
            client_id=f"sim-{network}",
        ),
        timeout=8,
    )
    await subscriber.wait_for(len(expected))
    assert stats.messages == len(expected) == len(subscriber.received)
    assert stats.readings == sum(m.readings for m in expected if m.fault != fk.DUPLICATE)
    assert stats.duplicates == sum(m.fault == fk.DUPLICATE for m in expected) > 0
    assert stats.late_batches > 0 and stats.faults[fk.MALFORMED_JSON] > 0
    # Every contract fault the model generated (message faults and faults inside the values: the
    # default rates make out-of-range or unit faults now and then) is counted as an expected letter.
    generated = Counter(m.fault for m in expected if m.fault is not None)
    for m in expected:
        if m.fault != fk.DUPLICATE:
            generated.update(m.value_faults)
    assert stats.dead_letters_expected == sum(generated[kind] for kind in fk.CONTRACT_FAULTS)
    by_topic_sent, by_topic_received = defaultdict(list), defaultdict(list)
    for message in expected:
        by_topic_sent[message.topic].append(message.payload)
    for topic, payload in subscriber.received:
        by_topic_received[topic].append(payload)
    assert by_topic_received == by_topic_sent  # same bytes, same order per topic
    validator = Validator(registry)
    accepted = sum(
        verdict.accepted.count()
        for topic, payload in subscriber.received
        if (verdict := validator.validate(topic, payload, now_us)).accepted is not None
    )
    duplicated = sum(m.readings for m in expected if m.fault == fk.DUPLICATE)
    assert accepted == stats.readings + duplicated


async def test_live_run_stops_cleanly_on_stop_and_on_cancel(network, subscriber):
    registry = synthetic_registry(2, seed=1, network=network)
    start_us = int(time.time()) * US - 120 * US
    common = dict(speedup=1000.0, rate=50.0, start_us=start_us, duration_s=None, seed=1, faults=False)
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_simulator(registry, HOST, PORT, **common, stop=stop, client_id=f"a-{network}")
    )
    await subscriber.wait_for(2)  # the replayed two minutes of both tide gauges
    stop.set()
    stats = await asyncio.wait_for(task, timeout=5)
    assert stats.messages >= 2 and stats.sim_time_us <= time.time() * US
    task = asyncio.create_task(run_simulator(registry, HOST, PORT, **common, client_id=f"b-{network}"))
    await asyncio.sleep(0.5)
    task.cancel()
    began = time.monotonic()
    with contextlib.suppress(asyncio.CancelledError):
        await asyncio.wait_for(task, timeout=5)
    assert task.cancelled() and time.monotonic() - began < 5
