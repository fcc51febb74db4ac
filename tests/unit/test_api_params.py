"""The API's request parsing, SQL building and encoders, without a database."""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import re

import numpy as np
import pyarrow.parquet as pq
import pytest

from services.api.errors import ApiError
from services.api.flags import parse_qc
from services.api.params import (
    BUCKET_ORIGIN_US,
    DAY_US,
    Bucket,
    TimeRange,
    decode_cursor,
    encode_cursor,
    format_time,
    parse_aggregates,
    parse_bucket,
    parse_duration_us,
    parse_range,
    parse_time_us,
    percentile_name,
    widen_to_buckets,
)
from services.api.parquet import ParquetStream
from services.api.sql import (
    INDICATORS,
    OBSERVATIONS,
    AlertQuery,
    SeriesQuery,
    alerts_sql,
    bucket_method,
    bucket_series_sql,
    raw_series_sql,
)
from services.api.tables import Chunk, Column, time_strings, to_csv, to_records

S = 1_000_000
NOW_US = int(dt.datetime(2024, 6, 15, 12, 0, tzinfo=dt.UTC).timestamp()) * S


def us(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.UTC).timestamp()) * S


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90), ("10min", 600), ("1h", 3600), ("6 hours", 21_600), ("7d", 604_800), ("2w", 1_209_600),
        ("PT1H", 3600), ("P7D", 604_800), ("P1DT6H", 108_000), ("PT30M", 1800), ("P1W", 604_800),
        ("PT0.5S", 0.5),
    ],
)  # fmt: skip
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration_us(text, "x") == seconds * S


@pytest.mark.parametrize("text", ["1mo", "3 months", "1y", "P1M", "P1Y", "P1YT1H"])
def test_durations_without_fixed_length_are_refused(text: str) -> None:
    with pytest.raises(ApiError, match="no fixed length"):
        parse_duration_us(text, "bucket")


@pytest.mark.parametrize("text", ["", "P", "PT", "h", "10 parsecs", "1h; DROP TABLE x", "-1h"])
def test_unreadable_durations_name_the_parameter(text: str) -> None:
    with pytest.raises(ApiError, match=r"^bucket: "):
        parse_duration_us(text, "bucket")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2024-01-31T06:00:00Z", us(2024, 1, 31, 6)),
        ("2024-01-31T06:00:00", us(2024, 1, 31, 6)),  # no offset: UTC
        ("2024-01-31T14:00:00+08:00", us(2024, 1, 31, 6)),
        ("2024-01-31 06:00", us(2024, 1, 31, 6)),
        ("2024-01-31", us(2024, 1, 31)),
        ("2024-01-31T06:00:00.250Z", us(2024, 1, 31, 6) + 250_000),
        ("now", NOW_US),
        ("-7d", NOW_US - 7 * DAY_US),
        ("now-6h", NOW_US - 6 * 3600 * S),
        ("now - 6h", NOW_US - 6 * 3600 * S),
        ("-P1D", NOW_US - DAY_US),
        ("now+1h", NOW_US + 3600 * S),
    ],
)
def test_times_absolute_and_relative(text: str, expected: int) -> None:
    assert parse_time_us(text, NOW_US, "start") == expected


def test_range_defaults_and_refusals() -> None:
    assert parse_range(None, None, NOW_US) == TimeRange(NOW_US - DAY_US, NOW_US)
    assert parse_range("-7d", None, NOW_US) == TimeRange(NOW_US - 7 * DAY_US, NOW_US)
    assert parse_range(None, "2024-01-02", NOW_US) == TimeRange(us(2024, 1, 1), us(2024, 1, 2))
    with pytest.raises(ApiError, match="is not before end"):
        parse_range("2024-01-02", "2024-01-01", NOW_US)
    with pytest.raises(ApiError, match="is not before end"):
        parse_range("now", "now", NOW_US)
    with pytest.raises(ApiError, match=r"^end: cannot read"):
        parse_range(None, "tomorrow", NOW_US)


def test_format_time_round_trips_and_names_utc() -> None:
    for time_us in (0, us(2024, 2, 29, 23, 59, 59), us(1999, 12, 31) + 1, -1_500_000):
        text = format_time(time_us)
        assert text.endswith("Z")
        assert parse_time_us(text, NOW_US, "t") == time_us
    assert format_time(us(2024, 1, 1)) == "2024-01-01T00:00:00Z"


def test_time_strings_match_format_time() -> None:
    times = [0, us(2024, 1, 1), us(2024, 1, 1) + 123_456, None, -1_500_000]
    assert time_strings(times) == [None if t is None else format_time(t) for t in times]


