"""Add or update a console operator: ``python -m services.console.operators USERNAME "Display Name"``.

The password is read from the terminal (or the first line of standard input), never from the command
line, and only its salted scrypt hash is stored.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

from services.config import load_settings
from services.db.alerts import create_operator
from services.db.connect import connect_with_retry


async def add_operator(database_url: str, username: str, display_name: str, password: str) -> None:
    conn = await connect_with_retry(database_url, attempts=5)
    try:
        await create_operator(conn, username, display_name, password)
    finally:
        await conn.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("username")
    parser.add_argument("display_name")
    args = parser.parse_args(argv)
    if sys.stdin.isatty():
        password = getpass.getpass("password: ")
        if password != getpass.getpass("again: "):
            print("passwords differ", file=sys.stderr)
            return 1
    else:
        password = sys.stdin.readline().rstrip("\n")
    asyncio.run(add_operator(load_settings().database_url, args.username, args.display_name, password))
    print(f"operator {args.username!r} saved")
    return 0


if __name__ == "__main__":
    sys.exit(main())
