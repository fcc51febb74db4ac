"""The daily observation summary on TimescaleDB (PGlite with TimescaleDB 2.23; no server here): the
0012 triggers mark days on a compressed hypertable, late readings and QC corrections into compressed
chunks are marked, and the refresh's own SQL (services/report/summary.py) then gives what a direct
scan of the hypertable gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from services.db import writers
from services.report import summary
from tests.support.timescale import MIGRATIONS_DIR, migration_files, parse_timescale_migrations, run_harness

pytestmark = pytest.mark.node

DAY0 = "timestamptz '2024-01-01 00:00Z'"
STATION, LEVEL, TEMPERATURE = "dalian", "water_level_m", "water_temperature_degC"


def _seed_sql() -> str:
    """Three days of 1-minute readings of two variables, flags from the minute, no readings 10:00-13:00
    of day 1, some missing values."""
    return f"""INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at)
        SELECT {DAY0} + m * interval '1 minute', '{STATION}', v,
               CASE WHEN m % 97 = 0 THEN NULL ELSE (m % 500) / 100.0 END,
               CASE WHEN m % 97 = 0 THEN 9 WHEN m % 13 = 0 THEN 3 WHEN m % 29 = 0 THEN 4 ELSE 1 END,
               {DAY0} + m * interval '1 minute'
        FROM generate_series(0, 3 * 1440 - 1) m, unnest(ARRAY['{LEVEL}', '{TEMPERATURE}']) v
        WHERE NOT (m >= 1440 + 600 AND m < 1440 + 780)"""


def _writer_sql() -> str:
    """Through the writer's own statement: corrections of day 0 (into a compressed chunk) and late
    readings filling part of day 1's hole."""
    day0_us, minute_us = 1_704_067_200_000_000, 60_000_000
    rows = [
        (day0_us + m * minute_us, STATION, LEVEL, 1.0, 4, "null", day0_us, True) for m in range(0, 300, 7)
    ]
    rows += [(day0_us + (1440 + m) * minute_us, STATION, LEVEL, 2.0, 1, "null", day0_us, False)
             for m in range(600, 660)]  # fmt: skip
    values = ",\n".join(
        f"({t}, '{s}', '{v}', {x}, {f}, {'NULL' if q == 'null' else q}, {r}, {str(rev).lower()})"
        for t, s, v, x, f, q, r, rev in rows
    )
    stage = f"{writers.STAGE_DDL};\nINSERT INTO observations_stage VALUES\n{values}"
    # the worker binds its QC version ids (if its statement takes them): none here, written out for PGlite
    upsert = writers.UPSERT_OBSERVATIONS.replace("$1::text[]", "ARRAY[]::text[]")
    upsert = upsert.replace("$2::integer[]", "ARRAY[]::integer[]")
    return f"{stage};\n{upsert}"


def _refresh_sql() -> str:
    """summary.refresh's statements, in one transaction (no other writer runs in the harness)."""
    lock = f"SELECT pg_advisory_xact_lock({summary.WRITERS_LOCK})"
    recompute = [
        summary.claimed_sql(summary.BATCH_DAYS),
        "ANALYZE claimed_days",
        *summary._RECOMPUTE,
        "DROP TABLE claimed_days",
    ]
    return ";\n".join([lock, summary._CLAIM, *recompute, "SELECT count(*) AS n FROM observation_days_dirty"])


DIRECT_DAYS = """SELECT station_id, variable, (time AT TIME ZONE 'UTC')::date AS day, qc_flag,
    count(*) AS readings, count(value) AS n_values, min(time) AS first_time, max(time) AS last_time,
    max(value) AS value_max
    FROM observations GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4"""
SUMMARY_DAYS = "SELECT * FROM observation_days ORDER BY station_id, variable, day, qc_flag"
GAP = f"interval '{summary.GAP_FLOOR_S} s'"
DIRECT_STATION_DAYS = f"""WITH t AS (SELECT DISTINCT station_id, time FROM observations),
    g AS (SELECT station_id, (time AT TIME ZONE 'UTC')::date AS day, time,
                 lag(time) OVER (PARTITION BY station_id, (time AT TIME ZONE 'UTC')::date ORDER BY time)
                   AS prev
          FROM t)
    SELECT station_id, day, min(time) AS first_time, max(time) AS last_time,
           coalesce(array_agg(prev ORDER BY time) FILTER (WHERE time - prev > {GAP}),
                    '{{}}') AS gap_from,
           coalesce(array_agg(time ORDER BY time) FILTER (WHERE time - prev > {GAP}),
                    '{{}}') AS gap_to
    FROM g GROUP BY 1, 2 ORDER BY 1, 2"""
COMPRESS = "SELECT count(compress_chunk(c, true)) AS n FROM show_chunks('observations') c"
SUMMARY_STATION_DAYS = "SELECT * FROM observation_station_days ORDER BY station_id, day"


def test_summary_on_a_compressed_hypertable(node: str, tmp_path: Path) -> None:
    core, timescale = migration_files(MIGRATIONS_DIR)
    schema = parse_timescale_migrations(timescale)
    checks = [
        {"name": "seed", "sql": _seed_sql()},
        {"name": "compress", "sql": COMPRESS},
        {"name": "marked by the seed", "sql": "SELECT count(*) AS n FROM observation_days_dirty"},
        {"name": "first refresh", "sql": _refresh_sql()},
        {"name": "days 1", "sql": SUMMARY_DAYS},
        {"name": "direct days 1", "sql": DIRECT_DAYS},
        {"name": "compressed again", "sql": COMPRESS},
        {"name": "writer", "sql": _writer_sql()},
        {"name": "marked by the writer", "sql": "SELECT station_id, variable, day FROM observation_days_dirty"
         " ORDER BY 1, 2, 3"},
        {"name": "second refresh", "sql": _refresh_sql()},
        {"name": "days 2", "sql": SUMMARY_DAYS},
        {"name": "direct days 2", "sql": DIRECT_DAYS},
        {"name": "station days", "sql": SUMMARY_STATION_DAYS},
        {"name": "direct station days", "sql": DIRECT_STATION_DAYS},
        {"name": "truncate", "sql": "TRUNCATE observations; SELECT (SELECT count(*) FROM observation_days)"
         " + (SELECT count(*) FROM observation_station_days) AS n"},
    ]  # fmt: skip
    run = run_harness(node, tmp_path, [*core, *timescale], schema, checks, passes=1)
    failed = [c for c in run.report["checks"] if not c["ok"]]
    assert run.returncode == 0 and not failed, failed
    assert run.rows("compress")[0]["n"] > 0
    assert run.rows("marked by the seed")[0]["n"] == 3 * 2  # three days of two variables
    assert run.rows("first refresh")[0]["n"] == 0
    assert run.rows("days 1") == run.rows("direct days 1") and run.rows("days 1")
    marked = [(r["variable"], r["day"][:10]) for r in run.rows("marked by the writer")]
    assert marked == [(LEVEL, "2024-01-01"), (LEVEL, "2024-01-02")]
    assert run.rows("second refresh")[0]["n"] == 0
    assert run.rows("days 2") == run.rows("direct days 2") != run.rows("days 1")
    assert run.rows("station days") == run.rows("direct station days")
    assert any(r["gap_from"] for r in run.rows("station days")), "day 1 keeps its remaining gap"
    assert run.rows("truncate")[0]["n"] == 0  # the TRUNCATE trigger fires on the hypertable too
