"""The API's TimescaleDB query variants on a real TimescaleDB build (PGlite, see tests/timescale/):
time_bucket with percentiles, the observations_hourly rollup (real-time and materialized), keyset
pages, calendar months (time_bucket with a month interval, the rollup re-bucketed into months, and the
plain-PostgreSQL month arithmetic), and the capability probe, all compared with numpy over the same
readings.

The statements are the API's own (services/api/sql.py) with their bind values written in as literals,
because the harness executes plain SQL text.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from services.api.params import Bucket, TimeRange, widen_to_buckets
from services.api.sql import OBSERVATIONS, SeriesQuery, bucket_series_sql, raw_series_sql
from tests.support.api_series import (
    DAY0_US,
    HOUR_US,
    LEVEL_F,
    LEVEL_T,
    LEVEL_V,
    MONTH_F,
    MONTH_T,
    MONTH_V,
    MONTHS_END_US,
    MONTHS_START_US,
    iso,
    numpy_buckets,
    numpy_month_buckets,
    utc_us,
)
from tests.support.timescale import (
    MIGRATIONS_DIR,
    Run,
    migration_files,
    parse_timescale_migrations,
    run_harness,
)

pytestmark = [pytest.mark.node, pytest.mark.integration]

SPAN = TimeRange(DAY0_US, DAY0_US + 48 * HOUR_US)


def literal(value: Any, cast: str) -> str:
    """A bind value as SQL text, for the harness only (the API always binds)."""
    if cast == "timestamptz":
        return f"(timestamptz 'epoch' + {int(value)} * interval '1 microsecond')"
    if cast == "interval":
        assert isinstance(value, dt.timedelta)
        return f"interval '{value // dt.timedelta(microseconds=1)} microseconds'"
    if isinstance(value, list):
        return "ARRAY[" + ", ".join(literal(v, cast.rstrip("[]")) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return repr(value)


def render(sql: str, args: list[Any]) -> str:
    return re.sub(r"\$(\d+)::([a-z0-9\[\]]+)", lambda m: f"{literal(args[int(m[1]) - 1], m[2])}::{m[2]}", sql)


def as_check(name: str, statement: tuple[str, list[Any]]) -> dict:
    """Wrap a listing so times come back as µs integers, in the listing's own order."""
    sql = render(*statement)
    return {
        "name": name,
        "sql": f"SELECT (extract(epoch FROM q.time) * 1000000)::bigint AS time_us, q.* FROM ({sql}) q",
    }


def seed_sql() -> str:
    series = [("dalian", LEVEL_T, LEVEL_V, LEVEL_F), ("bayuquan", MONTH_T, MONTH_V, MONTH_F)]
    values = ",\n".join(
        f"(timestamptz 'epoch' + {t} * interval '1 microsecond', '{station}', 'water_level_m', "
        f"{'NULL' if f == 9 else repr(v)}, {f}, now())"
        for station, times, levels, flags in series
        for t, v, f in zip(times.tolist(), levels.tolist(), flags.tolist(), strict=True)
    )
    return (
        "INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at) VALUES\n"
        f"{values}\nON CONFLICT DO NOTHING;\n"
    )


def bucket_query(width_h: int, **extra: Any) -> SeriesQuery:
    defaults = dict(
        stations=["dalian"], series=["water_level_m"], span=SPAN, flags=(1, 2),
        bucket=Bucket(width_h * HOUR_US), aggregates=("mean", "min", "max", "count"),
    )  # fmt: skip
    return SeriesQuery(**{**defaults, **extra})


WIDTHS_H = (1, 6, 24)
MONTHS = (1, 3, 12)


def month_query(months: int, **extra: Any) -> SeriesQuery:
    """The bayuquan readings in calendar buckets, over the range the API would widen to."""
    bucket = Bucket(months=months)
    span = widen_to_buckets(TimeRange(MONTHS_START_US, MONTHS_END_US), bucket)
    defaults = dict(
        stations=["bayuquan"], series=["water_level_m"], span=span, flags=(1, 2), bucket=bucket,
        aggregates=("mean", "min", "max", "count"),
    )  # fmt: skip
    return SeriesQuery(**{**defaults, **extra})


