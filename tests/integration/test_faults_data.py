"""Faults on the data path (issue 19): database connections killed mid-write, hostile dead letters.

Real PostgreSQL (the stack's fresh database). The retry helper is the one every stream writer uses
(store, indicators, alerts, dead letters): it must store each batch exactly once however often the
backends are terminated, and the dead-letter writer must never lose a batch to one bad row.
"""

from __future__ import annotations

import asyncio
import random

import asyncpg
import pytest

from schemas.records import DeadLetter, Sample, StationReadings
from services.db.prepare import prepare_database
from services.db.writers import (
    ObservationRow,
    insert_dead_letters,
    prepare_connection,
    reading_rows,
    upsert_observations,
)
from services.stack.launcher import Stack
from streams.durable_writes import retry_until_stored
from streams.indicators.catalogue import INDICATORS
from tests.support.pipeline import iso, message, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

T0_US = 1_790_000_000 * 1_000_000
WRITERS = 3  # store, indicators and dead-letter agents share one worker's pool
BATCHES = 60
ROWS = 400
KILL_MIN_S, KILL_MAX_S = 0.02, 0.2


@pytest.fixture(scope="module")
async def database(stack: Stack) -> str:
    await prepare_database(stack.settings, INDICATORS)
    return stack.settings.database_url


def _batch(writer: int, batch: int) -> list[ObservationRow]:
    start = T0_US + ((writer * BATCHES + batch) * ROWS) * 60_000_000
    samples = [Sample(start + i * 60_000_000, {"water_level_m": 1.0 + i * 1e-4}) for i in range(ROWS)]
    return reading_rows([StationReadings("dalian", start, samples)])


async def _slow_upsert(conn: asyncpg.Connection, rows: list[ObservationRow]) -> dict[str, int]:
    """The real upsert, behind a statement long enough for a kill to land in the middle of one."""
    await conn.execute("SELECT pg_sleep(0.03)")
    return await upsert_observations(conn, rows)


async def _kill_backends(url: str, stop: asyncio.Event, rng: random.Random) -> int:
    """Terminate every other backend of the database every 0.02-0.2 s; returns how many were killed."""
    killed = 0
    conn = await asyncpg.connect(url)
    try:
        while not stop.is_set():
            await asyncio.sleep(rng.uniform(KILL_MIN_S, KILL_MAX_S))
            killed += await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
    finally:
        await conn.close()
    return killed


async def test_every_batch_is_stored_exactly_once_while_backends_are_killed(database: str) -> None:
    pool = await asyncpg.create_pool(database, min_size=1, max_size=4, init=prepare_connection)

    async def current_pool() -> asyncpg.Pool:
        return pool

    async def writer(index: int) -> int:
        stored = 0
        for batch in range(BATCHES):
            # Waits capped low: a batch can meet a dozen kills in a row, and at the writers' 10 s cap
            # the test took 13 s to 108 s for the same faults; at 0.1 s, 9-14 s.
            new = await retry_until_stored(
                current_pool, _slow_upsert, _batch(index, batch), initial_delay_s=0.05, max_delay_s=0.1
            )
            stored += sum(new.values())
        return stored

    stop = asyncio.Event()
    killer = asyncio.create_task(_kill_backends(database, stop, random.Random(19)))
    try:
        stored = await asyncio.wait_for(asyncio.gather(*(writer(i) for i in range(WRITERS))), timeout=240)
    finally:
        stop.set()
        killed = await killer
        await pool.close()
    conn = await asyncpg.connect(database)
    try:
        rows, distinct = await conn.fetchrow(
            "SELECT count(*), count(DISTINCT time) FROM observations WHERE station_id = 'dalian' AND time >= "
            "to_timestamp($1 / 1e6)",
            T0_US,
        )
    finally:
        await conn.close()
    assert killed > 0  # the fault happened
    assert rows == distinct == WRITERS * BATCHES * ROWS
    assert sum(stored) <= rows  # redelivered writes count no new rows


async def test_one_unstorable_dead_letter_never_takes_its_batch(database: str) -> None:
    letters = [
        DeadLetter(
            T0_US + i, "tidewatch/v1/x/dalian/readings", "malformed_json", f"letter {i}", b"{x", "dalian"
        )
        for i in range(100)
    ]
    # Written by an older ingest, before text fields were escaped: NUL in station, source and detail.
    letters.append(
        DeadLetter(
            T0_US + 500, "tidewatch/v1/x/a\x00b/readings", "unknown_station", "a\x00b", b"\x00", "a\x00b"
        )
    )
    # A time PostgreSQL cannot hold: the row is kept, with its error as detail.
    letters.append(
        DeadLetter(2**63 - 1, "tidewatch/v1/x/dalian/readings", "bad_time", "far", b"{}", "dalian")
    )
    conn = await asyncpg.connect(database)
    try:
        await conn.execute("DELETE FROM dead_letters")
        assert await insert_dead_letters(conn, letters) == len(letters)
        rows = await conn.fetch("SELECT station_id, source, detail, payload FROM dead_letters")
    finally:
        await conn.close()
    assert len(rows) == len(letters)
    nul = next(r for r in rows if r["payload"] == b"\x00")
    assert nul["station_id"] == "a\\x00b" and "a\\x00b" in nul["source"]
    far = next(r for r in rows if r["payload"] == b"{}")
    assert far["detail"].startswith("unstorable row")


