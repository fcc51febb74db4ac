"""Helpers for integration tests: run real tidewatch processes and publish real MQTT messages."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import paho.mqtt.client as paho
import yaml

from schemas.contract import readings_topic
from schemas.records import (
    ALERT_INPUTS_TOPIC,
    DEAD_LETTER_TOPIC,
    OBSERVATIONS_TOPIC,
    READINGS_TOPIC,
    TIDE_MODELS_TOPIC,
)
from schemas.registry import default_registry_path
from services.config import Settings
from services.mqtt_auth import configure_paho
from services.stack.process import Child

if TYPE_CHECKING:
    from services.stack.pipeline import Pipeline


def isolated_registry(tmp_dir: Path, network: str) -> Path:
    """The sample registry under a network name of its own, so parallel runs never share topics."""
    document = yaml.safe_load(default_registry_path().read_text())
    document["network"] = network
    path = tmp_dir / f"registry-{network}.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def iso(time_us: int) -> str:
    seconds, micros = divmod(time_us, 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"


def message(station: str, time_us: int, values: dict, backlog: Iterable[tuple[int, dict]] = ()) -> bytes:
    payload: dict = {"station": station, "time": iso(time_us), "values": values}
    backlog = list(backlog)
    if backlog:
        payload["backlog"] = [{"time": iso(t), "values": v} for t, v in backlog]
    return json.dumps(payload).encode()


class Publisher:
    """A QoS 1 MQTT publisher that waits until the broker has every message."""

    def __init__(self, settings: Settings, network: str) -> None:
        self.network = network
        self.client = paho.Client(
            paho.CallbackAPIVersion.VERSION2,
            client_id=f"test-pub-{uuid.uuid4().hex[:8]}",
            protocol=paho.MQTTv5,
        )
        target = settings.mqtt_target("publish")  # the gateway account of the private broker
        configure_paho(self.client, target)
        self.client.max_inflight_messages_set(100)
        self.client.connect(target.host, target.port)
        self.client.loop_start()

    def publish(self, station: str, payload: bytes, topic: str | None = None) -> None:
        info = self.client.publish(topic or readings_topic(self.network, station), payload, qos=1)
        info.wait_for_publish(30)

    def publish_many(self, items: Iterable[tuple[str, bytes]], pace_per_s: float = 2000) -> int:
        infos, count, started = [], 0, time.monotonic()
        for station, payload in items:
            infos.append(self.client.publish(readings_topic(self.network, station), payload, qos=1))
            count += 1
            ahead = count / pace_per_s - (time.monotonic() - started)
            if ahead > 0:
                time.sleep(ahead)
        for info in infos:
            info.wait_for_publish(60)
        return count

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


async def wait_for_count(
    conn: asyncpg.Connection,
    sql: str,
    *args: object,
    expected: int,
    timeout_s: float = 60,
    settle_s: float = 1.5,
) -> int:
    """Poll until ``sql`` returns ``expected``, then keep watching briefly to catch extras."""
    deadline = time.monotonic() + timeout_s
    count = -1
    while time.monotonic() < deadline:
        count = await conn.fetchval(sql, *args)
        if count >= expected:
            await asyncio.sleep(settle_s)
            return await conn.fetchval(sql, *args)
        await asyncio.sleep(0.25)
    return count


async def wait_until_quiet(
    conn: asyncpg.Connection, tables: Iterable[str], quiet_s: float, timeout_s: float
) -> None:
    """Wait until the row counts of these tables (the first one non-empty) have not changed for
    ``quiet_s``: a pipeline has worked off what it was given."""
    sql = "SELECT " + ", ".join(f"(SELECT count(*) FROM {table})" for table in tables)
    loop = asyncio.get_running_loop()
    deadline, last, since = loop.time() + timeout_s, None, loop.time()
    while loop.time() < deadline:
        now = tuple(await conn.fetchrow(sql))
        if now != last:
            last, since = now, loop.time()
        elif now[0] > 0 and loop.time() - since >= quiet_s:
            return
        await asyncio.sleep(0.5)
    raise TimeoutError(f"still storing after {timeout_s} s: {last}")


# What a worker's group consumes (streams/agents): the readings and dead letters ingest produces, and
# what the agents hand on to one another. The alert inputs also get a tick every few seconds.
CONSUMED_TOPICS = (
    READINGS_TOPIC,
    DEAD_LETTER_TOPIC,
    OBSERVATIONS_TOPIC,
    TIDE_MODELS_TOPIC,
    ALERT_INPUTS_TOPIC,
)


async def wait_until_worked_off(
    settings: Settings,
    conn: asyncpg.Connection,
    tables: Iterable[str],
    quiet_s: float = 2.0,
    timeout_s: float = 300.0,
) -> None:
    """Wait until the worker group has committed every record of the topics it consumes, then until the
    row counts of ``tables`` have been still for ``quiet_s`` (``wait_until_quiet``).

    An agent hands its results on (delivered) and stores its rows before its input offsets are
    committed, so once the upstream topics are committed to their ends and no longer grow, the alert
    inputs derived from them are all on their topic; those are then awaited to the end seen at that
    moment (the periodic ticks that follow do not matter). Ends are the real ones
    (``streams.recovery.log_ends``: Tansu reports less)."""
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from streams.recovery import log_ends

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap, group_id=settings.worker_id, enable_auto_commit=False
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [
            TopicPartition(topic, p)
            for topic in CONSUMED_TOPICS
            for p in sorted(consumer.partitions_for_topic(topic) or ())
        ]

        async def ends() -> dict[TopicPartition, int]:
            reported = await consumer.end_offsets(parts)
            real = await log_ends(
                settings.kafka_bootstrap, {(tp.topic, tp.partition): reported[tp] for tp in parts}
            )
            return {tp: real[tp.topic, tp.partition] for tp in parts}

        async def committed_to(target: dict[TopicPartition, int]) -> None:
            waiting = dict(target)
            while waiting:
                waiting = {
                    tp: end for tp, end in waiting.items() if (await consumer.committed(tp) or 0) < end
                }
                if waiting:
                    if loop.time() > deadline:
                        raise TimeoutError(
                            f"not worked off after {timeout_s} s: {sorted(map(tuple, waiting))}"
                        )
                    await asyncio.sleep(0.25)

        upstream = [tp for tp in parts if tp.topic != ALERT_INPUTS_TOPIC]
        before = await ends()
        while True:
            await committed_to(before)
            after = await ends()
            if all(after[tp] == before[tp] for tp in upstream):
                await committed_to({tp: after[tp] for tp in parts if tp.topic == ALERT_INPUTS_TOPIC})
                break
            before = after
    finally:
        await consumer.stop()
    await wait_until_quiet(conn, tables, quiet_s, max(deadline - loop.time(), quiet_s + 1))


def stop_together(children: Iterable[Child | None], timeout_s: float = 20.0) -> None:
    """``Child.stop`` for several children at once: each is signalled first, so their clean shutdowns
    (a worker leaving its group) overlap instead of following one another."""
    alive = [child for child in children if child is not None and child.alive()]
    for child in alive:
        child.process.send_signal(signal.SIGTERM)
    deadline = time.monotonic() + timeout_s
    for child in alive:
        try:
            child.process.wait(max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            child.kill()


async def pipeline_on_own_database(base: Settings, tmp: Path, network: str, logs: Path) -> Pipeline:
    """A pipeline (not started) of the sample network renamed ``network``, with a consumer group and a
    prepared database of its own on ``base``'s services; drop ``pipeline.settings.database_url`` after."""
    from services.db.connect import ensure_database
    from services.db.prepare import prepare_database
    from services.stack.pipeline import Pipeline
    from streams.indicators.catalogue import INDICATORS

    settings = base.with_(
        database_url=base.database_url.rsplit("/", 1)[0] + f"/tw_{network}",
        registry_path=str(isolated_registry(tmp, network)),
        worker_id=f"w-{network}",
    )
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    return Pipeline(settings, network, logs, extra_env={"TIDEWATCH_DATA_DIR": str(tmp / "a")})
