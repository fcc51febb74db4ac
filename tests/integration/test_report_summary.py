"""The report's daily observation summary (migration 0012) gives the numbers a direct scan of the
observations gives (real PostgreSQL): after the first writes, after late readings and QC corrections
land in days already summarised, after a manual flag and a deletion, and while a writer's transaction
is still open when the refresh starts. The direct scan is the report's former SQL over observations.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator

import asyncpg
import numpy as np
import pytest

from schemas.registry import load_registry
from services.cli import main
from services.db.alerts import create_operator
from services.db.timestamps import us
from services.db.writers import ObservationRow, prepare_connection, upsert_observations
from services.history.manual import flag_range
from services.report import summary
from services.report.base import year_bounds_us
from services.report.queries import _scanned_spans, load_inputs
from services.report.settings import load_settings
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

YEAR = 2026
START_US, END_US = year_bounds_us(YEAR)
MINUTE_US = 60_000_000
DAY_US = 1440 * MINUTE_US
TIDE, BUOY = "dalian", "liaodong-bay-buoy"
IDS = [TIDE, BUOY]
URL: list[str] = []  # the module database's URL, for a second (writer) connection


def _rows(station: str, variables: tuple[str, ...], times_us: np.ndarray, seed: int) -> list[ObservationRow]:
    """Readings with mixed flags (1, 3, 4, and 9 with no value), received at their time."""
    rng = np.random.default_rng(seed)
    flags = rng.choice([1, 1, 1, 1, 3, 4, 9], size=(times_us.size, len(variables)))
    out: list[ObservationRow] = []
    for i, t in enumerate(times_us.tolist()):
        for j, var in enumerate(variables):
            flag = int(flags[i, j])
            value = None if flag == 9 else float(np.round(rng.uniform(0.5, 6.0), 3))
            out.append((t, station, var, value, flag, json.dumps({"gross_range": flag}), t, False))
    return out


def _minutes(day: int, first: int, last: int, step: int = 1) -> np.ndarray:
    """Minutes [first, last) of day ``day`` of the year (0 = 1 January), as µs."""
    return START_US + day * DAY_US + np.arange(first, last, step, dtype=np.int64) * MINUTE_US


def _first_writes() -> list[list[ObservationRow]]:
    # the tide gauge: days 0-3 each minute, a 3 h hole on day 1, nothing on day 2 after 20:00 or on
    # day 3 before 05:00 (a gap across midnight); the buoy every 10 minutes on days 0-3
    tide = np.concatenate([_minutes(0, 0, 1440), _minutes(1, 0, 600), _minutes(1, 780, 1440),
                           _minutes(2, 0, 1200), _minutes(3, 300, 1440)])  # fmt: skip
    return [
        _rows(TIDE, ("water_level_m", "water_temperature_degC"), tide, 1),
        _rows(BUOY, ("wave_height_m", "sea_surface_temperature_degC"), _minutes(0, 0, 4 * 1440, 10), 2),
    ]


async def _direct(conn: asyncpg.Connection) -> dict[str, object]:
    """The report's figures straight from the observation rows."""
    qc = await conn.fetch(
        """SELECT station_id, variable, qc_flag, count(*) AS n FROM observations
           WHERE station_id = ANY($1) AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)
           GROUP BY 1, 2, 3 ORDER BY 1, 2, 3""",
        IDS, START_US, END_US,
    )  # fmt: skip
    as_of = await conn.fetchval(
        f"""SELECT {us("max(time)")} FROM observations WHERE station_id = ANY($1)
            AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)""",
        IDS, START_US, END_US,
    )  # fmt: skip
    waves = await conn.fetch(
        f"""SELECT station_id, {us("date_trunc('day', time AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'")} AS t,
                   max(value) AS value
            FROM observations WHERE station_id = ANY($1) AND variable = 'wave_height_m' AND qc_flag = 1
              AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)
            GROUP BY 1, 2 ORDER BY 1, 2""",
        IDS, START_US, END_US,
    )  # fmt: skip
    series = sorted({(r["station_id"], r["variable"]) for r in qc})
    spans = await _scanned_spans(conn, series, START_US, END_US, 3600 * 1_000_000)
    return {
        "qc": [tuple(r) for r in qc],
        "as_of": as_of,
        "waves": [tuple(r) for r in waves],
        "spans": {k: (v.first_us, v.last_us, v.gaps) for k, v in spans.items()},
    }


