"""Batch writers: readings and dead letters, idempotent so a redelivered batch writes nothing twice.

Readings go through a per-connection staging table filled with binary COPY, then one
``INSERT … SELECT … ON CONFLICT`` — one round trip per batch instead of one per reading. Times cross
the wire as integer microseconds and become timestamptz inside PostgreSQL, exactly.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Iterable, Mapping, Sequence

import asyncpg

from schemas.records import DeadLetter, StationReadings, storable_text
from services.db.timestamps import ts, us

log = logging.getLogger(__name__)
# SQLSTATE classes that say the server or the connection failed, not the statement: 08 connection
# exception, 40 transaction rollback (serialization, deadlock), 53 insufficient resources, 57
# operator intervention (admin/crash shutdown, cannot connect now, query cancelled), 58 system error.
TRANSIENT_SQLSTATE_CLASSES = frozenset({"08", "40", "53", "57", "58"})

QC_NOT_EVALUATED = 2
QC_MISSING = 9

STAGE_DDL = """
CREATE TEMP TABLE IF NOT EXISTS observations_stage (
    time_us      bigint NOT NULL,
    station_id   text NOT NULL,
    variable     text NOT NULL,
    value        double precision,
    qc_flag      smallint NOT NULL,
    qc_tests     text,
    received_us  bigint NOT NULL,
    revised      boolean NOT NULL
) ON COMMIT DELETE ROWS
"""
STAGE_COLUMNS = (
    "time_us",
    "station_id",
    "variable",
    "value",
    "qc_flag",
    "qc_tests",
    "received_us",
    "revised",
)


def _flag_written(row: str, time: str) -> str:
    """The flag stored for a staged row: the newest operator's judgement covering the reading
    (``manual_flags``, as ``tidewatch qc flag`` applies it: not to a missing value), else the worker's."""
    return f"""COALESCE(CASE WHEN {row}.value IS NOT NULL THEN (
        SELECT m.flag FROM manual_flags m
        WHERE m.station_id = {row}.station_id AND (m.variable IS NULL OR m.variable = {row}.variable)
          AND m.time_from <= {time} AND m.time_to > {time}
        ORDER BY m.flag_id DESC LIMIT 1) END, {row}.qc_flag)"""


# New readings are inserted with their first flags; a stored reading's flags change only through a
# correction (``revised``). The value is never replaced (the first value received wins, as in QC), and
# a first result for a reading already stored (a replay after a restart) leaves its flags alone. Inside
# a range an operator has judged the judgement is the flag, for corrections and late readings alike;
# the automatic test results (qc_tests) are stored as they come, with the QC version that gave them
# ($1 station ids, $2 their version ids: ``config_versions``; a station not given stores NULL).
UPSERT_OBSERVATIONS = f"""
WITH staged AS (  -- the flag each staged row is stored with, looked up once per row
    SELECT s.time_us, s.station_id, s.variable, s.value, s.qc_tests, s.received_us, s.revised,
           {_flag_written("s", ts("s.time_us"))} AS qc_flag, v.version_id AS qc_version
    FROM observations_stage s
    LEFT JOIN unnest($1::text[], $2::integer[]) AS v(station_id, version_id) ON v.station_id = s.station_id
), inserted AS (
    INSERT INTO observations (time, station_id, variable, value, qc_flag, qc_tests, received_at, qc_version)
    SELECT {ts("time_us")}, station_id, variable, value, qc_flag, qc_tests::jsonb, {ts("received_us")},
           qc_version
    FROM staged
    ON CONFLICT (station_id, variable, time) DO NOTHING
    RETURNING station_id
), corrected AS (
    UPDATE observations o SET qc_flag = s.qc_flag, qc_tests = s.qc_tests::jsonb, qc_version = s.qc_version
    FROM staged s
    WHERE s.revised AND o.station_id = s.station_id AND o.variable = s.variable
      AND o.time = {ts("s.time_us")}
      AND (o.qc_flag IS DISTINCT FROM s.qc_flag OR o.qc_tests IS DISTINCT FROM s.qc_tests::jsonb
           OR (s.qc_version IS NOT NULL AND o.qc_version IS DISTINCT FROM s.qc_version))
    RETURNING o.station_id
)
SELECT station_id, count(*) AS new_rows FROM inserted GROUP BY station_id
"""

ObservationRow = tuple[int, str, str, float | None, int, str | None, int, bool]


def is_transient(exc: BaseException) -> bool:
    """True if retrying the same statement on a new connection can succeed."""
    if isinstance(exc, OSError | asyncpg.InterfaceError | asyncpg.InternalClientError):
        return True  # socket errors, timeouts, a connection closed or confused under its operation
    if isinstance(exc, asyncpg.PostgresError):
        return (getattr(exc, "sqlstate", None) or "")[:2] in TRANSIENT_SQLSTATE_CLASSES
    return False


