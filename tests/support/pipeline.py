"""Helpers for integration tests: run real tidewatch processes and publish real MQTT messages."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import paho.mqtt.client as paho
import yaml

from schemas.contract import readings_topic
from schemas.registry import default_registry_path
from services.config import Settings
from services.mqtt_auth import configure_paho

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