async def _summarised(conn: asyncpg.Connection) -> dict[str, object]:
    """The same figures from the summary, after a refresh."""
    await summary.refresh(conn)
    return {
        "qc": [tuple(r) for r in await summary.qc_counts(conn, IDS, START_US, END_US)],
        "as_of": await summary.newest_us(conn, IDS, START_US, END_US),
        "waves": [tuple(r) for r in await summary.daily_max(conn, IDS, "wave_height_m", 1, START_US, END_US)],
        "spans": await summary.spans(conn, IDS, START_US, END_US, 3600 * 1_000_000),
    }


@pytest.fixture(scope="module")
async def conn() -> AsyncIterator[asyncpg.Connection]:
    async with fresh_database("tidewatch_report_summary") as settings:
        URL[:] = [settings.database_url]
        connection = await asyncpg.connect(settings.database_url)
        try:
            await prepare_connection(connection)
            for rows in _first_writes():
                await upsert_observations(connection, rows)
            await create_operator(connection, "wang", "Wang Fang", "a long passphrase", "operator")
            yield connection
        finally:
            await connection.close()


async def test_summary_equals_the_direct_scan_through_changes(conn: asyncpg.Connection) -> None:
    first = await _direct(conn)
    assert await _summarised(conn) == first
    assert first["spans"][TIDE][2], "the generated year has outages to find"  # type: ignore[index]

    # late readings fill the tide gauge's hole on day 1 and add a buoy reading to day 0
    late = _rows(TIDE, ("water_level_m",), _minutes(1, 600, 700), 3) + _rows(
        BUOY, ("wave_height_m",), _minutes(0, 5, 6), 4
    )
    await upsert_observations(conn, late)
    after_late = await _direct(conn)
    assert after_late != first
    assert await _summarised(conn) == after_late

    # QC corrections of already summarised readings: every buoy wave height of day 2 becomes good
    day2 = await conn.fetch(
        f"SELECT {us('time')} AS t, value FROM observations WHERE station_id = $1 AND variable = $2"
        " AND time >= to_timestamp($3 / 1e6) AND time < to_timestamp($4 / 1e6)",
        BUOY, "wave_height_m", START_US + 2 * DAY_US, START_US + 3 * DAY_US,
    )  # fmt: skip
    corrections = [(r["t"], BUOY, "wave_height_m", r["value"], 1 if r["value"] is not None else 9,
                    json.dumps({"spike": 1}), r["t"], True) for r in day2]  # fmt: skip
    await upsert_observations(conn, corrections)
    after_qc = await _direct(conn)
    assert after_qc != after_late
    assert await _summarised(conn) == after_qc

    # an operator's judgement over day 3 of the tide gauge, and a deletion on day 0
    registry = load_registry(None)
    lo, hi = START_US + 3 * DAY_US, START_US + 3 * DAY_US + 6 * 3_600_000_000
    await flag_range(conn, registry, TIDE, None, lo, hi, "bad", "fouled sensor", "wang")
    await conn.execute(
        "DELETE FROM observations WHERE station_id = $1 AND time < to_timestamp($2 / 1e6)",
        BUOY, START_US + 3_600_000_000,
    )  # fmt: skip
    after_manual = await _direct(conn)
    assert after_manual != after_qc
    assert await _summarised(conn) == after_manual


async def test_a_refresh_in_small_batches(conn: asyncpg.Connection) -> None:
    """Every day marked again and recomputed 3 (station, variable, day) a transaction: a station-day's
    variables fall into different batches, and the result is still the direct scan's."""
    await summary.refresh(conn)
    await conn.execute(
        "INSERT INTO observation_days_dirty (station_id, variable, day) SELECT DISTINCT station_id, variable,"
        " (time AT TIME ZONE 'UTC')::date FROM observations"
    )
    await conn.execute("DELETE FROM observation_station_days")  # so a station-day must be recomputed
    done = await summary.refresh(conn, batch_days=3)
    # several batches; with two variables a station, batches of three split station-days
    assert done.days > 3
    assert await _summarised(conn) == await _direct(conn)


