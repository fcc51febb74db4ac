"""The database side of import and reprocess: context reads, flag writes, run records.

New readings go straight into ``observations`` by binary COPY (they were checked against the stored
keys, so no conflict handling is needed on the common path); a reading the live worker stored
meanwhile makes that COPY fail, and the batch then goes through the ingest writers' staging upsert,
which keeps the stored value. Changed flags of stored readings go through the same upsert (as
corrections), with their old and new flags in ``qc_revisions``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import numpy as np
import orjson

from services.db.timestamps import ts, us, use_us_timestamps
from services.db.writers import prepare_connection, upsert_observations
from services.history.judge import Columns, packed_code, stored_tests
from streams.qc import QcConfig
from streams.qc.manual import Judgement

FAR_PAST_US = 0  # 1970: before anything the contract accepts (1990 on)
FAR_FUTURE_US = 7_258_118_400_000_000  # 2200-01-01
OBSERVATION_COLUMNS = (
    "time", "station_id", "variable", "value", "qc_flag", "qc_tests", "received_at", "qc_version",
)  # fmt: skip
REVISION_COLUMNS = (
    "run_id",
    "station_id",
    "variable",
    "time",
    "old_flag",
    "new_flag",
    "old_tests",
    "new_tests",
)


async def open_connection(url: str) -> asyncpg.Connection:
    """A connection whose ``timestamptz`` is µs since the epoch (no datetime per row) and with the
    ingest writers' staging table."""
    conn = await asyncpg.connect(url)
    await use_us_timestamps(conn)
    await prepare_connection(conn)
    return conn


# Per variable, the farthest of the k + 1 stored readings nearest an edge (all of them when fewer).
_NEAREST = f"""
SELECT v.variable, (
    SELECT {us("{agg}(near.time)")} FROM (
        SELECT o.time FROM observations o
        WHERE o.station_id = $1 AND o.variable = v.variable AND o.time {{op}} {ts("$2::bigint")}
        ORDER BY o.time {{order}} LIMIT v.skip + 1
    ) AS near
) AS t
FROM unnest($3::text[], $4::int[]) AS v(variable, skip)
"""
_BEFORE = _NEAREST.format(agg="min", op="<", order="DESC")
_AFTER = _NEAREST.format(agg="max", op=">=", order="ASC")


Reach = Mapping[str, tuple[int, int]]  # per variable: (readings to skip, µs) beyond an edge


async def bounds(
    conn: asyncpg.Connection, station: str, start: int, end: int, back: Reach, ahead: Reach
) -> tuple[int, int]:
    """[lo, hi] reaching from ``start`` back and from ``end`` ahead, per variable, by readings and time.

    ``back[v] = (k, us)``: to the (k + 1)-th stored reading before ``start`` (the earliest, when the
    series has fewer) and ``us`` before it; ``ahead[v]``: to the (k + 1)-th stored reading at or after
    ``end`` and ``us`` after it. A series with no reading beyond the edge reaches no further. The
    widest bound over the variables.
    """
    lo, hi = start, end
    for reach, query, at, sign in ((back, _BEFORE, start, -1), (ahead, _AFTER, end, 1)):
        names = sorted(reach)
        rows = await conn.fetch(query, station, at, names, [reach[v][0] for v in names])
        for row in rows:
            span = at + sign * reach[row["variable"]][1]
            found = span if row["t"] is None else row["t"]
            lo, hi = (min(lo, found, span), hi) if sign < 0 else (lo, max(hi, found, span))
    return lo, hi


def context_reach(config: QcConfig, station: str, variables: Sequence[str]) -> tuple[Reach, Reach]:
    """What judging a reading looks at: back_samples readings and back_us before it (flat line,
    attenuated signal, gap, rate of change), the next two after it (spike, gap; a series' first
    reading takes its gap flag from its second). Extra context never changes a flag."""
    back = {}
    for v in variables:
        series = config.get(station, v)
        back[v] = (series.back_samples, series.back_us) if series else (1, 0)
    return back, {v: (1, 0) for v in variables}


def influence_reach(config: QcConfig, station: str, variables: Sequence[str]) -> tuple[Reach, Reach]:
    """Which stored readings a new reading can change: the one before it (its spike and gap look
    at their next), and those whose look-back reaches it (back_samples readings, back_us)."""
    back, _ = context_reach(config, station, variables)
    return {v: (0, 0) for v in variables}, back


