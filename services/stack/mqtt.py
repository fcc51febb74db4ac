"""An MQTT broker for the demo and tests when none is reachable: a private, secured Mosquitto.

It runs with the project's broker settings (docker/mosquitto/mosquitto.conf: no anonymous access,
docker/mosquitto/acl, a TLS listener, frequent autosave), rebound to loopback ports, with fresh
random passwords for the service accounts and a demo CA made with openssl. Ingest needs MQTT v5
(Receive Maximum for its ack-after-Kafka window), which rules out the pure-Python amqtt broker
(3.1.1 only); ``make deps`` installs Mosquitto where it is missing.

Started as root, Mosquitto drops to the ``mosquitto`` user, which cannot write a state folder made
by root (every autosave failed with "Permission denied", so a kill lost everything queued). The
private broker therefore keeps the user that started it (``user`` in its config): the folder, the
password file and the key are that user's. The compose image runs as ``mosquitto`` with its own volume.
"""

from __future__ import annotations

import os
import pwd
import shutil
from dataclasses import dataclass
from pathlib import Path

from services.mqtt_auth.accounts import Accounts, create_accounts, generate_certificates
from services.stack.process import Child, free_port, retry_taken_port, start_child, wait_for_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MOSQUITTO_DIR = PROJECT_ROOT / "docker" / "mosquitto"
MOSQUITTO_CONF = MOSQUITTO_DIR / "mosquitto.conf"
MOSQUITTO_ACL = MOSQUITTO_DIR / "acl"
REBOUND: tuple[str, ...] = (
    "listener",
    "persistence_location",
    "log_dest",
    "pid_file",
    "password_file",
    "acl_file",
)
REBOUND += ("cafile", "certfile", "keyfile", "user")


@dataclass(frozen=True, slots=True)
class PrivateBroker:
    """Where the private broker listens and the accounts it was given."""

    port: int
    tls_port: int
    accounts: Accounts
    password_file: Path
    ca_file: Path
    config: Path

    def url(self, account: str, *, tls: bool = False) -> str:
        return self.accounts.url(account, "127.0.0.1", self.tls_port if tls else self.port, tls=tls)


def _own_user() -> str:
    """The user that starts the broker: Mosquitto keeps it instead of dropping to ``mosquitto``."""
    return pwd.getpwuid(os.geteuid()).pw_name


def _mosquitto_config(work_dir: Path, port: int, tls_port: int, certs: dict[str, Path]) -> Path:
    """The production broker settings, rebound to loopback ports with state in ``work_dir``."""
    lines = [line for line in MOSQUITTO_CONF.read_text().splitlines() if not line.startswith(REBOUND)]
    acl = work_dir / "acl"
    shutil.copyfile(MOSQUITTO_ACL, acl)
    lines += [
        f"password_file {work_dir / 'passwd'}",
        f"acl_file {acl}",
        f"listener {port} 127.0.0.1",
        f"listener {tls_port} 127.0.0.1",
        f"cafile {certs['ca']}",
        f"certfile {certs['cert']}",
        f"keyfile {certs['key']}",
        f"persistence_location {work_dir}/",
        "log_dest stdout",
        f"user {_own_user()}",
    ]
    path = work_dir / "mosquitto.conf"
    path.write_text("\n".join(lines) + "\n")
    return path


def prepare_private_broker(
    work_dir: Path, port: int | None = None, tls_port: int | None = None
) -> PrivateBroker:
    """Config, accounts and certificates in ``work_dir`` (kept when it already has them)."""
    work_dir.mkdir(parents=True, exist_ok=True)
    port, tls_port = port or free_port(), tls_port or free_port()
    certs_dir = work_dir / "certs"
    if (certs_dir / "server.crt").exists():
        certs = {
            "ca": certs_dir / "ca.crt",
            "cert": certs_dir / "server.crt",
            "key": certs_dir / "server.key",
        }
    else:
        certs = generate_certificates(certs_dir)
    password_file = work_dir / "passwd"
    accounts = create_accounts(password_file)
    config = _mosquitto_config(work_dir, port, tls_port, certs)
    return PrivateBroker(port, tls_port, accounts, password_file, certs["ca"], config)


def autosave_period_s(config: Path = MOSQUITTO_CONF) -> float:
    """Seconds between the broker's saves of its state: a SIGKILL loses what it acknowledged since.

    Mosquitto 2.0 saves once ``autosave_interval`` whole seconds have been *exceeded*, so the saves
    come ``autosave_interval + 1`` s apart (measured: 2.0 s with 1). Only the time-based autosave gives
    a bound in seconds; with ``autosave_on_changes`` the interval counts changes, and a subscription
    made since the last save is lost with the broker (README, "What a broker kill can cost").
    """
    pairs = (line.split(None, 1) for line in config.read_text().splitlines() if not line.startswith("#"))
    settings = {pair[0]: pair[1].strip() for pair in pairs if len(pair) == 2}
    if settings.get("autosave_on_changes", "false") == "true":
        raise ValueError(f"{config}: autosave_on_changes gives no bound in seconds")
    return float(settings.get("autosave_interval", "1800")) + 1.0


def mosquitto_binary() -> str:
    mosquitto = shutil.which("mosquitto") or (
        "/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None
    )
    if not mosquitto:
        raise RuntimeError(
            "no MQTT broker answers and Mosquitto is not installed: run `make deps` (installs it with "
            "apt-get) or set TIDEWATCH_MQTT_URL to an MQTT v5 broker"
        )
    return mosquitto


async def run_broker(broker: PrivateBroker, log_path: Path) -> Child:
    """Start (or restart, keeping its persisted state) the prepared broker."""
    child = start_child("mqtt (mosquitto)", [mosquitto_binary(), "-c", str(broker.config)], log_path)
    await wait_for_port("127.0.0.1", broker.port, timeout_s=20, child=child)
    return child


async def start_mqtt_broker(work_dir: Path, port: int | None = None) -> tuple[Child, PrivateBroker]:
    """Prepare and start the private broker; on ports it picked itself, again on new ones if they were
    taken before it bound them (``PortTaken``)."""

    async def start() -> tuple[Child, PrivateBroker]:
        broker = prepare_private_broker(work_dir, port)
        return await run_broker(broker, work_dir / "mqtt.log"), broker

    return await retry_taken_port(start, picked=port is None, what="mosquitto")
