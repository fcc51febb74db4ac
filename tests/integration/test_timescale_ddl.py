"""The real migrations, executed twice on a real TimescaleDB build (PGlite: PostgreSQL 17 in WASM).

No TimescaleDB server can be installed here, so ``tests/timescale/run_sql.mjs`` runs the SQL inside
the npm PGlite build that carries TimescaleDB. What the TimescaleDB catalogue must contain is read
from the migration files themselves (create_hypertable, compression settings, policies, continuous
aggregates), so adding a table to a migration extends these checks without touching this file.
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest

from services.db import writers
from tests.support.timescale import (
    MIGRATIONS_DIR,
    Compression,
    Run,
    TimescaleSchema,
    migration_files,
    parse_timescale_migrations,
    run_harness,
)

pytestmark = pytest.mark.node

# ---------------------------------------------------------------------------------------------------
# Checks: catalogue queries whose expected answer comes from the parsed migrations, and data checks
# with hand-computed answers.

STATION = "test-station"
VARIABLE = "water_level_m"
HOUR0_US = int(dt.datetime(2024, 1, 1, tzinfo=dt.UTC).timestamp() * 1_000_000)
MINUTE_US = 60_000_000
RECEIVED_US = HOUR0_US + 600 * MINUTE_US

# Written before the tables become hypertables (create_hypertable must migrate them) ...
SEED_READINGS = {10: 1.0, 20: 2.0, 90: 5.0}  # minutes after 2024-01-01T00:00Z -> water level m
# ... and through the service's writer afterwards, into chunks the compression policy compressed.
# Minute 20 repeats a stored reading with another value: the stored one must win (DO NOTHING).
WRITER_READINGS = {20: 99.0, 50: 6.0, 100: 7.0, 120: None}
WRITER_NEW = 3
# Hour buckets from the union above, by hand: hour 0 = (1 + 2 + 6) / 3, hour 1 = (5 + 7) / 2,
# hour 2 = one missing value only.
EXPECTED_HOURLY = [(0, 3.0, 3, 3), (1, 6.0, 2, 2), (2, None, 0, 1)]  # hour, mean_m, n_values, n_rows


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def _timestamp(time_us: int) -> str:
    return f"timestamptz 'epoch' + {time_us} * interval '1 microsecond'"


def seed_sql() -> str:
    rows = ",\n".join(
        f"({_timestamp(HOUR0_US + minute * MINUTE_US)}, '{STATION}', '{VARIABLE}', {value}, 1, "
        f"{_timestamp(RECEIVED_US)})"
        for minute, value in SEED_READINGS.items()
    )
    return (
        "INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at) VALUES\n"
        f"{rows}\nON CONFLICT (station_id, variable, time) DO NOTHING;\n"
    )


def writer_batch_sql() -> str:
    """The service's own staging DDL and INSERT … ON CONFLICT, fed with the writer's own rows."""
    from schemas.records import Sample, StationReadings

    samples = [Sample(HOUR0_US + m * MINUTE_US, {VARIABLE: v}) for m, v in WRITER_READINGS.items()]
    rows = writers.reading_rows([StationReadings(STATION, RECEIVED_US, samples)])
    values = ",\n".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in rows)
    # The station's QC version ids, as the worker binds them ($1, $2), written out for PGlite.
    upsert = writers.UPSERT_OBSERVATIONS.replace("$1::text[]", f"ARRAY['{STATION}']::text[]")
    upsert = upsert.replace("$2::integer[]", "ARRAY[1]::integer[]")
    return f"{writers.STAGE_DDL};\nINSERT INTO observations_stage VALUES\n{values};\n{upsert}"


def _run_jobs_sql(proc_name: str) -> str:
    return (
        "DO $$ DECLARE j int; BEGIN FOR j IN SELECT job_id FROM timescaledb_information.jobs "
        f"WHERE proc_name = '{proc_name}' ORDER BY job_id LOOP CALL run_job(j); END LOOP; END $$"
    )


def catalogue_checks(schema: TimescaleSchema) -> list[dict]:
    checks = [
        {"name": "extension again", "sql": "CREATE EXTENSION IF NOT EXISTS timescaledb"},
        {
            "name": "hypertables",
            "sql": "SELECT h.hypertable_name, h.compression_enabled, d.column_name "
            "FROM timescaledb_information.hypertables h JOIN timescaledb_information.dimensions d "
            "USING (hypertable_schema, hypertable_name) WHERE d.dimension_number = 1",
        },
        {
            "name": "compression settings",
            "sql": "SELECT hypertable_name, attname, segmentby_column_index, orderby_column_index, "
            "orderby_asc FROM timescaledb_information.compression_settings "
            "ORDER BY hypertable_name, segmentby_column_index, orderby_column_index",
        },
        {
            "name": "jobs",
            "sql": "SELECT proc_name, hypertable_name, config FROM timescaledb_information.jobs "
            "WHERE hypertable_name IS NOT NULL",
        },
        {
            "name": "continuous aggregates",
            "sql": "SELECT view_name, materialized_only FROM timescaledb_information.continuous_aggregates",
        },
    ]
    for policy in schema.policies:
        if policy.interval_sql:
            checks.append(
                {
                    "name": f"interval {policy.proc_name} {policy.relation}",
                    "sql": f"SELECT (config->>'{policy.setting}')::interval = {policy.interval_sql} AS same "
                    "FROM timescaledb_information.jobs "
                    f"WHERE proc_name = '{policy.proc_name}' AND hypertable_name = '{policy.relation}'",
                }
            )
    return checks


def cagg_checks(schema: TimescaleSchema) -> list[dict]:
    """Refresh every continuous aggregate, then read only what was materialized and its own query."""
    checks = []
    for view, query in schema.caggs.items():
        checks += [
            {"name": f"refresh {view}", "sql": f"CALL refresh_continuous_aggregate('{view}', NULL, NULL)"},
            {
                "name": f"materialized {view}",
                "sql": f"ALTER MATERIALIZED VIEW {view} SET (timescaledb.materialized_only = true);\n"
                f"SELECT * FROM {view}",
            },
            {"name": f"computed {view}", "sql": f"SELECT * FROM ({query}) AS q"},
        ]
    return checks


def observation_checks() -> list[dict]:
    return [
        {"name": "run compression policies", "sql": _run_jobs_sql("policy_compression")},
        {
            "name": "chunks",
            "sql": "SELECT hypertable_name, count(*) FILTER (WHERE is_compressed) AS compressed, "
            "count(*) AS total FROM timescaledb_information.chunks GROUP BY hypertable_name",
        },
        {"name": "writer batch", "sql": writer_batch_sql()},
        {"name": "writer batch again", "sql": writer_batch_sql()},
        {
            "name": "hourly means",
            "sql": "SELECT (extract(epoch FROM time_bucket(INTERVAL '1 hour', time)) * 1e6)::bigint "
            "AS bucket_us, avg(value) AS mean_m, count(value) AS n_values, count(*) AS n_rows "
            f"FROM observations WHERE station_id = '{STATION}' AND variable = '{VARIABLE}' "
            "GROUP BY 1 ORDER BY 1",
        },
    ]


# ---------------------------------------------------------------------------------------------------
# Assertions shared by the real migrations and the harness's own sample.


def assert_all_files_applied(run: Run, passes: int = 2) -> None:
    failures = [
        f"pass {p['pass']} {f['path']} line {f['error'].get('line')}: {f['error']['message']}\n"
        f"  statement: {f['error'].get('statement')}"
        for p in run.report["passes"]
        for f in p["files"]
        if not f["ok"]
    ]
    assert not failures, "\n".join(failures)
    assert len(run.report["passes"]) == passes
    assert run.returncode == 0, [c for c in run.report["checks"] if not c["ok"]]


def assert_hypertables_match(run: Run) -> None:
    found = {r["hypertable_name"]: r["column_name"] for r in run.rows("hypertables")}
    assert found == run.schema.hypertables
    enabled = {r["hypertable_name"] for r in run.rows("hypertables") if r["compression_enabled"]}
    assert enabled == {t for t in run.schema.compression if t in run.schema.hypertables}


def assert_compression_matches(run: Run) -> None:
    found: dict[str, Compression] = {}
    for row in run.rows("compression settings"):
        settings = found.setdefault(row["hypertable_name"], Compression([], []))
        if row["segmentby_column_index"] is not None:
            settings.segmentby.append(row["attname"])
        if row["orderby_column_index"] is not None:
            settings.orderby.append((row["attname"], row["orderby_asc"]))
    expected = {t: c for t, c in run.schema.compression.items() if t in run.schema.hypertables}
    assert found == expected


def assert_policies_match(run: Run) -> None:
    found = sorted((r["proc_name"], r["hypertable_name"]) for r in run.rows("jobs"))
    # Exactly one job per add_*_policy call although every file ran twice.
    assert found == sorted((p.proc_name, p.relation) for p in run.schema.policies)
    for policy in run.schema.policies:
        if policy.interval_sql:
            assert run.rows(f"interval {policy.proc_name} {policy.relation}") == [{"same": True}], policy


def _sorted_rows(rows: list[dict]) -> list[dict]:
    return sorted(rows, key=lambda r: json.dumps({k: v for k, v in r.items() if not isinstance(v, float)}))


def assert_caggs_materialize_their_query(run: Run) -> None:
    found = {r["view_name"] for r in run.rows("continuous aggregates")}
    assert found == set(run.schema.caggs)
    for view in run.schema.caggs:
        run.check(f"refresh {view}")
        materialized = _sorted_rows(run.rows(f"materialized {view}"))
        computed = _sorted_rows(run.rows(f"computed {view}"))
        assert materialized, f"{view} materialized nothing"
        assert len(materialized) == len(computed)
        for got, want in zip(materialized, computed, strict=True):
            assert got == pytest.approx(want), view


# ---------------------------------------------------------------------------------------------------
# The real migrations.


@pytest.fixture(scope="module")
def real_run(node: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    core, timescale = migration_files(MIGRATIONS_DIR)
    assert core and timescale, f"no migrations under {MIGRATIONS_DIR} and {MIGRATIONS_DIR / 'timescale'}"
    workdir = tmp_path_factory.mktemp("timescale")
    seed = workdir / "seed_before_hypertables.sql"
    seed.write_text(seed_sql())
    schema = parse_timescale_migrations(timescale)
    checks = catalogue_checks(schema) + observation_checks() + cagg_checks(schema)
    return run_harness(node, workdir, [*core, seed, *timescale], schema, checks)


def test_engine_is_the_licensed_timescaledb(real_run: Run) -> None:
    # Compression, continuous aggregates and policies exist only in the Timescale License build.
    assert real_run.report["engine"]["license"] == "timescale"
    assert real_run.report["engine"]["timescaledb"].startswith("2.")


def test_every_migration_applies_twice(real_run: Run) -> None:
    assert_all_files_applied(real_run)
    real_run.check("extension again")


def test_hypertables_are_the_ones_the_migrations_create(real_run: Run) -> None:
    assert "observations" in real_run.schema.hypertables
    assert_hypertables_match(real_run)


def test_compression_settings_are_the_migrations(real_run: Run) -> None:
    assert_compression_matches(real_run)


def test_policies_exist_once_with_the_migrations_intervals(real_run: Run) -> None:
    assert_policies_match(real_run)


def test_continuous_aggregates_materialize_their_query(real_run: Run) -> None:
    assert_caggs_materialize_their_query(real_run)


def test_writer_batch_lands_once_in_compressed_chunks(real_run: Run) -> None:
    real_run.check("run compression policies")
    chunks = {r["hypertable_name"]: r for r in real_run.rows("chunks")}
    assert chunks["observations"]["compressed"] >= 1
    # The writer's statement answers with the new rows per station; a replayed batch adds none.
    assert sum(r["new_rows"] for r in real_run.rows("writer batch")) == WRITER_NEW
    assert sum(r["new_rows"] for r in real_run.rows("writer batch again")) == 0


def test_time_bucket_gives_the_hand_computed_hourly_means(real_run: Run) -> None:
    expected = [
        {"bucket_us": HOUR0_US + hour * 60 * MINUTE_US, "mean_m": mean, "n_values": n, "n_rows": rows}
        for hour, mean, n, rows in EXPECTED_HOURLY
    ]
    assert real_run.rows("hourly means") == [pytest.approx(e) for e in expected]


# ---------------------------------------------------------------------------------------------------
# The harness itself: breakpoint chunks, a continuous aggregate, and a failing statement.

SAMPLE_CORE = """
CREATE TABLE IF NOT EXISTS level (
    time timestamptz NOT NULL, station_id text NOT NULL, value_m double precision,
    PRIMARY KEY (station_id, time)
);
INSERT INTO level VALUES ('2024-01-01T00:00Z', 'a', 1), ('2024-01-01T00:30Z', 'a', 3),
                         ('2024-01-01T01:00Z', 'a', 4), ('2024-01-01T00:15Z', 'b', 2)
