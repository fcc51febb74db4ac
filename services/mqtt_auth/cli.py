"""``tidewatch station credentials``: create or rotate a station's MQTT password, shown once."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from schemas.registry import load_registry
from services.config import Settings
from services.mqtt_auth.accounts import SERVICE_ACCOUNTS, generate_certificates, set_password


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "station",
        help=f"a registry station id (the MQTT username) or a service account: {', '.join(SERVICE_ACCOUNTS)}",
    )
    parser.add_argument(
        "--password-file",
        help="the broker's password file (default: TIDEWATCH_MQTT_PASSWORD_FILE, else "
        "docker/mosquitto/secrets/passwd)",
    )
    parser.add_argument(
        "--certificates",
        metavar="HOST",
        help="also make a CA and a TLS server certificate for HOST beside the password file (demo use)",
    )


def main(args: argparse.Namespace, settings: Settings) -> int:
    station = None
    if args.station not in SERVICE_ACCOUNTS:
        station = load_registry(settings.registry_path).get(args.station)
        if station is None:
            print(f"station credentials: {args.station!r} is not in the registry", file=sys.stderr)
            return 2
    path = Path(args.password_file or settings.mqtt_password_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    rotated = path.exists() and any(
        line.split(":", 1)[0] == args.station for line in path.read_text().splitlines()
    )
    password = set_password(path, args.station)
    print(f"{'rotated' if rotated else 'created'} MQTT account {args.station!r} in {path}")
    print(f"username: {args.station}")
    print(f"password: {password}")
    if station is not None:
        print(f"may publish only: tidewatch/v1/{station.network}/{station.id}/readings")
    if args.certificates:
        paths = generate_certificates(path.parent, args.certificates)
        print(f"TLS: CA {paths['ca']} (give it to stations), server certificate {paths['cert']}")
    print("shown once; the broker reads it on start or SIGHUP (docker compose kill -s HUP mosquitto)")
    return 0
