"""An MQTT broker for the demo when none is reachable.

Prefers a private Mosquitto (when the binary is installed) run with the project's broker settings
for the ingest client (docker/mosquitto/mosquitto.conf), else the pure-Python amqtt broker.
"""

from __future__ import annotations

import shutil
import sys
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


def _amqtt_config(work_dir: Path, port: int) -> Path:
    path = work_dir / "amqtt.yaml"
    path.write_text(
        "listeners:\n"
        "  default:\n"
        "    type: tcp\n"
        f"    bind: 127.0.0.1:{port}\n"
        "plugins:\n"
        "  amqtt.plugins.authentication.AnonymousAuthPlugin:\n"
        "    allow_anonymous: true\n"
    )
    return path


async def start_mqtt_broker(work_dir: Path, port: int | None = None) -> tuple[Child, str]:
    port = port or free_port()
    work_dir.mkdir(parents=True, exist_ok=True)
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if mosquitto:
        argv = [mosquitto, "-c", str(_mosquitto_config(work_dir, port))]
        name = "mqtt (mosquitto)"
    else:
        argv = [sys.executable, "-m", "amqtt.scripts.broker_script", "-c", str(_amqtt_config(work_dir, port))]
        name = "mqtt (amqtt)"
    child = start_child(name, argv, work_dir / "mqtt.log")
    await wait_for_port("127.0.0.1", port, timeout_s=20, child=child)
    return child, f"mqtt://127.0.0.1:{port}"