ON CONFLICT DO NOTHING;
"""
SAMPLE_TIMESCALE = """
SELECT create_hypertable('level', by_range('time', INTERVAL '1 day'),
                         if_not_exists => true, migrate_data => true);
ALTER TABLE level SET (timescaledb.compress, timescaledb.compress_segmentby = 'station_id',
                       timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('level', INTERVAL '30 days', if_not_exists => true);
CREATE MATERIALIZED VIEW IF NOT EXISTS level_hourly WITH (timescaledb.continuous) AS
SELECT station_id, time_bucket(INTERVAL '1 hour', time) AS bucket, avg(value_m) AS mean_m, count(*) AS n
FROM level GROUP BY station_id, bucket WITH NO DATA;
SELECT add_continuous_aggregate_policy('level_hourly', start_offset => NULL, end_offset => INTERVAL '1 hour',
                                       schedule_interval => INTERVAL '1 hour', if_not_exists => true);
-- tidewatch:statement-breakpoint
CALL refresh_continuous_aggregate('level_hourly', NULL, NULL);
"""
SAMPLE_BROKEN = """
SELECT 1;
-- the next statement refers to a table that does not exist
SELECT create_hypertable('missing', by_range('time'));
"""


def _sample_files(root: Path, files: dict[str, str]) -> list[Path]:
    paths = []
    for name, text in files.items():
        path = root / "migrations" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        paths.append(path)
    return paths


def test_harness_runs_breakpoint_chunks_and_checks_a_cagg(node: str, tmp_path: Path) -> None:
    files = _sample_files(tmp_path, {"0001_core.sql": SAMPLE_CORE, "timescale/0001_ts.sql": SAMPLE_TIMESCALE})
    schema = parse_timescale_migrations(files[1:])
    assert set(schema.caggs) == {"level_hourly"}
    run = run_harness(node, tmp_path, files, schema, catalogue_checks(schema) + cagg_checks(schema))
    assert_all_files_applied(run)
    assert [f["mode"] for f in run.report["passes"][0]["files"]] == ["one transaction", "2 chunks"]
    assert_hypertables_match(run)
    assert_compression_matches(run)
    assert_policies_match(run)
    assert_caggs_materialize_their_query(run)
    hourly = {
        (r["station_id"], r["bucket"][11:16]): (r["mean_m"], r["n"])
        for r in run.rows("materialized level_hourly")
    }
    assert hourly == {("a", "00:00"): (2.0, 2), ("a", "01:00"): (4.0, 1), ("b", "00:00"): (2.0, 1)}


def test_harness_names_the_failing_statement(node: str, tmp_path: Path) -> None:
    files = _sample_files(
        tmp_path, {"0001_core.sql": SAMPLE_CORE, "timescale/0002_broken.sql": SAMPLE_BROKEN}
    )
    schema = parse_timescale_migrations(files[1:])
    run = run_harness(node, tmp_path, files, schema, [{"name": "never", "sql": "SELECT 1"}])
    assert run.returncode == 1
    assert not run.report["ok"]
    assert len(run.report["passes"]) == 1  # a failed pass stops the run
    broken = run.report["passes"][0]["files"][1]
    assert broken["error"]["statement"] == "SELECT create_hypertable('missing', by_range('time'))"
    assert broken["error"]["line"] == 4
    assert 'relation "missing" does not exist' in broken["error"]["message"]
    assert run.report["checks"] == [{"name": "never", "ok": False, "skipped": "a migration failed"}]