def test_buckets_bounds_origin_and_widening() -> None:
    hour = Bucket(width_us=3600 * S)
    assert parse_bucket("1h") == hour and parse_bucket("PT1M") == Bucket(width_us=60 * S)
    assert parse_bucket(None) is None and parse_bucket("") is None
    for bad in ("0s", "400d", "1.5s"):
        with pytest.raises(ApiError):
            parse_bucket(bad)
    # The origin is a Monday: weekly buckets start on Mondays.
    assert dt.datetime.fromtimestamp(BUCKET_ORIGIN_US / S, dt.UTC).weekday() == 0
    week = Bucket(width_us=7 * DAY_US)
    assert week.floor_us(us(2024, 6, 15, 12)) == us(2024, 6, 10)  # Saturday → Monday
    assert hour.floor_us(us(1990, 1, 3, 5)) == us(1990, 1, 3, 5)  # before the origin too
    span = widen_to_buckets(
        TimeRange(us(2024, 1, 1, 7, 20), us(2024, 1, 1, 13)), Bucket(width_us=6 * 3600 * S)
    )
    assert span == TimeRange(us(2024, 1, 1, 6), us(2024, 1, 1, 18))
    exact = TimeRange(us(2024, 1, 1), us(2024, 1, 2))
    assert widen_to_buckets(exact, hour) == exact


@pytest.mark.parametrize(
    ("text", "months"),
    [
        ("1mo", 1), ("3mo", 3), ("3 mo", 3), ("6months", 6), ("1 month", 1), ("1MO", 1), ("1y", 12),
        ("2years", 24), ("1 yr", 12), ("10y", 120), ("120mo", 120), ("P3M", 3), ("p1y", 12), ("P1Y6M", 18),
    ],
)  # fmt: skip
def test_calendar_bucket_spellings(text: str, months: int) -> None:
    assert parse_bucket(text) == Bucket(months=months)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("1m", "ambiguous; write 1min for minutes or 1mo for months"),
        ("15M", "ambiguous"),
        ("0mo", "outside 1 month … 10 years"),
        ("121mo", "outside 1 month … 10 years"),
        ("11y", "outside 1 month … 10 years"),
        ("P0M", "outside 1 month"),
        ("1.5mo", "whole months or years"),
        ("0.5y", "whole months or years"),
        ("P1M1D", "mixes calendar months or years with days or hours"),
        ("P1YT1H", "mixes calendar"),
        ("-1mo", "bucket: cannot read"),
        ("1 quarter", "bucket: cannot read"),
    ],
)
def test_bad_calendar_buckets_are_refused_clearly(text: str, words: str) -> None:
    with pytest.raises(ApiError, match=r"^bucket: ") as refused:
        parse_bucket(text)
    assert words in refused.value.message


@pytest.mark.parametrize(
    ("months", "time", "start", "after"),
    [
        (1, us(2024, 1, 31, 23, 59, 59) + 999_999, us(2024, 1, 1), us(2024, 2, 1)),  # a month's last µs
        (1, us(2024, 2, 1), us(2024, 2, 1), us(2024, 3, 1)),  # a month's first µs
        (1, us(2024, 2, 29, 12), us(2024, 2, 1), us(2024, 3, 1)),  # leap day
        (1, us(2023, 2, 28, 23), us(2023, 2, 1), us(2023, 3, 1)),
        (1, us(2023, 12, 31, 23, 59, 59), us(2023, 12, 1), us(2024, 1, 1)),  # December → January
        (3, us(2024, 5, 15), us(2024, 4, 1), us(2024, 7, 1)),  # quarters: Jan, Apr, Jul, Oct
        (3, us(2024, 12, 31, 23), us(2024, 10, 1), us(2025, 1, 1)),
        (3, us(1999, 11, 15), us(1999, 10, 1), us(2000, 1, 1)),  # before the origin too
        (12, us(2024, 7, 1), us(2024, 1, 1), us(2025, 1, 1)),
        (12, us(1969, 12, 31, 23), us(1969, 1, 1), us(1970, 1, 1)),  # before the epoch
        (60, us(2024, 6, 1), us(2020, 1, 1), us(2025, 1, 1)),  # five years from 2000
        (60, us(1999, 6, 1), us(1995, 1, 1), us(2000, 1, 1)),
        (7, us(2000, 8, 1), us(2000, 8, 1), us(2001, 3, 1)),
    ],
)
def test_calendar_floor_and_next(months: int, time: int, start: int, after: int) -> None:
    bucket = Bucket(months=months)
    assert bucket.calendar and bucket.floor_us(time) == start and bucket.next_us(start) == after


