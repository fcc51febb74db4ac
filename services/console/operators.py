"""Add or update a console operator: ``tidewatch operator add [--role admin] USERNAME "Display Name"``.

The password is read from the terminal (or the first line of standard input), never from the command
line, and only its salted scrypt hash is stored. The change is written to the audit log as done by
``cli:<login>`` from ``local``. Refusals (empty password, unknown role, no database) are one line.
"""

from __future__ import annotations

import argparse
import asyncio
import getpass
import sys

import asyncpg

from services.config import load_settings
from services.console.access import ROLES, record
from services.db.alerts import create_operator


class OperatorError(Exception):
    """A refusal said in one line."""


def _login() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no login name in some containers
        return "unknown"


def _where(database_url: str) -> str:
    return database_url.split("@", 1)[-1]  # host:port/name, never a password


async def add_operator(
    database_url: str, username: str, display_name: str, password: str, role: str = "operator"
) -> None:
    try:
        conn = await asyncio.wait_for(asyncpg.connect(database_url), timeout=10)
    except asyncpg.InvalidCatalogNameError:
        raise OperatorError(f"no database {_where(database_url)}; run `tidewatch db migrate` first") from None
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise OperatorError(f"cannot reach the database at {_where(database_url)}: {exc}") from None
    try:
        async with conn.transaction():
            await create_operator(conn, username, display_name, password, role)
            await record(conn, f"cli:{_login()}", "operator_add", username, "local", {"role": role})
    except asyncpg.UndefinedTableError:
        raise OperatorError(
            f"{_where(database_url)} has no tidewatch schema; run `tidewatch db migrate`"
        ) from None
    finally:
        await conn.close()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("username")
    parser.add_argument("display_name")
    parser.add_argument("--role", default="operator", help=f"one of {', '.join(ROLES)} (default operator)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        if args.role not in ROLES:
            raise OperatorError(f"--role: one of {', '.join(ROLES)}, not {args.role!r}")
        if not args.username.strip():
            raise OperatorError("an operator needs a user name")
        if sys.stdin.isatty():
            password = getpass.getpass("password: ")
            if password != getpass.getpass("again: "):
                raise OperatorError("passwords differ")
        else:
            password = sys.stdin.readline().rstrip("\n")
        if not password:
            raise OperatorError(
                "an operator needs a password (type it, or give it on the first line of stdin)"
            )
        database_url = load_settings().database_url
        asyncio.run(add_operator(database_url, args.username, args.display_name, password, args.role))
    except OperatorError as exc:
        print(f"tidewatch operator add: {exc}", file=sys.stderr)
        return 1
    print(f"operator {args.username!r} saved ({args.role})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
