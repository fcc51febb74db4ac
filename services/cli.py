"""``tidewatch`` — one command line for every process and chore."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from schemas.registry import load_registry
from services.config import Settings, load_settings


def _logging(verbose: bool) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


async def _until_signalled(main, *args):
    """Run ``main(*args, stop)`` until SIGINT/SIGTERM sets ``stop`` (clean shutdown, no traceback)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    return await main(*args, stop)


def _prepare_database(settings: Settings) -> str:
    """Migrate, and list the indicators the stream computes in the database's catalogue."""
    from services.db.prepare import prepare_database
    from streams.indicators.catalogue import INDICATORS

    return asyncio.run(prepare_database(settings, INDICATORS))


def cmd_db_migrate(args: argparse.Namespace, settings: Settings) -> int:
    print(_prepare_database(settings))
    return 0


def cmd_ingest(args: argparse.Namespace, settings: Settings) -> int:
    from prometheus_client import start_http_server

    from services.ingest.service import run_ingest

    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    registry = load_registry(settings.registry_path)
    stats = asyncio.run(_until_signalled(run_ingest, settings, registry))
    logging.getLogger("tidewatch.ingest").info("ingest stopped: %s", stats)
    return 0


def cmd_worker(args: argparse.Namespace, settings: Settings) -> int:
    logging.getLogger("tidewatch.worker").info(_prepare_database(settings))
    asyncio.set_event_loop(asyncio.new_event_loop())
    from streams.worker import run_worker

    run_worker(loglevel="debug" if args.verbose else "info")
    return 0


def cmd_simulate(args: argparse.Namespace, settings: Settings) -> int:
    from services.simulate import cli as simulate_cli

    registry = load_registry(settings.registry_path)
    target = settings.mqtt_target("publish")
    return asyncio.run(simulate_cli.main(args, registry, target.host, target.port, target))


async def run_api(settings: Settings, stop: asyncio.Event) -> None:
    """The scientists' API with the alert console mounted at /console."""
    from services.api.app import serve
    from services.console.actions import KafkaActions
    from services.console.app import create_console

    actions = KafkaActions(settings)
    console = create_console(settings, actions)
    try:
        await serve(settings, None, stop, mounts={"/console": console})
    finally:
        await console.state.console.close()
        await actions.close()


def cmd_api(args: argparse.Namespace, settings: Settings) -> int:
    asyncio.run(_until_signalled(run_api, settings))
    return 0


def cmd_operator_add(args: argparse.Namespace, settings: Settings) -> int:
    from services.console import operators

    return operators.run(args)


def cmd_demo(args: argparse.Namespace, settings: Settings) -> int:
    from services.demo import run_demo

    return run_demo(args, settings)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tidewatch", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="database chores")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    db_commands.add_parser("migrate", help="create/upgrade the schema, mirror the registry").set_defaults(
        func=cmd_db_migrate
    )
    commands.add_parser("ingest", help="MQTT → validate → Kafka").set_defaults(func=cmd_ingest)
    commands.add_parser("worker", help="faust stream worker (storage, QC, indicators)").set_defaults(
        func=cmd_worker
    )

    simulate = commands.add_parser("simulate", help="publish a simulated station network over MQTT")
    from services.simulate import cli as simulate_cli

    simulate_cli.add_arguments(simulate)
    simulate.set_defaults(func=cmd_simulate)

    commands.add_parser(
        "api", help="HTTP API for scientists, with the alert console at /console"
    ).set_defaults(func=cmd_api)
    query = commands.add_parser("query", help="query the HTTP API from the terminal")
    from services.api import query_cli

    query_cli.add_arguments(query)
    query.set_defaults(func=query_cli.main)

    operator = commands.add_parser("operator", help="console operators")
    operator_commands = operator.add_subparsers(dest="operator_command", required=True)
    add = operator_commands.add_parser(
        "add", help="add or update an operator (password from the terminal or stdin)"
    )
    from services.console.operators import add_arguments as operator_arguments

    operator_arguments(add)
    add.set_defaults(func=cmd_operator_add)

    station = commands.add_parser("station", help="station accounts on the MQTT broker")
    station_commands = station.add_subparsers(dest="station_command", required=True)
    credentials = station_commands.add_parser("credentials", help="create or rotate a station's password")
    from services.mqtt_auth import cli as credentials_cli

    credentials_cli.add_arguments(credentials)
    credentials.set_defaults(func=credentials_cli.main)

    demo = commands.add_parser("demo", help="run everything locally with a simulated network")
    from services.demo import add_arguments as demo_arguments

    demo_arguments(demo)
    demo.set_defaults(func=cmd_demo)
    from services.report.cli import add_parser as report_parser

    report_parser(commands)
    from services.climatology import add_parser as climatology_parser

    climatology_parser(commands)
    from services.tide_constants import add_parser as tide_parser

    tide_parser(commands)
    from services.history.cli import add_parsers as history_parsers

    history_parsers(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    _logging(args.verbose)
    from prometheus_client import disable_created_metrics

    disable_created_metrics()  # every tidewatch process: no `_created` series in its /metrics
    return args.func(args, load_settings())


if __name__ == "__main__":
    sys.exit(main())