async def test_a_refresh_waits_for_an_open_writer_transaction(conn: asyncpg.Connection) -> None:
    """A writer that stored readings into a summarised day but has not committed: the refresh must not
    drop its marker with the day recomputed without them."""
    await summary.refresh(conn)
    other = await asyncpg.connect(URL[0])
    try:
        await prepare_connection(other)
        tx = other.transaction()
        await tx.start()  # upsert_observations' own transaction becomes a savepoint: its commit held back
        await upsert_observations(other, _rows(TIDE, ("water_temperature_degC",), _minutes(1, 610, 640), 5))
        refreshing = asyncio.create_task(summary.refresh(conn, timeout_s=30.0))
        await asyncio.sleep(0.5)
        assert not refreshing.done(), "the refresh claimed markers while a marking writer was open"
        await tx.commit()
        await refreshing
    finally:
        await other.close()
    assert await _summarised(conn) == await _direct(conn)


async def test_a_refresh_that_waits_too_long_says_busy(conn: asyncpg.Connection) -> None:
    """A writer that keeps its marking transaction open past the refresh's wait: SummaryBusy (the API's
    503, try again), and nothing claimed, so a later refresh has every marker."""
    other = await asyncpg.connect(URL[0])
    try:
        await prepare_connection(other)
        tx = other.transaction()
        await tx.start()
        await upsert_observations(other, _rows(TIDE, ("water_temperature_degC",), _minutes(1, 700, 710), 5))
        with pytest.raises(summary.SummaryBusy, match="writers kept the marker lock"):
            await summary.refresh(conn, timeout_s=0.3)
        await tx.commit()
    finally:
        await other.close()
    await summary.refresh(conn)
    assert await _summarised(conn) == await _direct(conn)


async def test_the_report_reads_the_summary(conn: asyncpg.Connection) -> None:
    """load_inputs refreshes first: a late reading written just before is in the report's counts."""
    await upsert_observations(conn, _rows(BUOY, ("wave_height_m",), _minutes(3, 1435, 1436), 6))
    inputs = await load_inputs(conn, YEAR, area=None, generated_at="2027-01-02T00:00:00Z", versions={},
                               settings=load_settings())  # fmt: skip
    direct = await _direct(conn)
    mine = {(s, v, f, n) for s, v, f, n in inputs.qc_counts if s in IDS}
    assert mine == set(direct["qc"])  # type: ignore[arg-type]
    assert inputs.as_of_us == direct["as_of"]
    assert {k: (v.first_us, v.last_us, v.gaps) for k, v in inputs.readings.items()} == direct["spans"]
    days, heights = inputs.wave_daily_max_m[BUOY]
    assert list(zip(days.tolist(), heights.tolist(), strict=True)) == [(t, h) for _, t, h in direct["waves"]]  # type: ignore[attr-defined]


async def test_the_refresh_command(
    conn: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """``tidewatch report --refresh`` recomputes the marked days and says how many."""
    await summary.refresh(conn)
    await upsert_observations(conn, _rows(TIDE, ("water_level_m",), _minutes(2, 1300, 1310), 7))
    marked = await conn.fetchval("SELECT count(*) FROM observation_days_dirty")
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", URL[0])
    assert await asyncio.to_thread(main, ["report", "--refresh"]) == 0
    assert f"observation summary: {marked} station-variable-days recomputed" in capsys.readouterr().out
    assert marked == 1 and await conn.fetchval("SELECT count(*) FROM observation_days_dirty") == 0
    assert await _summarised(conn) == await _direct(conn)
    assert await asyncio.to_thread(main, ["report", "--year", "2026"]) == 2  # a report needs --out
    assert "--year and --out are required" in capsys.readouterr().out