# -- hostile messages end to end: MQTT (Mosquitto) -> ingest -> Kafka (Tansu) -> worker -> PostgreSQL

RECENT = "source LIKE 'tidewatch/v1/' || $1 || '/%'"  # received by this module's ingest


async def test_hostile_messages_become_one_dead_letter_each_and_ingest_goes_on(
    pipeline, db, publisher
) -> None:
    t = T0_US + 95_000 * 60_000_000  # past, and after the rows of the kill test
    deep = b"[" * 1000 + b"]" * 1000
    publisher.publish(
        "dalian", b'{"station": "dalian", "time": "' + iso(t).encode() + b'", "values": {"x": ' + deep + b"}}"
    )
    # NUL bytes in a station id and a field name, among 100 ordinary dead letters of the same batch.
    publisher.publish(
        "dalian", b'{"station": "dal\\u0000ian", "time": "' + iso(t).encode() + b'", "values": {"a": 1}}'
    )
    publisher.publish("dalian", message("dalian", t, {"water\x00level_m": 1.0}))
    publisher.publish_many(("dalian", b"{ordinary %d" % i) for i in range(100))
    # One message, 2,000 refused samples.
    backlog = [(t - (i + 1) * 60_000_000, {"water_level_m": 99.0}) for i in range(2000)]
    publisher.publish("dalian", message("dalian", t, {"water_level_m": 1.25}, backlog))
    publisher.publish("dalian", message("dalian", t + 60_000_000, {"water_level_m": 1.3}))

    await wait_for_count(
        db,
        "SELECT count(*) FROM observations WHERE station_id = 'dalian' AND time >= to_timestamp($1 / 1e6)",
        t,
        expected=2,
    )
    letters = await wait_for_count(
        db, f"SELECT count(*) FROM dead_letters WHERE {RECENT}", pipeline.network, expected=104
    )
    assert pipeline.ingest.alive() and pipeline.worker.alive()
    rows = await db.fetch(
        f"SELECT reason, station_id, detail FROM dead_letters WHERE {RECENT}", pipeline.network
    )
    reasons = [r["reason"] for r in rows]
    assert reasons.count("validation_failed") == 1
    assert reasons.count("out_of_physical_range") == 1  # one letter for 2,000 refused samples
    assert reasons.count("malformed_json") == 100
    assert any(r["station_id"] == "dal\\x00ian" for r in rows)
    assert any("water\\x00level_m" in r["detail"] for r in rows)
    assert letters == 104


async def test_a_station_replayed_at_full_speed_never_stops_the_worker(pipeline, db, publisher) -> None:
    # A buoy's backfill at full speed: 12,000 messages 1/300 s apart in data time, its ecological state
    # (every reading of its open days) past 1 MiB as JSON. Every reading is stored, the other stations
    # go on, and the worker is still there for the next reading. (Its state pieces above MAX_PIECE_BYTES
    # are written in parts: streams/state.py.)
    station, t = "north-yellow-sea-buoy", T0_US + 96_000 * 60_000_000

    def values(i: int) -> dict[str, float]:  # varying, so QC calls them good (no flat line)
        wobble = 0.01 * (i % 50)
        return {
            "water_temperature_degC": 12.5 + wobble,
            "salinity_psu": 31.0 + wobble,
            "dissolved_oxygen_mg_l": 7.5 + wobble,
        }

    burst = [(station, message(station, t + i * 1_000_000 // 300, values(i))) for i in range(12_000)]
    publisher.publish_many(burst, pace_per_s=3000)
    publisher.publish("dalian", message("dalian", t, {"water_level_m": 1.4}))
    stored = await wait_for_count(
        db,
        "SELECT count(*) FROM observations WHERE station_id = $1 AND time >= to_timestamp($2 / 1e6)",
        station,
        t,
        expected=12_000 * 3,
        timeout_s=120,
    )
    assert stored == 12_000 * 3
    others = await wait_for_count(
        db,
        "SELECT count(*) FROM observations WHERE station_id = 'dalian' AND time = to_timestamp($1 / 1e6)",
        t,
        expected=1,
    )
    assert others == 1
    # Past the burst, the worker still works: a later reading of the same buoy is stored too.
    publisher.publish(station, message(station, t + 3_600_000_000, values(0)))
    later = await wait_for_count(
        db,
        "SELECT count(*) FROM observations WHERE station_id = $1 AND time = to_timestamp($2 / 1e6)",
        station,
        t + 3_600_000_000,
        expected=3,
    )
    assert later == 3
    assert pipeline.worker.alive()
