"""Operator actions (acknowledge, silence) onto the alert-inputs Kafka topic (the alert engine's ordered log).

The console never writes alert state itself: the alert agent applies actions in stream order next to
the data, so the alert history stays a replayable result of the event log.
"""

from __future__ import annotations

import asyncio

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.actions import AlertAction, action_station, encode_action
from schemas.records import ALERT_INPUTS_TOPIC, partition_for
from services.config import Settings
from services.kafka_topics import ensure_topics, tidewatch_topics


class ActionsUnavailable(Exception):
    """The action was not submitted: the message names what is unreachable."""


class KafkaActions:
    """``await actions(action)`` returns once Kafka holds the action on every partition concerned.

    It answers within ``timeout_s`` (TIDEWATCH_CONSOLE_ACTION_TIMEOUT_S, default 5): an operator waiting
    on a click must hear "not submitted, Kafka unreachable" rather than wait on retries.
    """

    def __init__(self, settings: Settings, *, timeout_s: float | None = None) -> None:
        self.settings = settings
        self.timeout_s = timeout_s or settings.console_action_timeout_s
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _started(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                await ensure_topics(
                    self.settings.kafka_bootstrap, tidewatch_topics(self.settings.topic_partitions)
                )
                producer = AIOKafkaProducer(bootstrap_servers=self.settings.kafka_bootstrap, acks="all")
                try:
                    await producer.start()
                except BaseException:
                    await producer.stop()
                    raise
                self._producer = producer
        return self._producer

    async def __call__(self, action: AlertAction) -> None:
        try:
            async with asyncio.timeout(self.timeout_s):
                await self._send(action)
        except (TimeoutError, KafkaError, OSError) as exc:
            reason = "no answer" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise ActionsUnavailable(
                f"Kafka at {self.settings.kafka_bootstrap} is unreachable ({reason} within "
                f"{self.timeout_s:g} s): the action was not submitted; try again when it is back"
            ) from exc

    async def _send(self, action: AlertAction) -> None:
        producer = await self._started()
        partitions = self.settings.topic_partitions
        station = action_station(action)
        # A silence of a rule across all stations must reach every partition's alert engine.
        targets = [partition_for(station, partitions)] if station else range(partitions)
        value = encode_action(action)
        await asyncio.gather(
            *[producer.send_and_wait(ALERT_INPUTS_TOPIC, value, partition=p) for p in targets]
        )

    async def close(self) -> None:
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None