@pytest.mark.parametrize("months", [1, 2, 3, 5, 12, 120])
def test_calendar_floor_matches_numpy_months(months: int) -> None:
    rng = np.random.default_rng(months)
    times = rng.integers(-2 * 10**15, 4 * 10**15, 2000)  # 1906 … 2096
    month = times.astype("datetime64[us]").astype("datetime64[M]")
    since = (month - np.datetime64("2000-01", "M")).astype(np.int64)
    want = (
        (np.datetime64("2000-01", "M") + since // months * months).astype("datetime64[us]").astype(np.int64)
    )
    assert [Bucket(months=months).floor_us(int(t)) for t in times] == want.tolist()


def test_calendar_widening_covers_whole_months() -> None:
    month, quarter, year = Bucket(months=1), Bucket(months=3), Bucket(months=12)
    assert widen_to_buckets(TimeRange(us(2024, 1, 15), us(2024, 2, 10)), month) == TimeRange(
        us(2024, 1, 1), us(2024, 3, 1)
    )
    exact = TimeRange(us(2023, 12, 1), us(2024, 3, 1))
    assert widen_to_buckets(exact, month) == exact
    assert widen_to_buckets(TimeRange(us(2023, 11, 20), us(2024, 1, 1)), quarter) == TimeRange(
        us(2023, 10, 1), us(2024, 1, 1)
    )
    # A bucket longer than the range: the range grows to the whole bucket (meta says so).
    assert widen_to_buckets(TimeRange(us(2024, 6, 1), us(2024, 6, 2)), year) == TimeRange(
        us(2024, 1, 1), us(2025, 1, 1)
    )
    with pytest.raises(ApiError, match="years 1 … 9999"):
        widen_to_buckets(TimeRange(us(9999, 12, 5), us(9999, 12, 6)), month)


def test_aggregates_and_percentile_names() -> None:
    assert parse_aggregates(None) == (("mean", "min", "max", "count"), ())
    assert parse_aggregates("p90,max,median,mean,p90,p99.9") == (("mean", "max", "median"), (0.9, 0.999))
    assert parse_aggregates("std,count") == (("std", "count"), ())
    assert [percentile_name(q) for q in (0.9, 0.5, 0.999, 0.0, 1.0, 0.05)] == [
        "p90", "p50", "p99.9", "p0", "p100", "p5",
    ]  # fmt: skip
    for bad in ("mode", "p101", "p-5", "mean;drop", ","):
        with pytest.raises(ApiError, match=r"^agg: "):
            parse_aggregates(bad)


def test_qc_sets_names_and_numbers() -> None:
    assert parse_qc(None, "usable") == (1, 2)
    assert parse_qc("good", "all") == (1,)
    assert parse_qc("Suspect, FAIL", "all") == (3, 4)
    assert parse_qc("1,9,good", "all") == (1, 9)
    assert parse_qc("not_failed", "all") == (1, 2, 3)
    for bad in ("5", "great", "1;DROP"):
        with pytest.raises(ApiError, match=r"^qc: "):
            parse_qc(bad, "all")


def test_cursor_round_trip_and_refusals() -> None:
    key = ("dalian", "water_level_m", us(2024, 1, 1))
    assert decode_cursor(encode_cursor(key), (str, str, int)) == key
    assert decode_cursor(None, (str, str, int)) is None
    for bad in ("!!!", encode_cursor(("a", "b")), encode_cursor(("a", "b", "c")), encode_cursor((1, "b", 2))):
        with pytest.raises(ApiError, match=r"^after: "):
            decode_cursor(bad, (str, str, int))


ATTACK = "x'); DROP TABLE observations; --"


def test_user_values_only_ever_become_bind_arguments() -> None:
    span = TimeRange(us(2024, 1, 1), us(2024, 1, 2))
    query = SeriesQuery(
        stations=[ATTACK], series=[ATTACK], span=span, flags=(1, 2), after=(ATTACK, ATTACK, 5), limit=10,
        bucket=Bucket(width_us=3600 * S), aggregates=("mean", "count"), percentiles=(0.5,),
    )  # fmt: skip
    monthly = dataclasses.replace(query, bucket=Bucket(months=3), percentiles=())
    statements = [
        raw_series_sql(OBSERVATIONS, query),
        raw_series_sql(INDICATORS, query),
        bucket_series_sql(OBSERVATIONS, query, "date_bin"),
        bucket_series_sql(OBSERVATIONS, query, "time_bucket"),
        bucket_series_sql(OBSERVATIONS, monthly, "calendar_months"),
        bucket_series_sql(INDICATORS, monthly, "time_bucket"),
        bucket_series_sql(OBSERVATIONS, monthly, "hourly_rollup"),
        alerts_sql(AlertQuery([ATTACK], span, rules=[ATTACK], after=(5, ATTACK), limit=3)),
    ]
    for sql, args in statements:
        assert "DROP" not in sql and ATTACK in str(args)
        placeholders = sorted({int(p) for p in re.findall(r"\$(\d+)::", sql)})
        assert placeholders == list(range(1, len(args) + 1))


def test_bucket_method_uses_the_rollup_only_where_exact() -> None:
    hourly = SeriesQuery(None, None, TimeRange(0, DAY_US), bucket=Bucket(3 * 3600 * S), aggregates=("mean",))
    assert bucket_method(OBSERVATIONS, hourly, timescaledb=True, rollup=True) == "hourly_rollup"
    assert bucket_method(OBSERVATIONS, hourly, timescaledb=True, rollup=False) == "time_bucket"
    assert bucket_method(OBSERVATIONS, hourly, timescaledb=False, rollup=False) == "date_bin"
    assert bucket_method(INDICATORS, hourly, timescaledb=True, rollup=True) == "time_bucket"
    ten_minutes = SeriesQuery(None, None, TimeRange(0, DAY_US), bucket=Bucket(600 * S), aggregates=("mean",))
    assert bucket_method(OBSERVATIONS, ten_minutes, timescaledb=True, rollup=True) == "time_bucket"
    median = SeriesQuery(None, None, TimeRange(0, DAY_US), bucket=Bucket(3600 * S), percentiles=(0.5,))
    assert bucket_method(OBSERVATIONS, median, timescaledb=True, rollup=True) == "time_bucket"
    with pytest.raises(AssertionError):
        bucket_series_sql(OBSERVATIONS, median, "hourly_rollup")


def test_calendar_buckets_choose_month_sql_and_the_rollup_where_exact() -> None:
    span = TimeRange(us(2023, 10, 1), us(2024, 4, 1))
    quarterly = SeriesQuery(None, None, span, bucket=Bucket(months=3), aggregates=("mean",))
    assert bucket_method(OBSERVATIONS, quarterly, timescaledb=False, rollup=False) == "calendar_months"
    assert bucket_method(OBSERVATIONS, quarterly, timescaledb=True, rollup=False) == "time_bucket"
    assert bucket_method(OBSERVATIONS, quarterly, timescaledb=True, rollup=True) == "hourly_rollup"
    assert bucket_method(INDICATORS, quarterly, timescaledb=True, rollup=True) == "time_bucket"
    with_p90 = dataclasses.replace(quarterly, percentiles=(0.9,))
    assert bucket_method(OBSERVATIONS, with_p90, timescaledb=True, rollup=True) == "time_bucket"
    sql, args = bucket_series_sql(OBSERVATIONS, quarterly, "calendar_months")
    assert "AT TIME ZONE 'UTC'" in sql and "date_bin" not in sql and 3 in args
    sql, _ = bucket_series_sql(OBSERVATIONS, quarterly, "time_bucket")
    assert "time_bucket(make_interval(months => $2::integer), time, $1::timestamptz)" in sql
    # A month bucket never goes through date_bin, and a fixed width never through month arithmetic.
    with pytest.raises(AssertionError):
        bucket_series_sql(OBSERVATIONS, quarterly, "date_bin")
    with pytest.raises(AssertionError):
        bucket_series_sql(
            OBSERVATIONS, dataclasses.replace(quarterly, bucket=Bucket(3600 * S)), "calendar_months"
        )


COLUMNS = (Column("time", "time"), Column("v", "float"), Column("tags", "text_list"), Column("j", "json"))


def test_encoders_agree_and_parquet_streams_row_groups() -> None:
    rng = np.random.default_rng(1)
    chunks = [
        Chunk(COLUMNS, [[us(2024, 1, 1) + k * S for k in range(n)], rng.normal(size=n).tolist(),
                        [["a", "b"]] * n, [{"k": k} for k in range(n)]])
        for n in (3, 5)
    ]  # fmt: skip
    stream = ParquetStream(COLUMNS)
    body = b"".join([*(stream.write(c) for c in chunks), stream.close()])
    parquet = pq.ParquetFile(io.BytesIO(body))
    assert parquet.num_row_groups == 2
    table = parquet.read()
    assert table.column("v").to_pylist() == chunks[0].values[1] + chunks[1].values[1]
    records = to_records(chunks[0])
    assert records[1]["time"] == "2024-01-01T00:00:01Z" and records[1]["tags"] == ["a", "b"]
    assert to_csv(chunks[0]).splitlines()[0].endswith(',a;b,"{""k"":0}"')
