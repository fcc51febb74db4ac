"""`tidewatch simulate`: options and entry point (the lead's CLI adds the subcommand and the registry)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import sys
from datetime import UTC, datetime

from schemas.registry import Registry
from services.mqtt_auth import MqttTarget
from services.simulate.faults import FaultRates, parse_fault_option
from services.simulate.model import US, Simulation, rfc3339
from services.simulate.publisher import SimStats, default_start_us, run_simulator
from services.simulate.scenario import Scenario, ScenarioError, default_scenario, delayed, load_scenario
from services.simulate.synthetic import synthetic_registry

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw]?)\s*$")
_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def parse_duration_s(text: str) -> float:
    """`90`, `90s`, `15m`, `6h`, `10d`, `2w` → seconds."""
    match = _DURATION.match(text.lower())
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (e.g. 3600, 45m, 6h, 10d)")
    return float(match.group(1)) * _SECONDS[match.group(2)]


def parse_start_us(text: str, now_us: int) -> int:
    """An RFC 3339 time (UTC if no offset) or a duration before now: `-10d`, `now-36h`."""
    relative = text.strip().lower().removeprefix("now")
    if relative.startswith("-"):
        return now_us - int(parse_duration_s(relative[1:]) * US)
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp()) * US + moment.microsecond


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stations",
        action="append",
        default=None,
        metavar="IDS",
        help="only these station ids (comma-separated, repeatable); default: all",
    )
    parser.add_argument(
        "--speedup",
        type=float,
        default=3600.0,
        help="simulated seconds per real second while replaying up to now (default 3600: "
        "an hour a second; 43200 = a month a minute); live at 1x afterwards",
    )
    parser.add_argument(
        "--rate",
        type=float,
        default=1000.0,
        help="at most this many MQTT messages a second (default 1000; 0 = unpaced)",
    )
    parser.add_argument(
        "--start",
        default=None,
        help="simulation start: RFC 3339 time or '-10d' before now (default: now minus the "
        "scenario's duration_h, 10 days for the default scenario)",
    )
    parser.add_argument(
        "--duration",
        type=parse_duration_s,
        default=None,
        help="simulated time to cover, e.g. 30d or 6h (default: replay to now, then live until stopped)",
    )
    parser.add_argument("--seed", type=int, default=1, help="random seed: same seed, same data (default 1)")
    parser.add_argument(
        "--faults",
        default="on",
        help="on, off, or rate overrides such as 'spike=0.01,duplicate=0' (kinds: "
        + ", ".join(FaultRates().as_dict())
        + ")",
    )
    parser.add_argument(
        "--scenario",
        default=None,
        metavar="FILE",
        help="scenario YAML (default: the built-in Liaoning demo story)",
    )
    parser.add_argument("--no-scenario", action="store_true", help="no events: only background signals")
    parser.add_argument(
        "--lead-in-days",
        type=float,
        default=0.0,
        help="quiet days before the scenario's events (history for tide models; default 0)",
    )
    parser.add_argument("--max-messages", type=int, default=None, help="stop after this many publishes")
    parser.add_argument(
        "--synthetic",
        type=int,
        default=None,
        metavar="N",
        help="simulate N clone stations instead of the registry (benchmarks)",
    )
    parser.add_argument("--client-id", default=None, help="MQTT client id (default: random)")
    parser.add_argument(
        "--print-scenario",
        action="store_true",
        help="print the scenario's events placed on each station's timeline and exit",
    )
    parser.add_argument(
        "--progress-interval",
        type=float,
        default=5.0,
        metavar="S",
        help="seconds between progress lines on stderr (0: none)",
    )


def _scenario(args: argparse.Namespace) -> Scenario:
    if args.no_scenario:
        return Scenario(name="none")
    scenario = load_scenario(args.scenario) if args.scenario else default_scenario()
    return delayed(scenario, args.lead_in_days * 24) if args.lead_in_days else scenario


def _stations(args: argparse.Namespace) -> list[str] | None:
    if not args.stations:
        return None
    return [s.strip() for group in args.stations for s in group.split(",") if s.strip()]


def _print_timeline(sim: Simulation) -> None:
    print(f"scenario {sim.scenario.name}: start {rfc3339(sim.start_us)}")
    for station, kind, start, end, params in sim.timeline():
        shown = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in params.items() if v is not None}
        hours = (start - sim.start_us) / 3600 / US
        print(f"  +{hours:7.2f} h  {rfc3339(start)} → {rfc3339(end)}  {station:24s} {kind:18s} {shown}")


def _progress_line(stats: SimStats) -> None:
    rate = stats.messages / stats.elapsed_s if stats.elapsed_s else 0.0
    print(
        f"simulate: sim {rfc3339(stats.sim_time_us - stats.sim_time_us % US)} | {stats.messages} msgs "
        f"({rate:.0f}/s) {stats.readings} readings | dup {stats.duplicates} late {stats.late_batches} "
        f"dead-letter-bound {stats.dead_letters_expected}",
        file=sys.stderr,
        flush=True,
    )


async def main(
    args: argparse.Namespace,
    registry: Registry,
    mqtt_host: str,
    mqtt_port: int,
    target: MqttTarget | None = None,
) -> int:
    try:
        scenario = _scenario(args)
        rates = parse_fault_option(args.faults, scenario.faults or FaultRates())
        now_us = int(datetime.now(UTC).timestamp() * US)
        start_us = parse_start_us(args.start, now_us) if args.start else default_start_us(now_us, scenario)
    except (ScenarioError, ValueError, argparse.ArgumentTypeError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 2
    if args.synthetic:
        registry = synthetic_registry(args.synthetic, args.seed, registry.network)
    if args.print_scenario:
        _print_timeline(
            Simulation(registry, scenario, args.seed, start_us, faults=rates, stations=_stations(args))
        )
        return 0
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(signum, stop.set)
    try:
        stats = await run_simulator(
            registry,
            mqtt_host,
            mqtt_port,
            speedup=args.speedup,
            rate=args.rate or None,
            start_us=start_us,
            duration_s=args.duration,
            seed=args.seed,
            faults=rates,
            scenario=scenario,
            max_messages=args.max_messages,
            client_id=args.client_id,
            mqtt_target=target,
            progress=_progress_line if args.progress_interval > 0 else None,
            stations=_stations(args),
            stop=stop,
            progress_interval_s=args.progress_interval or 5.0,
        )
    except (ConnectionError, ValueError) as exc:
        print(f"simulate: {exc}", file=sys.stderr)
        return 1
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(signum)
    print(stats.as_dict())
    return 0
