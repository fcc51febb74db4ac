"""Operator actions (acknowledge, silence) onto the alert-actions Kafka topic.

The console never writes alert state itself: the alert agent applies actions in stream order next to
the data, so the alert history stays a replayable result of the event log.
"""

from __future__ import annotations

import asyncio

import orjson
from aiokafka import AIOKafkaProducer

from schemas.records import ALERT_ACTIONS_TOPIC, partition_for
from services.config import Settings
from services.kafka_topics import ensure_topics, tidewatch_topics


def action_station(action: dict) -> str | None:
    """The station an action concerns: named, or the first part of the alert id."""
    if action.get("station"):
        return str(action["station"])
    alert_id = action.get("alert_id")
    return str(alert_id).split("/", 1)[0] if alert_id else None


class KafkaActions:
    """``await actions(action)`` returns once Kafka holds the action on every partition concerned."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                await ensure_topics(
                    self.settings.kafka_bootstrap, tidewatch_topics(self.settings.topic_partitions)
                )
                producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
                await producer.start()
                self._producer = producer
        return self._producer

    async def __call__(self, action: dict) -> None:
        producer = await self._started()
        partitions = self.settings.topic_partitions
        station = action_station(action)
        # A silence of a rule across all stations must reach every partition's alert engine.
        targets = [partition_for(station, partitions)] if station else range(partitions)
        value = orjson.dumps(action)
        await asyncio.gather(
            *[producer.send_and_wait(ALERT_ACTIONS_TOPIC, value, partition=p) for p in targets]
        )

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
