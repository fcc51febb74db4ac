"""An operator's manual QC flag holds against the live worker's writes (real PostgreSQL).

The worker writes QC results as it judges them: a reading's first flags, and corrections when a later
neighbour or a late reading changes its automatic flag. Inside a range an operator has judged, the
stored flag is the operator's: a correction must not put the automatic flag back, and a reading stored
after the judgement (late data, a redelivery) takes it too. Its automatic test results are still kept.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from schemas.registry import load_registry
from services.db.alerts import create_operator
from services.db.timestamps import us
from services.db.writers import ObservationRow, prepare_connection, upsert_observations
from services.history.manual import flag_range
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

HOUR_US = 3_600_000_000
DAY0_US = int(dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
STATION = "dalian"
LEVEL, TEMPERATURE = "water_level_m", "water_temperature_degC"
GOOD, SUSPECT, BAD = 1, 3, 4


def _at(hour: int) -> int:
    return DAY0_US + hour * HOUR_US


def _row(hour: int, variable: str, flag: int, *, revised: bool = False) -> ObservationRow:
    tests = json.dumps({"gross_range": flag})
    return (_at(hour), STATION, variable, 2.0 + 0.01 * hour, flag, tests, _at(hour), revised)


@pytest.fixture(scope="module")
async def conn() -> AsyncIterator[asyncpg.Connection]:
    async with fresh_database("tidewatch_manual_live") as settings:
        connection = await asyncpg.connect(settings.database_url)
        try:
            await prepare_connection(connection)
            await upsert_observations(
                connection, [_row(h, v, GOOD) for h in range(12) for v in (LEVEL, TEMPERATURE)]
            )
            await create_operator(connection, "wang", "Wang Fang", "a long passphrase", "operator")
            yield connection
        finally:
            await connection.close()


async def _flags(conn: asyncpg.Connection, variable: str) -> dict[int, int]:
    rows = await conn.fetch(
        f"SELECT {us('time')} AS t, qc_flag FROM observations WHERE station_id = $1 AND variable = $2",
        STATION,
        variable,
    )
    return {(r["t"] - DAY0_US) // HOUR_US: r["qc_flag"] for r in rows}


async def test_a_correction_inside_a_judged_range_keeps_the_operators_flag(conn: asyncpg.Connection) -> None:
    registry = load_registry()
    await flag_range(conn, registry, STATION, LEVEL, _at(2), _at(5), "bad", "fouled sensor", "wang")
    assert [f for h, f in sorted((await _flags(conn, LEVEL)).items()) if 2 <= h < 5] == [BAD] * 3
    # The worker revises hours 1..6 (a late neighbour): suspect, as its automatic tests say.
    await upsert_observations(conn, [_row(h, LEVEL, SUSPECT, revised=True) for h in range(1, 7)])
    flags = await _flags(conn, LEVEL)
    assert [flags[h] for h in range(8)] == [GOOD, SUSPECT, BAD, BAD, BAD, SUSPECT, SUSPECT, GOOD]
    tests = await conn.fetchval(
        f"SELECT qc_tests FROM observations WHERE station_id = $1 AND variable = $2 AND time = "
        f"to_timestamp({_at(3)}::double precision / 1e6)",
        STATION,
        LEVEL,
    )
    assert json.loads(tests) == {"gross_range": SUSPECT}  # the automatic result is kept beside the flag
    # The other variable was not judged: its corrections land as they are.
    await upsert_observations(conn, [_row(3, TEMPERATURE, SUSPECT, revised=True)])
    assert (await _flags(conn, TEMPERATURE))[3] == SUSPECT


async def test_a_reading_stored_after_the_judgement_takes_it(conn: asyncpg.Connection) -> None:
    registry = load_registry()
    await flag_range(conn, registry, STATION, None, _at(20), _at(30), "suspect", "storm damage", "wang")
    # Late readings inside the range (every variable judged), one after it, one missing value.
    late = [_row(h, LEVEL, GOOD) for h in (21, 25, 30)] + [_row(22, TEMPERATURE, GOOD)]
    late.append((_at(23), STATION, LEVEL, None, 9, None, _at(23), False))
    assert await upsert_observations(conn, late) == {STATION: 5}
    flags, temperature = await _flags(conn, LEVEL), await _flags(conn, TEMPERATURE)
    assert (flags[21], flags[25], flags[30], temperature[22]) == (SUSPECT, SUSPECT, GOOD, SUSPECT)
    assert flags[23] == 9  # a missing value stays missing, as the judgement itself leaves it


async def test_the_newest_judgement_wins(conn: asyncpg.Connection) -> None:
    registry = load_registry()
    await flag_range(
        conn, registry, STATION, LEVEL, _at(3), _at(4), "good", "checked against the staff", "wang"
    )
    await upsert_observations(conn, [_row(h, LEVEL, SUSPECT, revised=True) for h in (2, 3)])
    flags = await _flags(conn, LEVEL)
    assert (flags[2], flags[3]) == (BAD, GOOD)