async def fetch_stored(
    conn: asyncpg.Connection, station: str, lo: int, hi: int, variables: Sequence[str] | None = None
) -> Columns:
    """A station's stored readings with lo <= time <= hi (of ``variables`` only, if given), in
    (variable, time) order."""
    rows = await conn.fetch(
        f"""
        SELECT variable, {us("time")} AS t, value, qc_flag, qc_tests::text AS tests FROM observations
        WHERE station_id = $1 AND time >= {ts("$2::bigint")} AND time <= {ts("$3::bigint")}
          AND ($4::text[] IS NULL OR variable = ANY($4::text[]))
        ORDER BY variable, time
        """,
        station,
        max(lo, FAR_PAST_US),
        min(hi, FAR_FUTURE_US),
        None if variables is None else list(variables),
    )
    n = len(rows)
    return Columns(
        np.array([r[0] for r in rows], dtype=object),
        np.fromiter((r[1] for r in rows), np.int64, n),
        np.fromiter((np.nan if r[2] is None else r[2] for r in rows), np.float64, n),
        np.fromiter((r[3] for r in rows), np.int16, n),
        np.fromiter((packed_code(r[4]) for r in rows), np.int64, n),
    )


def _value(v: float) -> float | None:
    return None if v != v else v


async def copy_new(
    conn: asyncpg.Connection, station: str, new: Columns, received_us: int, version: int | None
) -> int:
    """Store new readings with their flags and the QC version that gave them; returns how many were new."""
    if not len(new):
        return 0
    assert new.flag is not None and new.code is not None
    records = [
        (t, station, variable, _value(v), f, stored_tests(c), received_us, version)
        for variable, t, v, f, c in zip(
            new.variable.tolist(),
            new.time_us.tolist(),
            new.value.tolist(),
            new.flag.tolist(),
            new.code.tolist(),
            strict=True,
        )
    ]
    try:
        async with conn.transaction():
            await conn.copy_records_to_table("observations", records=records, columns=OBSERVATION_COLUMNS)
        return len(records)
    except asyncpg.UniqueViolationError:
        # Stored meanwhile (the live worker, a concurrent import): the upsert keeps what is stored.
        rows = [(t, s, var, val, f, tests, rec, False) for t, s, var, val, f, tests, rec, _ in records]
        return sum((await upsert_observations(conn, rows, _versions(station, version))).values())


async def write_changed(
    conn: asyncpg.Connection,
    run_id: int,
    station: str,
    changed: Columns,
    old_flag: np.ndarray,
    old_code: np.ndarray,
    now_us: int,
    version: int | None,
) -> int:
    """New flags of stored readings (with the QC version that gave them), and their old and new outcome
    in ``qc_revisions``."""
    if not len(changed):
        return 0
    assert changed.flag is not None and changed.code is not None
    variables, times = changed.variable.tolist(), changed.time_us.tolist()
    flags, codes = changed.flag.tolist(), changed.code.tolist()
    rows = [
        (t, station, var, _value(v), f, stored_tests(c), now_us, True)
        for var, t, v, f, c in zip(variables, times, changed.value.tolist(), flags, codes, strict=True)
    ]
    await upsert_observations(conn, rows, _versions(station, version))
    revisions = [
        (run_id, station, var, t, of, f, stored_tests(oc), stored_tests(c))
        for var, t, of, oc, f, c in zip(
            variables, times, old_flag.tolist(), old_code.tolist(), flags, codes, strict=True
        )
    ]
    await conn.copy_records_to_table("qc_revisions", records=revisions, columns=REVISION_COLUMNS)
    return len(rows)


def _versions(station: str, version: int | None) -> dict[str, int]:
    return {} if version is None else {station: version}


async def stamp_version(
    conn: asyncpg.Connection, station: str, variable: str | None, window: tuple[int, int], version: int
) -> int:
    """The QC version of readings judged again with an unchanged outcome (rows whose flag changed got it
    with the change); returns how many rows it moved to ``version``."""
    status = await conn.execute(
        f"""
        UPDATE observations SET qc_version = $4
        WHERE station_id = $1 AND ($5::text IS NULL OR variable = $5)
          AND time >= {ts("$2::bigint")} AND time < {ts("$3::bigint")}
          AND qc_version IS DISTINCT FROM $4
        """,
        station,
        window[0],
        window[1],
        version,
        variable,
    )
    return int(status.rsplit(" ", 1)[1])


