"""Publish the simulation to MQTT: replay from the start at `speedup`, then live, paced, QoS 1.

Simulated time never runs ahead of the wall clock (ingest refuses samples > 300 s in the future):
sim_now = min(start + speedup × elapsed, wall now). Messages are generated a chunk ahead (the model
is pure) and each is published once sim_now passes its time, at most `rate` per second.

paho-mqtt with its network thread is used, not aiomqtt: measured here publishing QoS 1 to the local
Mosquitto, paho ~6–8k msg/s at ~120–160 µs CPU a message; aiomqtt 2–2.6k msg/s at ~320–410 µs
(it awaits every PUBACK through a future). paho also queues QoS 1 messages while the broker is
away and resends them when its thread has reconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import paho.mqtt.client as mqtt

from schemas.registry import Registry
from services.mqtt_auth import MqttTarget, configure_paho
from services.simulate import faults as fk
from services.simulate.faults import FaultRates
from services.simulate.model import US, SimMessage, Simulation
from services.simulate.scenario import Scenario, default_scenario

log = logging.getLogger(__name__)

DEFAULT_REPLAY_H = 240.0
MAX_PENDING = 1000  # unacknowledged publishes before the simulator waits (bounded memory)
MAX_INFLIGHT = 100  # QoS 1 messages on the wire without PUBACK (paho queues the rest)
# Messages are generated a chunk of simulated time at once: the model's cost is mostly per station
# and chunk (~2–3 ms of numpy calls), so chunks of a few thousand messages make it ~30 µs a message.
CHUNK_MESSAGES_PER_STATION = 360
MAX_CHUNK_MESSAGES = 50_000  # bounds memory with thousands of stations
MIN_CHUNK_S, MAX_CHUNK_S = 60.0, 86_400.0
YIELD_EVERY = 256


@dataclass
class SimStats:
    """What the simulator published.

    readings and samples are what ingest should accept (readings as StationReadings.count():
    values including nulls), duplicates not counted twice; faults counts every injected fault by
    kind (sensor faults by sample, gap and silent by sample lost, the rest by message).
    """

    messages: int = 0
    readings: int = 0
    samples: int = 0
    bytes: int = 0
    faults: Counter[str] = field(default_factory=Counter)
    sim_time_us: int = 0
    start_us: int = 0
    elapsed_s: float = 0.0
    connects: int = 0

    @property
    def duplicates(self) -> int:
        return self.faults[fk.DUPLICATE]

    @property
    def late_batches(self) -> int:
        return self.faults[fk.LATE_BATCH]

    @property
    def dead_letters_expected(self) -> int:
        return sum(self.faults[kind] for kind in fk.CONTRACT_FAULTS)

    def add(self, message: SimMessage) -> None:
        self.messages += 1
        self.bytes += len(message.payload)
        if message.fault is not None:
            self.faults[message.fault] += 1
        if message.fault != fk.DUPLICATE:
            self.readings += message.readings
            self.samples += message.samples
            self.faults.update(message.value_faults)
        self.sim_time_us = max(self.sim_time_us, message.time_us)

    def as_dict(self) -> dict[str, object]:
        return {
            "messages": self.messages,
            "readings": self.readings,
            "samples": self.samples,
            "bytes": self.bytes,
            "duplicates": self.duplicates,
            "late_batches": self.late_batches,
            "dead_letters_expected": self.dead_letters_expected,
            "faults": dict(sorted(self.faults.items())),
            "sim_time_us": self.sim_time_us,
            "elapsed_s": round(self.elapsed_s, 3),
            "connects": self.connects,
        }


class SimClock:
    """Simulated time: `speedup` × real time from start_us, never ahead of the wall clock."""

    def __init__(self, start_us: int, speedup: float) -> None:
        if speedup <= 0:
            raise ValueError("speedup must be positive")
        self.start_us = start_us
        self.speedup = speedup
        self._t0 = time.monotonic()

    def replay_us(self) -> float:
        return self.start_us + self.speedup * (time.monotonic() - self._t0) * US

    def now_us(self) -> int:
        return int(min(self.replay_us(), time.time() * US))

    def seconds_until(self, sim_us: int) -> float:
        """Real seconds until now_us() reaches sim_us (both the replay and the wall must get there)."""
        replay_s = (sim_us - self.replay_us()) / US / self.speedup
        wall_s = sim_us / US - time.time()
        return max(replay_s, wall_s, 0.0)


class Pacer:
    """At most `rate` messages a second, sleeping in slices of a few ms rather than per message."""

    def __init__(self, rate: float | None, burst_s: float = 0.05) -> None:
        self.interval_s = 1.0 / rate if rate else 0.0
        self.burst_s = burst_s
        self._next = time.monotonic()

    async def wait(self) -> None:
        if not self.interval_s:
            return
        now = time.monotonic()
        self._next = max(self._next, now - self.burst_s) + self.interval_s
        if self._next - now > 0.002:
            await asyncio.sleep(self._next - now)


class PahoLink:
    """One MQTT connection; paho's thread reads, writes, keeps alive and reconnects."""

    def __init__(
        self,
        host: str,
        port: int,
        client_id: str | None,
        max_pending: int = MAX_PENDING,
        target: MqttTarget | None = None,
    ) -> None:
        self.sent = 0
        self.acked = 0
        self.connects = 0
        self.closing = False
        self.max_pending = max_pending
        client = mqtt.Client(
            mqtt.CallbackAPIVersion.VERSION2,
            client_id=client_id or f"tidewatch-sim-{uuid.uuid4().hex[:8]}",
            protocol=mqtt.MQTTv311,
            clean_session=True,
        )
        if target is not None:  # a station's or a gateway's account, TLS for mqtts://
            configure_paho(client, target)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        client.reconnect_delay_set(min_delay=1, max_delay=5)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        self.client = client
        client.connect_async(host, port, keepalive=30)
        client.loop_start()

    def _on_connect(
        self,
        client: object,
        userdata: object,
        flags: object,
        reason_code: mqtt.ReasonCode,
        properties: object,
    ) -> None:
        if not reason_code.is_failure:
            self.connects += 1
            log.info("simulator connected to MQTT (connection %d)", self.connects)

    def _on_disconnect(
        self, client: object, userdata: object, flags: object, reason_code: object, properties: object
    ) -> None:
        if not self.closing:
            log.warning("simulator lost the MQTT connection (%s); paho reconnects", reason_code)

    def _on_publish(
        self, client: object, userdata: object, mid: int, reason_code: object, properties: object
    ) -> None:
        self.acked += 1  # only paho's thread writes this

    async def wait_connected(self, timeout_s: float | None) -> None:
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not self.client.is_connected():
            if deadline is not None and time.monotonic() > deadline:
                raise ConnectionError(f"no MQTT connection after {timeout_s} s")
            await asyncio.sleep(0.05)

    async def publish(self, topic: str, payload: bytes) -> None:
        while self.sent - self.acked >= self.max_pending:  # broker slow or away: hold back
            await asyncio.sleep(0.005)
        self.client.publish(topic, payload, qos=1)
        self.sent += 1

    async def close(self, drain_s: float) -> None:
        deadline = time.monotonic() + drain_s
        while self.acked < self.sent and time.monotonic() < deadline and self.client.is_connected():
            await asyncio.sleep(0.01)
        self.closing = True
        self.client.disconnect()
        await asyncio.to_thread(self.client.loop_stop)


