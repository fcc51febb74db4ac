"""Ingest: MQTT (QoS 1, persistent session) → validate → Kafka, acknowledging only what Kafka holds.

Delivery guarantee: an MQTT message is acknowledged (PUBACK, in arrival order) only after every
Kafka record made from it was acknowledged by the broker. A crash before that leaves the message
unacknowledged in the broker's persistent session, which redelivers it; downstream writes are
idempotent, so a redelivery never duplicates a row. MQTT v5 Receive Maximum lets thousands of
messages be in flight while a batch is produced; when Kafka stalls, unacknowledged messages pile up
to that limit and the broker holds the rest: natural backpressure, nothing dropped here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from schemas.contract import Validator, readings_subscription
from schemas.records import READINGS_TOPIC
from schemas.registry import Registry
from services.backoff import Backoff
from services.config import Settings
from services.ingest import metrics
from services.ingest.batcher import Batcher, Flush
from services.ingest.manual_ack import ManualAck
from services.kafka_topics import ensure_topics, tidewatch_topics
from services.mqtt_auth import aiomqtt_options, private_client_id

log = logging.getLogger(__name__)
SESSION_EXPIRY_S = 24 * 3600


@dataclass
class IngestStats:
    messages: int = 0
    readings: int = 0
    acked_messages: int = 0
    refusals: Counter[str] = field(default_factory=Counter)
    kafka_retries: int = 0
    mqtt_reconnects: int = 0


def _now_us() -> int:
    return time.time_ns() // 1000


class Ingest:
    def __init__(self, settings: Settings, registry: Registry, stats: IngestStats | None = None) -> None:
        self.settings = settings
        self.registry = registry
        self.validator = Validator(registry)
        self._kinds = {s.id: s.kind for s in registry.stations.values()}
        metrics.initialise(sorted(set(self._kinds.values())))
        self.stats = stats or IngestStats()
        self._producer: AIOKafkaProducer | None = None
        self._acks: asyncio.Queue[tuple[int, Flush, list[asyncio.Future]]] = asyncio.Queue()
        self._generation = 0
        self._puback: ManualAck | None = None  # the connected client's acknowledgements
        self.ready = asyncio.Event()

    # -- Kafka -----------------------------------------------------------------------------------
    async def _start_producer(self) -> AIOKafkaProducer:
        backoff = Backoff(0.2, 10.0)
        while True:
            producer = AIOKafkaProducer(
                bootstrap_servers=self.settings.kafka_bootstrap,
                acks="all",
                linger_ms=5,
                max_request_size=8 * 1024 * 1024,
                request_timeout_ms=15_000,
            )
            try:
                await producer.start()
                return producer
            except (KafkaError, OSError) as exc:
                await producer.stop()
                log.warning("Kafka unreachable (%s); retrying in %.1f s", exc, backoff.next_s)
                await backoff.sleep()

    async def _send(self, flush: Flush) -> list[asyncio.Future]:
        assert self._producer is not None
        return [
            await self._producer.send(record.topic, record.value, partition=record.partition)
            for record in flush.records
        ]

    # -- acknowledgement ---------------------------------------------------------------------------
    async def _acker(self) -> None:
        """Acknowledge flushes strictly in order, re-sending a flush whose produce failed."""
        while True:
            generation, flush, futures = await self._acks.get()
            backoff = Backoff(0.2, 10.0)
            while True:
                try:
                    await asyncio.gather(*futures)
                    break
                except (KafkaError, OSError) as exc:
                    self.stats.kafka_retries += 1
                    metrics.KAFKA_RETRIES.inc()
                    log.warning("Kafka produce failed (%s); re-sending %d records", exc, len(flush.records))
                    await backoff.sleep()
                    with contextlib.suppress(KafkaError, OSError):
                        futures = await self._send(flush)
            if generation == self._generation and self._puback is not None:
                puback = self._puback
                for mid in flush.mids:
                    puback.ack(mid)
                self.stats.acked_messages += len(flush.mids)
                metrics.ACKED.inc(len(flush.mids))
            metrics.IN_FLIGHT.dec(len(flush.mids))
            self._acks.task_done()

    async def _flush(self, batcher: Batcher) -> None:
        if not len(batcher):
            return
        flush = batcher.take()
        kinds = self._kinds
        for station, count in flush.readings.items():
            self.stats.readings += count
            metrics.READINGS.labels(kinds.get(station, "unknown")).inc(count)
        for (reason, refused_station), count in flush.refusals.items():
            self.stats.refusals[reason] += count
            metrics.REFUSED.labels(reason, kinds.get(refused_station or "", "unknown")).inc(count)
        try:
            futures = await self._send(flush)
        except (KafkaError, OSError) as exc:
            log.warning("Kafka send failed (%s); the acker retries", exc)
            failed: asyncio.Future = asyncio.get_running_loop().create_future()
            failed.set_exception(exc)
            futures = [failed]
        await self._acks.put((self._generation, flush, futures))

    # -- MQTT ------------------------------------------------------------------------------------
    def _mqtt_client(self) -> tuple[aiomqtt.Client, ManualAck]:
        target = self.settings.mqtt_target()
        properties = Properties(PacketTypes.CONNECT)
        properties.ReceiveMaximum = min(65535, self.settings.ingest_max_inflight)
        properties.SessionExpiryInterval = SESSION_EXPIRY_S
        options: dict[str, Any] = aiomqtt_options(target)  # typed per keyword by aiomqtt.Client
        client = aiomqtt.Client(
            **options,
            identifier=private_client_id("tidewatch-ingest", target, self.settings.mqtt_client_id),
            protocol=aiomqtt.ProtocolVersion.V5,
            clean_start=False,
            properties=properties,
            keepalive=30,
        )
        return client, ManualAck(client)

    async def _read(self, client: aiomqtt.Client, batcher: Batcher) -> None:
        validate = self.validator.validate
        async for message in client.messages:
            payload = message.payload if isinstance(message.payload, bytes) else bytes(message.payload)
            topic = message.topic.value
            received = _now_us()
            batcher.add(message.mid, topic, payload, received, validate(topic, payload, received))
            self.stats.messages += 1
            metrics.MESSAGES.inc()
            metrics.IN_FLIGHT.inc()
            if batcher.full():
                await self._flush(batcher)

    async def _linger(self, batcher: Batcher) -> None:
        interval = self.settings.ingest_linger_ms / 1000
        while True:
            await asyncio.sleep(interval)
            await self._flush(batcher)

    async def run(self, stop: asyncio.Event) -> None:
        await ensure_topics(self.settings.kafka_bootstrap, tidewatch_topics(self.settings.topic_partitions))
        self._producer = await self._start_producer()
        partitions = len(await self._producer.partitions_for(READINGS_TOPIC))
        acker = asyncio.create_task(self._acker(), name="ingest-acker")
        subscription = readings_subscription(self.registry.network, self.settings.mqtt_share_group or None)
        backoff = Backoff(0.5, 10.0)
        try:
            while not stop.is_set():
                client, puback = self._mqtt_client()
                batcher = Batcher(partitions, self.settings.ingest_max_batch)
                try:
                    async with client:
                        self._generation += 1
                        self._puback = puback
                        await client.subscribe(subscription, qos=1)
                        log.info("ingest subscribed to %s (%d partitions)", subscription, partitions)
                        self.ready.set()
                        backoff.reset()
                        await self._serve(client, batcher, stop)
                except aiomqtt.MqttError as exc:
                    self.stats.mqtt_reconnects += 1
                    metrics.MQTT_RECONNECTS.inc()
                    # Produce what was read anyway, unacknowledged (ids belong to the lost connection):
                    # a broker that was killed may not have saved it, so it would never come again;
                    # one that did redelivers it and the key absorbs the repeat.
                    self._puback = None
                    await self._flush(batcher)
                    log.warning("MQTT connection lost (%s); reconnecting in %.1f s", exc, backoff.next_s)
                    await backoff.sleep()
        finally:
            acker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await acker
            await self._producer.stop()

    async def _serve(self, client: aiomqtt.Client, batcher: Batcher, stop: asyncio.Event) -> None:
        reader = asyncio.create_task(self._read(client, batcher), name="ingest-reader")
        linger = asyncio.create_task(self._linger(batcher), name="ingest-linger")
        stopper = asyncio.create_task(stop.wait())
        try:
            done, _ = await asyncio.wait({reader, linger, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not stopper:
                    task.result()  # re-raise a lost connection
        finally:
            for task in (reader, linger, stopper):
                task.cancel()
            await asyncio.gather(reader, linger, stopper, return_exceptions=True)
        # Clean stop: produce what was read and acknowledge it before disconnecting.
        await self._flush(batcher)
        await self._acks.join()


async def run_ingest(
    settings: Settings, registry: Registry, stop: asyncio.Event, stats: IngestStats | None = None
) -> IngestStats:
    ingest = Ingest(settings, registry, stats)
    await ingest.run(stop)
    return ingest.stats
