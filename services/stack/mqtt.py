"""An MQTT broker for the demo and tests when none is reachable: a private Mosquitto.

It runs with the project's broker settings for the ingest client (docker/mosquitto/mosquitto.conf).
Ingest needs MQTT v5 (Receive Maximum for its ack-after-Kafka window), which rules out the
pure-Python amqtt broker (3.1.1 only); ``make deps`` installs Mosquitto where it is missing.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from services.stack.process import Child, free_port, start_child, wait_for_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_CONF = PROJECT_ROOT / "docker" / "mosquitto" / "mosquitto.conf"


def _mosquitto_config(work_dir: Path, port: int) -> Path:
    """The production broker settings, rebound to a loopback port with state in ``work_dir``."""
    lines = [
        line
        for line in MOSQUITTO_CONF.read_text().splitlines()
        if not line.startswith(("listener", "persistence_location", "log_dest", "pid_file"))
    ]
    lines += [f"listener {port} 127.0.0.1", f"persistence_location {work_dir}/", "log_dest stdout"]
    path = work_dir / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


async def start_mqtt_broker(work_dir: Path, port: int | None = None) -> tuple[Child, str]:
    port = port or free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not mosquitto:
        raise RuntimeError(
            "no MQTT broker answers and Mosquitto is not installed: run `make deps` (installs it with "
            "apt-get) or set TIDEWATCH_MQTT_URL to an MQTT v5 broker"
        )
    argv = [mosquitto, "-c", str(_mosquitto_config(work_dir, port))]
    child = start_child("mqtt (mosquitto)", argv, work_dir / "mqtt.log")
    await wait_for_port("127.0.0.1", port, timeout_s=20, child=child)
    return child, f"mqtt://127.0.0.1:{port}"