def transitions(old_flag: np.ndarray, new_flag: np.ndarray) -> dict[str, int]:
    """Counts of flag changes, ``"1->3": n`` (per-test changes with the same flag count as ``"1->1"``)."""
    out: dict[str, int] = {}
    for a, b in zip(old_flag.tolist(), new_flag.tolist(), strict=True):
        key = f"{a}->{b}"
        out[key] = out.get(key, 0) + 1
    return out


def add_counts(into: dict[str, Any], more: Mapping[str, Any]) -> None:
    for key, value in more.items():
        if isinstance(value, Mapping):
            add_counts(into.setdefault(key, {}), value)
        else:
            into[key] = into.get(key, 0) + value


def request_key(kind: str, request: Mapping[str, Any], digest: str) -> str:
    body = orjson.dumps({"kind": kind, "request": request, "config": digest}, option=orjson.OPT_SORT_KEYS)
    return hashlib.sha256(body).hexdigest()


async def resumable_run(conn: asyncpg.Connection, key: str) -> asyncpg.Record | None:
    """The newest unfinished run of the same request and configuration, if any."""
    return await conn.fetchrow(
        "SELECT run_id, checkpoint_us, counts::text AS counts FROM history_runs "
        "WHERE request_key = $1 AND state = 'running' ORDER BY run_id DESC LIMIT 1",
        key,
    )


async def start_run(
    conn: asyncpg.Connection,
    kind: str,
    request: Mapping[str, Any],
    key: str,
    digest: str,
    version: str,
    checkpoint_us: int | None = None,
) -> int:
    return await conn.fetchval(
        "INSERT INTO history_runs (kind, request, request_key, config_digest, code_version, checkpoint_us) "
        "VALUES ($1, $2::jsonb, $3, $4, $5, $6) RETURNING run_id",
        kind,
        orjson.dumps(request).decode(),
        key,
        digest,
        version,
        checkpoint_us,
    )


async def save_progress(
    conn: asyncpg.Connection,
    run_id: int,
    counts: Mapping[str, Any],
    checkpoint_us: int | None = None,
    state: str = "running",
) -> None:
    await conn.execute(
        "UPDATE history_runs SET counts = $2::jsonb, checkpoint_us = coalesce($3, checkpoint_us), "
        "state = $4, updated_at = now(), finished_at = CASE WHEN $4 = 'running' THEN NULL ELSE now() END "
        "WHERE run_id = $1",
        run_id,
        orjson.dumps(counts).decode(),
        checkpoint_us,
        state,
    )


async def list_runs(conn: asyncpg.Connection, limit: int) -> list[asyncpg.Record]:
    """The newest runs first (times as µs)."""
    return await conn.fetch(
        f"SELECT run_id, kind, state, {us('started_at')} AS started_us, config_digest, code_version, "
        "request::text AS request, counts::text AS counts FROM history_runs ORDER BY run_id DESC LIMIT $1",
        limit,
    )


async def list_revisions(conn: asyncpg.Connection, run_id: int, limit: int) -> list[asyncpg.Record]:
    """What one run changed, in time order: old and new aggregate and per-test flags."""
    return await conn.fetch(
        f"SELECT station_id, variable, {us('time')} AS time_us, old_flag, new_flag, "
        "old_tests::text AS old_tests, new_tests::text AS new_tests FROM qc_revisions WHERE run_id = $1 "
        "ORDER BY time, station_id, variable LIMIT $2",
        run_id,
        limit,
    )


async def list_reprocessed_alerts(conn: asyncpg.Connection, run_id: int, limit: int) -> list[asyncpg.Record]:
    """A run's alerts judged again (``reprocess --what alerts``): outcome, peaks, old and new events."""
    return await conn.fetch(
        "SELECT alert_id, old_alert_id, station_id, rule, outcome, old_peak, new_peak, "
        "old_events::text AS old_events, new_events::text AS new_events FROM reprocessed_alerts "
        "WHERE run_id = $1 "
        "ORDER BY station_id, alert_id LIMIT $2",
        run_id,
        limit,
    )