def default_start_us(now_us: int, scenario: Scenario | None) -> int:
    """Replay the scenario's length (default 10 days) up to now, starting on a whole minute."""
    hours = (scenario.duration_h if scenario and scenario.duration_h else None) or DEFAULT_REPLAY_H
    start = now_us - int(hours * 3600 * US)
    return start - start % (60 * US)


def chunk_us(messages_per_sim_s: float, stations: int) -> int:
    """Simulated time holding a few hundred messages per station, at most MAX_CHUNK_MESSAGES."""
    if messages_per_sim_s <= 0:
        return int(MAX_CHUNK_S * US)
    wanted = min(CHUNK_MESSAGES_PER_STATION * stations, MAX_CHUNK_MESSAGES)
    return int(min(max(wanted / messages_per_sim_s, MIN_CHUNK_S), MAX_CHUNK_S) * US)


async def run_simulator(
    registry: Registry,
    host: str,
    port: int,
    *,
    speedup: float,
    rate: float | None,
    start_us: int | None,
    duration_s: float | None,
    seed: int,
    faults: bool | FaultRates,
    scenario: Scenario | None = None,
    max_messages: int | None = None,
    client_id: str | None = None,
    mqtt_target: MqttTarget | None = None,
    progress: Callable[[SimStats], None] | None = None,
    stations: Iterable[str] | None = None,
    stop: asyncio.Event | None = None,
    progress_interval_s: float = 5.0,
    connect_timeout_s: float | None = 30.0,
) -> SimStats:
    """Publish until duration_s of simulated time, max_messages, `stop` is set, or cancellation.

    Without duration_s it replays up to now and then runs live for ever. Returns the counts; on
    cancellation it disconnects cleanly and re-raises.
    """
    scenario = scenario if scenario is not None else default_scenario()
    if start_us is None:
        start_us = default_start_us(int(time.time() * US), scenario)
    end_us = None if duration_s is None else start_us + int(duration_s * US)
    sim = Simulation(registry, scenario, seed, start_us, faults=faults, stations=stations)
    stats = SimStats(start_us=start_us, sim_time_us=start_us)
    link = PahoLink(host, port, client_id, target=mqtt_target)
    began = time.monotonic()
    last_progress = began
    try:
        await link.wait_connected(connect_timeout_s)
        clock = SimClock(start_us, speedup)
        pacer = Pacer(rate)
        step_us = chunk_us(sim.messages_per_sim_s(), len(sim.runs))
        cursor = start_us
        while end_us is None or cursor < end_us:
            chunk_end = cursor + step_us if end_us is None else min(cursor + step_us, end_us)
            for message in sim.messages_between(cursor, chunk_end):
                while (delay_s := clock.seconds_until(message.time_us)) > 0:  # live: wait in slices
                    if await _stopped(stop, min(delay_s, progress_interval_s)):
                        return stats
                    last_progress = _maybe_report(
                        stats, sim, link, began, progress, last_progress, progress_interval_s
                    )
                await pacer.wait()
                await link.publish(message.topic, message.payload)
                stats.add(message)
                if max_messages is not None and stats.messages >= max_messages:
                    return stats
                if stats.messages % YIELD_EVERY == 0:
                    await asyncio.sleep(0)
                    if stop is not None and stop.is_set():
                        return stats
                    last_progress = _maybe_report(
                        stats, sim, link, began, progress, last_progress, progress_interval_s
                    )
            cursor = chunk_end
            if await _stopped(stop, 0):
                return stats
        return stats
    finally:
        _report(stats, sim, link, began, None)
        with contextlib.suppress(Exception):
            await asyncio.shield(link.close(drain_s=5.0))
        if progress is not None:
            progress(stats)


async def _stopped(stop: asyncio.Event | None, wait_s: float) -> bool:
    """Sleep up to wait_s; True as soon as `stop` is set."""
    if stop is None:
        if wait_s > 0:
            await asyncio.sleep(wait_s)
        return False
    if wait_s <= 0:
        return stop.is_set()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), wait_s)
    return stop.is_set()


def _maybe_report(
    stats: SimStats,
    sim: Simulation,
    link: PahoLink,
    began: float,
    progress: Callable[[SimStats], None] | None,
    last: float,
    interval_s: float,
) -> float:
    """Report progress if interval_s has passed since `last`; returns the new `last`."""
    now = time.monotonic()
    if progress is None or now - last < interval_s:
        return last
    _report(stats, sim, link, began, progress)
    return now


def _report(
    stats: SimStats,
    sim: Simulation,
    link: PahoLink,
    began: float,
    progress: Callable[[SimStats], None] | None,
) -> None:
    for kind, count in sim.dropped.items():
        if count:
            stats.faults[kind] = count
    stats.connects = link.connects
    stats.elapsed_s = time.monotonic() - began
    if progress is not None:
        progress(stats)
