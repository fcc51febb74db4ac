"""Run the console on its own: in the caller's event loop (tests, demo) or as ``python -m services.console``.

Standalone it has no stream to hand operator actions to, so it serves read-only unless a caller passes
`actions`; inside tidewatch the lead's HTTP app mounts it with the Kafka-backed submit.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from dataclasses import dataclass

import uvicorn
from starlette.types import ASGIApp

from services.config import load_settings
from services.console.app import create_console


@dataclass
class RunningConsole:
    server: uvicorn.Server
    task: asyncio.Task
    url: str

    async def stop(self) -> None:
        self.server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(self.task, timeout=10)


async def serve_console(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> RunningConsole:
    """Start uvicorn for `app` in this loop (port 0: any free port) and return once it accepts."""
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        log_level="warning",
        lifespan="on",
        timeout_graceful_shutdown=2,
        proxy_headers=False,  # forwarded headers are trusted by ConsoleAccess.trusted_proxies only
    )
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve(), name="console-http")
    while not server.started:
        if task.done():
            task.result()  # raises the start-up error
            raise RuntimeError("console server stopped during start-up")
        await asyncio.sleep(0.02)
    bound = server.servers[0].sockets[0].getsockname()
    return RunningConsole(server, task, f"http://{bound[0]}:{bound[1]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="tidewatch alert console (read-only when run alone)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(create_console(load_settings(), None), host=args.host, port=args.port, proxy_headers=False)
