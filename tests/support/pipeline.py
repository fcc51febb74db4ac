"""Helpers for integration tests: run real tidewatch processes and publish real MQTT messages."""

from __future__ import annotations

import asyncio
import json
import sys
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import paho.mqtt.client as paho
import yaml

from schemas.contract import readings_topic
from schemas.registry import default_registry_path
from services.config import Settings, settings_env
from services.stack.process import Child, start_child

CLI = [sys.executable, "-m", "services.cli"]


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
        self.client.max_inflight_messages_set(100)
        self.client.connect(settings.mqtt.host, settings.mqtt.port)
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


@dataclass
class Pipeline:
    settings: Settings
    network: str
    logs: Path
    worker: Child | None = None
    ingest: Child | None = None

    @property
    def env(self) -> dict[str, str]:
        return {
            **settings_env(self.settings),
            "TIDEWATCH_MQTT_SHARE_GROUP": f"g-{self.network}",
            "TIDEWATCH_MQTT_CLIENT_ID": f"ingest-{self.network}",
        }

    async def start_worker(self) -> Child:
        offset = _size(self.logs / "worker.log")
        self.worker = start_child("worker", [*CLI, "worker"], self.logs / "worker.log", self.env)
        await wait_for_log(self.worker, "Worker]: Ready", timeout_s=90, offset=offset)
        return self.worker

    async def start_ingest(self) -> Child:
        offset = _size(self.logs / "ingest.log")
        self.ingest = start_child("ingest", [*CLI, "ingest"], self.logs / "ingest.log", self.env)
        await wait_for_log(self.ingest, "ingest subscribed", timeout_s=60, offset=offset)
        return self.ingest

    def stop(self) -> None:
        for child in (self.ingest, self.worker):
            if child is not None:
                child.stop(20)


def _size(path: Path) -> int:
    return path.stat().st_size if path.exists() else 0


async def wait_for_log(child: Child, text: str, timeout_s: float, offset: int = 0) -> None:
    """Wait until the child's log, from byte ``offset`` on, contains ``text``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not child.alive():
            raise RuntimeError(f"{child.name} exited:\n{child.tail(40)}")
        with open(child.log_path, "rb") as log:
            log.seek(offset)
            if text.encode() in log.read():
                return
        await asyncio.sleep(0.2)
    raise TimeoutError(f"{child.name} did not log {text!r} in {timeout_s} s:\n{child.tail(40)}")


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
