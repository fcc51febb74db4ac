"""``tidewatch tide load-constants``: a gauge's published harmonic constants as its tide model.

Real services predict from the constants of a long analysis (national tide tables, station sheets)
rather than from a fit of a few weeks. The file (``constituent,amplitude_m,phase_deg`` rows and a
``Z0`` mean level, see streams/indicators/sealevel/constants.py) becomes a model with source
"official", stored in ``tide_models`` for audit and sent on the tide-models topic to the station's
partition, where the indicators agent applies it from ``--effective-from`` on, exactly as it applies a
refit; the refit then only monitors it. A fitted model stored with a later effective time would still
apply after that time, so such a load is refused: choose an effective time after it.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from schemas.contract import parse_time_us
from schemas.records import TIDE_MODELS_TOPIC, partition_for
from schemas.registry import load_registry
from schemas.topics import TideModelUpdate, encode
from services.config import Settings
from services.db.indicators import store_tide_model
from services.db.timestamps import ts, us
from services.kafka_topics import ensure_topics, tidewatch_topics
from streams.indicators.sealevel.constants import ConstantsError, load_constants_csv
from streams.indicators.sealevel.tide import TideModel


def _iso(time_us: int) -> str:
    return f"{dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC):%Y-%m-%dT%H:%M:%SZ}"


def parse_utc(text: str) -> int:
    """RFC 3339 with an offset (``2026-01-01T00:00:00Z``) → µs since the epoch, read as the contract does."""
    try:
        return parse_time_us(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


async def later_stored_model_us(conn: asyncpg.Connection, station: str, effective_from_us: int) -> int | None:
    """The latest stored model's effective time after ``effective_from_us``, if any."""
    return await conn.fetchval(
        f"SELECT {us('max(effective_from)')} FROM tide_models "
        f"WHERE station_id = $1 AND effective_from > {ts('$2')}",
        station,
        effective_from_us,
    )


async def publish_model(settings: Settings, station: str, model: TideModel) -> None:
    """Hand the model to the station's indicators partition, as the worker's refit timer does."""
    await ensure_topics(settings.kafka_bootstrap, tidewatch_topics(settings.topic_partitions))
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(
            TIDE_MODELS_TOPIC,
            encode(TideModelUpdate(station, model.to_dict())),
            partition=partition_for(station, settings.topic_partitions),
        )
    finally:
        await producer.stop()


async def load_constants(
    settings: Settings, station_id: str, path: Path, effective_from_us: int
) -> TideModel:
    """Read, check, store and publish; raises ConstantsError with the reason."""
    station = load_registry(settings.registry_path).stations.get(station_id)
    if station is None or station.kind != "tide_gauge":
        raise ConstantsError(f"station {station_id!r}: not a tide gauge in the registry")
    if not path.is_file():
        raise ConstantsError(f"station {station_id!r}: no constants file {path}")
    model = load_constants_csv(station_id, station.latitude, path, effective_from_us)
    conn = await asyncpg.connect(settings.database_url)
    try:
        later = await later_stored_model_us(conn, station_id, effective_from_us)
        if later is not None:
            raise ConstantsError(
                f"station {station_id!r}: a stored model is in effect from {_iso(later)}, after "
                "--effective-from; it would still apply after then: give a later --effective-from"
            )
        await store_tide_model(conn, station_id, model.to_dict(), model.constituents)
    finally:
        await conn.close()
    await publish_model(settings, station_id, model)
    return model


def add_parser(commands: argparse._SubParsersAction) -> None:
    p = commands.add_parser("tide", help="tide models")
    sub = p.add_subparsers(dest="tide_command", required=True)
    load = sub.add_parser(
        "load-constants", help="use a gauge's published harmonic constants as its tide model"
    )
    load.add_argument("--station", required=True)
    load.add_argument(
        "--file", required=True, type=Path, help="CSV constituent,amplitude_m,phase_deg with a Z0 row"
    )
    load.add_argument(
        "--effective-from",
        type=parse_utc,
        help="RFC 3339 time the model applies from (default: now); readings the worker holds from then "
        "on get their surge again",
    )
    load.set_defaults(func=run_load)


def run_load(args: argparse.Namespace, settings: Settings) -> int:
    effective = args.effective_from
    if effective is None:
        effective = int(dt.datetime.now(dt.UTC).timestamp()) * 1_000_000
    try:
        model = asyncio.run(load_constants(settings, args.station, args.file, effective))
    except ConstantsError as exc:
        print(exc, file=sys.stderr)
        return 2
    except (OSError, asyncpg.PostgresError, KafkaError) as exc:
        print(f"tide: cannot store or publish the model: {exc}", file=sys.stderr)
        return 1
    print(
        f"{args.station}: official tide model, {len(model.constituents)} constituents, from {_iso(effective)}"
    )
    return 0