async def prepare_connection(conn: asyncpg.Connection) -> None:
    """Pool ``init`` hook: every connection gets its own staging table."""
    await conn.execute(STAGE_DDL)


def reading_rows(items: Iterable[StationReadings]) -> list[ObservationRow]:
    """Flatten accepted messages into observation rows not yet quality-controlled (flag 2, or 9)."""
    rows: list[ObservationRow] = []
    append = rows.append
    for item in items:
        station, received = item.station, item.received_us
        for sample in item.samples:
            time_us = sample.time_us
            for variable, value in sample.values.items():
                flag = QC_NOT_EVALUATED if value is not None else QC_MISSING
                append((time_us, station, variable, value, flag, None, received, False))
    return rows


async def upsert_observations(
    conn: asyncpg.Connection, rows: Sequence[ObservationRow], versions: Mapping[str, int] | None = None
) -> dict[str, int]:
    """Store new readings and QC corrections in one round trip.

    ``versions``: the QC version (``config_versions`` id) of each station's flags. Returns the new rows
    per station; the rest were corrections of stored flags, duplicates or redeliveries. Rows must be
    unique per (station, variable, time) within one call.
    """
    if not rows:
        return {}
    given = versions or {}
    async with conn.transaction():
        await conn.copy_records_to_table("observations_stage", records=rows, columns=STAGE_COLUMNS)
        return dict(await conn.fetch(UPSERT_OBSERVATIONS, list(given), list(given.values())))


def dead_letter_fingerprint(letter: DeadLetter) -> bytes:
    digest = hashlib.sha256()
    for part in (str(letter.received_us), letter.source, letter.reason, letter.detail):
        digest.update(part.encode("utf-8"))
        digest.update(b"\x00")
    digest.update(letter.payload)
    return digest.digest()


INSERT_DEAD_LETTERS = f"""
INSERT INTO dead_letters (received_at, fingerprint, source, station_id, reason, detail, payload)
SELECT {ts("r.received_us")}, r.fingerprint, r.source, r.station_id, r.reason, r.detail,
       r.payload
FROM unnest($1::bigint[], $2::bytea[], $3::text[], $4::text[], $5::text[], $6::text[], $7::bytea[])
     AS r(received_us, fingerprint, source, station_id, reason, detail, payload)
ON CONFLICT DO NOTHING
"""


def _storable(letter: DeadLetter) -> DeadLetter:
    """The letter with its text fields escaped (letters from an older ingest may carry NUL)."""
    station = None if letter.station is None else storable_text(letter.station)
    return DeadLetter(
        letter.received_us,
        storable_text(letter.source),
        storable_text(letter.reason),
        storable_text(letter.detail),
        letter.payload,
        station,
    )


async def _insert_letters(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> int:
    status = await conn.execute(
        INSERT_DEAD_LETTERS,
        [letter.received_us for letter in letters],
        [dead_letter_fingerprint(letter) for letter in letters],
        [letter.source for letter in letters],
        [letter.station for letter in letters],
        [letter.reason for letter in letters],
        [letter.detail for letter in letters],
        [letter.payload for letter in letters],
    )
    return int(status.rsplit(" ", 1)[1])


async def insert_dead_letters(conn: asyncpg.Connection, letters: Sequence[DeadLetter]) -> int:
    """Store refused messages once each; returns how many were new.

    One row the database refuses never takes its batch with it: the batch is then stored row by
    row, and a row refused on its own is stored with the time it was stored and its error as detail
    (the raw payload kept). Connection failures are raised for the caller to retry.
    """
    if not letters:
        return 0
    letters = [_storable(letter) for letter in letters]
    try:
        async with conn.transaction():
            return await _insert_letters(conn, letters)
    except Exception as exc:
        if is_transient(exc):
            raise
        log.warning("dead-letter batch refused (%s); storing its %d rows one by one", exc, len(letters))
    stored = 0
    for letter in letters:
        try:
            async with conn.transaction():
                stored += await _insert_letters(conn, [letter])
        except Exception as exc:
            if is_transient(exc):
                raise
            replacement = DeadLetter(
                time.time_ns() // 1000,
                letter.source,
                letter.reason,
                storable_text(
                    f"unstorable row ({type(exc).__name__}: {exc}); received_us={letter.received_us}; "
                    f"{letter.detail}"
                )[:4096],
                letter.payload,
                letter.station,
            )
            async with conn.transaction():
                stored += await _insert_letters(conn, [replacement])
    return stored


async def recent_readings(
    conn: asyncpg.Connection, station: str, since_us: int
) -> list[tuple[str, int, float | None]]:
    """A station's stored readings from ``since_us`` on, in time order (to rebuild stream context)."""
    rows = await conn.fetch(
        f"""
        SELECT variable, {us("time")} AS t, value FROM observations
        WHERE station_id = $1 AND time >= {ts("$2::bigint")} ORDER BY time
        """,
        station,
        since_us,
    )
    return [(r["variable"], r["t"], r["value"]) for r in rows]
