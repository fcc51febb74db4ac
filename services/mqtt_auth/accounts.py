"""The broker's accounts: Mosquitto password file entries, the demo's accounts and certificates.

Roles (their topics in docker/mosquitto/acl):
- one account per station (username = station id): may publish only ``tidewatch/v1/<net>/<id>/readings``;
- ``ingest``: reads every station's readings;
- ``alerts``: the worker's alert publisher, the only writer of the retained ``tidewatch/v1/alerts/#``;
- ``gateway``: a data logger relaying many stations (the simulator, the tests); trusted like all of them.
Every authenticated client may read alerts. There is no anonymous access.
"""

from __future__ import annotations

import base64
import hashlib
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

PBKDF2_ITERATIONS = 101  # Mosquitto's own mosquitto_passwd default
SERVICE_ACCOUNTS = ("ingest", "alerts", "gateway")


def password_entry(username: str, password: str, salt: bytes | None = None) -> str:
    """One ``username:$7$...`` line in Mosquitto 2's PBKDF2-SHA512 format."""
    if ":" in username or not username:
        raise ValueError(f"invalid MQTT username {username!r}")
    salt = salt or secrets.token_bytes(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS)
    encoded = f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}${base64.b64encode(digest).decode()}"
    return f"{username}:{encoded}"


def set_password(password_file: Path, username: str, password: str | None = None) -> str:
    """Create or rotate ``username`` in the password file; returns the (new) password.

    The broker reads the file at start and on SIGHUP. The file is written atomically and kept
    private to its owner (and the broker user, see services/stack/mqtt.py).
    """
    password = password or secrets.token_urlsafe(18)
    lines = password_file.read_text().splitlines() if password_file.exists() else []
    kept = [line for line in lines if line and line.split(":", 1)[0] != username]
    kept.append(password_entry(username, password))
    tmp = password_file.with_suffix(".tmp")
    tmp.write_text("\n".join(kept) + "\n")
    os.chmod(tmp, 0o600)
    if password_file.exists():
        stat = password_file.stat()
        os.chown(tmp, stat.st_uid, stat.st_gid)
    tmp.replace(password_file)
    return password


@dataclass(frozen=True, slots=True)
class Accounts:
    """Generated passwords for the service accounts (station accounts are made on demand)."""

    passwords: dict[str, str]

    def url(self, account: str, host: str, port: int, *, tls: bool = False) -> str:
        scheme = "mqtts" if tls else "mqtt"
        user, password = quote(account, safe=""), quote(self.passwords[account], safe="")
        return f"{scheme}://{user}:{password}@{host}:{port}"


def create_accounts(password_file: Path, stations: tuple[str, ...] = ()) -> Accounts:
    """Fresh random passwords for every service account (and the given stations)."""
    passwords = {name: set_password(password_file, name) for name in (*SERVICE_ACCOUNTS, *stations)}
    return Accounts(passwords)


def generate_certificates(directory: Path, host: str = "127.0.0.1", days: int = 825) -> dict[str, Path]:
    """A demo CA and a server certificate for ``host`` (openssl). Returns ca, cert and key paths."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key, ca, key, csr, cert = (
        directory / n for n in ("ca.key", "ca.crt", "server.key", "server.csr", "server.crt")
    )
    san = f"subjectAltName=IP:{host}" if host.replace(".", "").isdigit() else f"subjectAltName=DNS:{host}"

    def run(*argv: str) -> None:
        subprocess.run(["openssl", *argv], check=True, capture_output=True)

    run(
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        str(ca_key),
        "-out",
        str(ca),
        "-days",
        str(days),
        "-subj",
        "/CN=tidewatch demo CA",
    )
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", str(key), "-out", str(csr), "-subj", f"/CN={host}")
    extensions = directory / "server.ext"
    extensions.write_text(f"{san}\nextendedKeyUsage=serverAuth\n")
    run(
        "x509",
        "-req",
        "-in",
        str(csr),
        "-CA",
        str(ca),
        "-CAkey",
        str(ca_key),
        "-CAcreateserial",
        "-out",
        str(cert),
        "-days",
        str(days),
        "-extfile",
        str(extensions),
    )
    for path in (ca_key, key):
        os.chmod(path, 0o600)
    return {"ca": ca, "cert": cert, "key": key}
