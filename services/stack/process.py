"""Child processes of the local stack: start, wait until they listen, stop them cleanly."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass
class Child:
    name: str
    process: subprocess.Popen
    log_path: Path

    def alive(self) -> bool:
        return self.process.poll() is None

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout_s: float = 10.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout_s`` (a clean stop lets workers leave their group)."""
        if not self.alive():
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout_s)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(5)

    def kill(self) -> None:
        if self.alive():
            self.process.kill()
            self.process.wait(5)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def start_child(
    name: str, argv: list[str], log_path: Path, env: dict[str, str] | None = None, **popen: Any
) -> Child:
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_file = open(log_path, "ab")  # noqa: SIM115 - owned by the child for its lifetime
    process = subprocess.Popen(
        argv,
        stdout=log_file,
        stderr=subprocess.STDOUT,
        env={**os.environ, **(env or {})},
        start_new_session=True,  # Ctrl-C reaches the launcher only; it stops children in order
        **popen,
    )
    log_file.close()
    return Child(name, process, log_path)


class PortTaken(RuntimeError):
    """A child exited because its port was in use: ``free_port`` picks a port that is free then, and
    another process can take it before the child binds it (any outgoing connection gets such a port as
    its local one). Seen in CI: a test module's private Mosquitto, 78 tests errored. Whoever picked the
    port starts the child again on a new one (``PORT_ATTEMPTS``)."""


PORT_ATTEMPTS = 3


async def retry_taken_port(start: Callable[[], Awaitable[T]], *, picked: bool, what: str) -> T:
    """Run ``start`` again (it picks new ports) when its child found a port taken; only where the
    ports were picked here (``picked``): a port the caller named is the caller's to free."""
    for attempt in range(1, PORT_ATTEMPTS + 1):
        try:
            return await start()
        except PortTaken:
            if not picked or attempt == PORT_ATTEMPTS:
                raise
            log.warning("%s: a port picked for it was taken before it bound it; new ports", what)
    raise AssertionError("unreachable")


async def wait_for_port(host: str, port: int, *, timeout_s: float, child: Child | None = None) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not port_open(host, port):
        if child is not None and not child.alive():
            tail = child.tail()
            error = PortTaken if "in use" in tail.lower() else RuntimeError
            raise error(f"{child.name} exited with {child.process.returncode}:\n{tail}")
        if loop.time() > deadline:
            raise TimeoutError(f"nothing listening on {host}:{port} after {timeout_s} s")
        await asyncio.sleep(0.1)
