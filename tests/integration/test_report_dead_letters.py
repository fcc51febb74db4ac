"""Dead letters in the report by the time of the reading they carry (real PostgreSQL): a replayed year's
refusals, received a year later, count in the replayed year; letters with no usable reading time count
in the year received; a station's report counts only letters naming it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import AsyncIterator

import asyncpg
import pytest

from services.report.queries import load_inputs
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

RECEIVED = dt.datetime(2026, 2, 1, tzinfo=dt.UTC)  # when the replay of 2025 ran
STATION = "dalian"
# (station named, reason, reading time in the payload or None, the payload is cut after this many
# bytes or None, received)
LETTERS = [
    (STATION, "wrong_unit", dt.datetime(2025, 3, 1, tzinfo=dt.UTC), None, RECEIVED),
    (STATION, "wrong_unit", dt.datetime(2025, 12, 31, 23, 59, tzinfo=dt.UTC), None, RECEIVED),
    (STATION, "malformed_json", dt.datetime(2025, 7, 1, tzinfo=dt.UTC), 60, RECEIVED),  # cut after its time
    (STATION, "malformed_json", None, 10, RECEIVED),  # cut before any time
    (STATION, "future_time", dt.datetime(2027, 1, 1, tzinfo=dt.UTC), None, RECEIVED),
    ("yingkou", "out_of_physical_range", dt.datetime(2025, 5, 1, tzinfo=dt.UTC), None, RECEIVED),
    (None, "malformed_json", None, 5, dt.datetime(2025, 8, 1, tzinfo=dt.UTC)),
    (
        STATION,
        "wrong_unit",
        dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
        None,
        dt.datetime(2026, 1, 5, 0, 1, tzinfo=dt.UTC),
    ),
]


def _payload(station: str | None, reading: dt.datetime | None, cut: int | None) -> bytes:
    message: dict[str, object] = {"station": station or "?"}
    if reading is not None:
        message["time"] = reading.strftime("%Y-%m-%dT%H:%M:%SZ")
    message["values"] = {"water_level_m": 1.25}
    raw = json.dumps(message, separators=(",", ":")).encode()
    return raw[:cut] if cut is not None else raw


def _expected(year: int, station: str | None) -> tuple[dict[str, int], int]:
    """By hand from LETTERS: the reading's time when the payload still shows it and it is not after
    receipt, else the receive time."""
    counts: dict[str, int] = {}
    by_receipt = 0
    for named, reason, reading, cut, received in LETTERS:
        if station is not None and named != station:
            continue
        shown = reading is not None and (cut is None or cut >= 60)
        own = shown and reading is not None and reading <= received
        at = reading if own and reading is not None else received
        if at.year == year:
            counts[reason] = counts.get(reason, 0) + 1
            by_receipt += not own
    return dict(sorted(counts.items())), by_receipt


@pytest.fixture(scope="module")
async def conn() -> AsyncIterator[asyncpg.Connection]:
    async with fresh_database("tidewatch_report_dead") as settings:
        connection = await asyncpg.connect(settings.database_url)
        try:
            for i, (named, reason, reading, cut, received) in enumerate(LETTERS):
                await connection.execute(
                    "INSERT INTO dead_letters (received_at, fingerprint, source, station_id, reason, detail,"
                    " payload) VALUES ($1, $2, 'ingest', $3, $4, 'd', $5)",
                    received, bytes([i]), named, reason, _payload(named, reading, cut),
                )  # fmt: skip
            yield connection
        finally:
            await connection.close()


@pytest.mark.parametrize("year", [2025, 2026])
@pytest.mark.parametrize("station", [None, STATION])
async def test_dead_letters_by_reading_time(conn: asyncpg.Connection, year: int, station: str | None) -> None:
    inputs = await load_inputs(conn, year, station=station, generated_at="2027-01-02T00:00:00Z", versions={})
    expected = _expected(year, station)
    assert (inputs.dead_letters, inputs.dead_letters_by_receipt) == expected
    assert sum(expected[0].values()) > 0
