"""``tidewatch station credentials``: create or rotate a station's MQTT password, shown once."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from schemas.registry import load_registry
from services.config import Settings
from services.mqtt_auth.accounts import set_password

DEFAULT_PASSWORD_FILE = "docker/mosquitto/passwd"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("station", help="station id from the registry (it becomes the MQTT username)")
    parser.add_argument(
        "--password-file",
        default=os.environ.get("TIDEWATCH_MQTT_PASSWORD_FILE", DEFAULT_PASSWORD_FILE),
        help="the broker's password file (default %(default)s, or TIDEWATCH_MQTT_PASSWORD_FILE)",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    registry = load_registry(settings.registry_path)
    station = registry.get(args.station)
    if station is None:
        print(f"station credentials: {args.station!r} is not in the registry", file=sys.stderr)
        return 2
    path = Path(args.password_file)
    rotated = path.exists() and any(
        line.split(":", 1)[0] == station.id for line in path.read_text().splitlines()
    )
    password = set_password(path, station.id)
    print(f"{'rotated' if rotated else 'created'} MQTT account {station.id!r} in {path}")
    print(f"username: {station.id}")
    print(f"password: {password}")
    print(f"may publish only: tidewatch/v1/{station.network}/{station.id}/readings")
    print("shown once; the broker reads it on start or SIGHUP (docker compose kill -s HUP mosquitto)")
    return 0