async def manual_overrides(conn: asyncpg.Connection, station: str, lo: int, hi: int) -> list[Judgement]:
    """The station's manual QC judgements reaching into [lo, hi], oldest first (the newest wins)."""
    rows = await conn.fetch(
        f"SELECT variable, {us('time_from')} AS a, {us('time_to')} AS b, flag FROM manual_flags "
        f"WHERE station_id = $1 AND time_to > {ts('$2::bigint')} AND time_from <= {ts('$3::bigint')} "
        "ORDER BY flag_id",
        station,
        max(lo, FAR_PAST_US),
        min(hi, FAR_FUTURE_US),
    )
    return [(r["variable"], r["a"], r["b"], r["flag"]) for r in rows]


_APPLY_MANUAL = f"""
WITH old AS (
    SELECT station_id, variable, time, qc_flag, qc_tests FROM observations
    WHERE station_id = $1 AND ($2::text IS NULL OR variable = $2)
      AND time >= {ts("$3::bigint")} AND time < {ts("$4::bigint")}
      AND value IS NOT NULL AND qc_flag <> $5
    FOR UPDATE
), changed AS (
    UPDATE observations o SET qc_flag = $5 FROM old
    WHERE o.station_id = old.station_id AND o.variable = old.variable AND o.time = old.time
    RETURNING o.station_id
)
INSERT INTO qc_revisions (run_id, station_id, variable, time, old_flag, new_flag, old_tests, new_tests)
SELECT $6, station_id, variable, time, qc_flag, $5, qc_tests, qc_tests FROM old
"""


async def add_manual_flag(
    conn: asyncpg.Connection, run_id: int, station: str, variable: str | None, start: int, end: int,
    flag: int, reason: str, operator: str,
) -> tuple[int, int]:  # fmt: skip
    """Store an operator's judgement and apply it to the stored readings; (flag id, readings changed)."""
    flag_id = await conn.fetchval(
        "INSERT INTO manual_flags (station_id, variable, time_from, time_to, flag, reason, operator, run_id) "
        f"VALUES ($1, $2, {ts('$3::bigint')}, {ts('$4::bigint')}, $5, $6, $7, $8) RETURNING flag_id",
        station, variable, start, end, flag, reason, operator, run_id,
    )  # fmt: skip
    status = await conn.execute(_APPLY_MANUAL, station, variable, start, end, flag, run_id)
    return flag_id, int(status.rsplit(" ", 1)[1])


async def list_manual_flags(conn: asyncpg.Connection, station: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT flag_id, station_id, variable, {us('time_from')} AS a, {us('time_to')} AS b, flag, reason, "
        f"operator, {us('created_at')} AS created_us, run_id FROM manual_flags "
        "WHERE $1::text IS NULL OR station_id = $1 ORDER BY flag_id",
        station,
    )


async def add_review(
    conn: asyncpg.Connection, station: str, variable: str | None, start: int, end: int, status: str,
    note: str, operator: str,
) -> tuple[int, int]:  # fmt: skip
    """Store an operator's review of a range (data status); (review id, stored readings it covers)."""
    review_id = await conn.fetchval(
        "INSERT INTO data_reviews (station_id, variable, time_from, time_to, status, note, operator) "
        f"VALUES ($1, $2, {ts('$3::bigint')}, {ts('$4::bigint')}, $5, $6, $7) RETURNING review_id",
        station, variable, start, end, status, note, operator,
    )  # fmt: skip
    readings = await conn.fetchval(
        "SELECT count(*) FROM observations WHERE station_id = $1 AND ($2::text IS NULL OR variable = $2) "
        f"AND time >= {ts('$3::bigint')} AND time < {ts('$4::bigint')}",
        station, variable, start, end,
    )  # fmt: skip
    return review_id, readings


async def list_reviews(conn: asyncpg.Connection, station: str | None) -> list[asyncpg.Record]:
    return await conn.fetch(
        f"SELECT review_id, station_id, variable, {us('time_from')} AS a, {us('time_to')} AS b, status, "
        f"note, operator, {us('created_at')} AS created_us FROM data_reviews "
        "WHERE $1::text IS NULL OR station_id = $1 ORDER BY review_id",
        station,
    )