@pytest.fixture(scope="module")
def run(node: str, tmp_path_factory: pytest.TempPathFactory) -> Run:
    core, timescale = migration_files(MIGRATIONS_DIR)
    workdir = tmp_path_factory.mktemp("api_timescale")
    seed = workdir / "seed.sql"
    seed.write_text(seed_sql())
    percentiles = bucket_query(1, percentiles=(0.1, 0.5, 0.9))
    rollup_page = bucket_query(1, limit=5, after=("dalian", "water_level_m", DAY0_US + 10 * HOUR_US))
    raw_page = SeriesQuery(
        ["dalian"], None, SPAN, flags=(3,), limit=4, after=("dalian", "water_level_m", DAY0_US + HOUR_US)
    )

    month_page = month_query(1, limit=2, after=("bayuquan", "water_level_m", utc_us(2023, 12, 1)))

    def rollups(stage: str) -> list[dict]:
        hours = [
            as_check(f"{stage} {h}h", bucket_series_sql(OBSERVATIONS, bucket_query(h), "hourly_rollup"))
            for h in WIDTHS_H
        ]
        return hours + [
            as_check(f"{stage} {m}mo", bucket_series_sql(OBSERVATIONS, month_query(m), "hourly_rollup"))
            for m in MONTHS
        ]

    checks = [
        {
            "name": "probe",
            "sql": "SELECT EXISTS (SELECT 1 FROM timescaledb_information.continuous_aggregates "
            "WHERE view_name = 'observations_hourly') AS rollup",
        },
        as_check("time_bucket p", bucket_series_sql(OBSERVATIONS, percentiles, "time_bucket")),
        *rollups("real-time"),
        {"name": "refresh", "sql": "CALL refresh_continuous_aggregate('observations_hourly', NULL, NULL)"},
        *rollups("materialized"),
        as_check("rollup page", bucket_series_sql(OBSERVATIONS, rollup_page, "hourly_rollup")),
        as_check("raw page", raw_series_sql(OBSERVATIONS, raw_page)),
        as_check("month page", bucket_series_sql(OBSERVATIONS, month_page, "hourly_rollup")),
        # Calendar months must not follow the session's time zone: the API's own sessions are UTC, but
        # the month edges are UTC whatever a session says.
        {
            "name": "zone",
            "sql": "SET TimeZone TO 'Asia/Shanghai'; SELECT current_setting('TimeZone') AS zone",
        },
        *(
            as_check(
                f"{method} {m}mo p", bucket_series_sql(OBSERVATIONS, month_query(m, percentiles=P), method)
            )
            for method in ("time_bucket", "calendar_months")
            for m in MONTHS
        ),
    ]
    schema = parse_timescale_migrations(timescale)
    return run_harness(node, workdir, [*core, *timescale, seed], schema, checks, passes=1)


P = (0.1, 0.5, 0.9)


def _expected(width_h: int) -> list[dict]:
    return numpy_buckets(width_h * HOUR_US, {1, 2}, [0.1, 0.5, 0.9], None)  # SQL alone: unrounded


def _assert_buckets(rows: list[dict], expected: list[dict], keys: tuple[str, ...]) -> None:
    assert [iso(int(r["time_us"])) for r in rows] == [e["time"] for e in expected]
    for got, want in zip(rows, expected, strict=True):
        assert int(got["count"]) == want["count"]
        for key in keys:
            assert float(got[key]) == pytest.approx(want[key], rel=1e-9), (want["time"], key)


def test_the_api_sees_the_rollup(run: Run) -> None:
    assert run.rows("probe") == [{"rollup": True}]


def test_time_bucket_with_percentiles_matches_numpy(run: Run) -> None:
    rows = run.rows("time_bucket p")
    for row in rows:
        row["p10"], row["p50"], row["p90"] = row["percentiles"]
    _assert_buckets(rows, _expected(1), ("mean", "min", "max", "p10", "p50", "p90"))


@pytest.mark.parametrize("width_h", WIDTHS_H)
@pytest.mark.parametrize("stage", ["real-time", "materialized"])
def test_hourly_rollup_rebucketed_matches_numpy(run: Run, stage: str, width_h: int) -> None:
    _assert_buckets(run.rows(f"{stage} {width_h}h"), _expected(width_h), ("mean", "min", "max"))


def test_keyset_pages_on_timescaledb(run: Run) -> None:
    page = run.rows("rollup page")
    assert [int(r["time_us"]) for r in page] == [DAY0_US + (10 + k) * HOUR_US for k in range(6)]  # limit + 1
    raw = run.rows("raw page")
    suspect = [int(t) for t, f in zip(LEVEL_T, LEVEL_F, strict=True) if f == 3 and t >= DAY0_US + HOUR_US]
    assert [int(r["time_us"]) for r in raw] == suspect[:5]
    assert {int(r["qc_flag"]) for r in raw} == {3}


@pytest.mark.parametrize("months", MONTHS)
@pytest.mark.parametrize("method", ["time_bucket", "calendar_months"])
def test_calendar_months_with_percentiles_match_numpy(run: Run, method: str, months: int) -> None:
    assert run.rows("zone") == [{"zone": "Asia/Shanghai"}]  # these ran in a session 8 h east of UTC
    rows = run.rows(f"{method} {months}mo p")
    for row in rows:
        row["p10"], row["p50"], row["p90"] = row["percentiles"]
    expected = numpy_month_buckets(months, {1, 2}, list(P), None)
    _assert_buckets(rows, expected, ("mean", "min", "max", "p10", "p50", "p90"))


@pytest.mark.parametrize("months", MONTHS)
@pytest.mark.parametrize("stage", ["real-time", "materialized"])
def test_hourly_rollup_into_calendar_months_matches_numpy(run: Run, stage: str, months: int) -> None:
    _assert_buckets(
        run.rows(f"{stage} {months}mo"), numpy_month_buckets(months, {1, 2}, [], None), ("mean", "min", "max")
    )


def test_keyset_pages_across_month_buckets(run: Run) -> None:
    page = run.rows("month page")
    assert [iso(int(r["time_us"])) for r in page] == [  # limit + 1: December, January, February
        e["time"] for e in numpy_month_buckets(1, {1, 2}, [], None) if e["time"] >= "2023-12"
    ]
