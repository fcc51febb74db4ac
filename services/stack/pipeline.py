"""The tidewatch processes of one pipeline (a stream worker and ingest) as children.

Shared by the demo, the integration tests and the benchmarks: each start waits until the process
says it is ready, so callers never race a worker that is still joining its consumer group.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from services.config import Settings, settings_env
from services.stack.process import Child, start_child

CLI = [sys.executable, "-m", "services.cli"]


@dataclass
class Pipeline:
    settings: Settings
    network: str
    logs: Path
    worker: Child | None = None
    ingest: Child | None = None

    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def env(self) -> dict[str, str]:
        return {
            **settings_env(self.settings),
            "TIDEWATCH_MQTT_CLIENT_ID": f"ingest-{self.network}",
            **self.extra_env,
        }

    async def start_worker(self, timeout_s: float = 90) -> Child:
        offset = _size(self.logs / "worker.log")
        self.worker = start_child("worker", [*CLI, "worker"], self.logs / "worker.log", self.env)
        await wait_for_log(self.worker, "Worker]: Ready", timeout_s=timeout_s, offset=offset)
        return self.worker

    async def start_with_metrics(self, worker_port: int, ingest_port: int) -> list[Child]:
        """The worker, then ingest, each serving its Prometheus page on its own port."""
        self.extra_env["TIDEWATCH_METRICS_PORT"] = str(worker_port)
        worker = await self.start_worker()
        self.extra_env["TIDEWATCH_METRICS_PORT"] = str(ingest_port)
        return [worker, await self.start_ingest()]

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
