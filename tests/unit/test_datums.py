"""Datum conversion (schemas/datums.py) on generated numpy data, the registry's levellings, and the report's
sea-level trend across a re-levelling."""

from __future__ import annotations

import copy
import dataclasses
import datetime as dt

import numpy as np
import pytest
import yaml

from schemas.datums import (
    CHART,
    END_OF_TIME_US,
    NATIONAL_1985,
    STATION,
    DatumError,
    consistent_levels,
    convert_levels,
    levellings_document,
    parse_levellings,
)
from schemas.registry import RegistryError, default_registry_path, load_registry, parse_registry
from services.report.assemble import MonthlyMsl, on_one_zero, sea_level_row
from services.report.base import StationInfo

DAY_US = 86_400_000_000


def us(year: int, month: int = 1, day: int = 1) -> int:
    return int(dt.datetime(year, month, day, tzinfo=dt.UTC).timestamp()) * 1_000_000


# The station zero: 1.905 m below the national datum until a re-levelling on 2019-04-16 finds it 24 mm
# lower; chart datum known only from 2000, and not after the re-levelling.
HISTORY = parse_levellings(
    [
        {"from": "1995-01-01", "zero_above_national_1985_m": -1.905},
        {"from": dt.date(2000, 1, 1), "zero_above_national_1985_m": -1.905, "zero_above_chart_m": 0.11},
        {"from": "2019-04-16", "zero_above_national_1985_m": -1.929},
    ],
    ValueError,
)


def test_offsets_follow_the_levelling_valid_at_each_reading() -> None:
    rng = np.random.default_rng(3)
    times = np.sort(rng.integers(us(1990), us(2025), 5_000))
    values = 2.0 + rng.normal(0, 0.5, times.size)
    national = convert_levels(values, times, HISTORY, NATIONAL_1985)
    expected = np.where(times < us(2019, 4, 16), values - 1.905, values - 1.929)
    expected[times < us(1995)] = np.nan
    np.testing.assert_array_equal(np.isnan(national), np.isnan(expected))
    np.testing.assert_allclose(national[~np.isnan(expected)], expected[~np.isnan(expected)], atol=1e-12)
    chart = convert_levels(values, times, HISTORY, CHART)
    has_chart = (times >= us(2000)) & (times < us(2019, 4, 16))
    np.testing.assert_allclose(chart[has_chart], values[has_chart] + 0.11, atol=1e-12)
    assert np.isnan(chart[~has_chart]).all()
    np.testing.assert_array_equal(convert_levels(values, times, HISTORY, STATION), values)


def test_segments_edges_and_gaps() -> None:
    last = us(2019, 4, 16)
    assert convert_levels(np.zeros(2), np.array([last - 1, last]), HISTORY, NATIONAL_1985).tolist() == [
        -1.905,
        -1.929,
    ]
    assert [(s.start_us, s.end_us, s.offset_m) for s in HISTORY.segments(CHART)] == [(us(2000), last, 0.11)]
    assert HISTORY.uncovered(CHART, us(1999), us(2020)) == [(us(1999), us(2000)), (last, us(2020))]
    assert HISTORY.uncovered(NATIONAL_1985, us(1996), us(2030)) == []
    assert HISTORY.segments(NATIONAL_1985)[-1].end_us == END_OF_TIME_US
    assert HISTORY.datums() == (STATION, NATIONAL_1985, CHART)
    with pytest.raises(DatumError, match="unknown datum 'msl'"):
        HISTORY.segments("msl")


def test_month_spanning_a_relevelling_takes_the_day_weighted_offset() -> None:
    april, may = us(2019, 4), us(2019, 5)
    mean = HISTORY.mean_offsets_m(NATIONAL_1985, np.array([april]), np.array([may]))[0]
    assert mean == pytest.approx((15 * -1.905 + 15 * -1.929) / 30, abs=1e-12)  # 15 days each side
    partly = HISTORY.mean_offsets_m(CHART, np.array([april]), np.array([may]))
    assert np.isnan(partly).all()  # half of April has no chart offset


def test_levellings_round_trip_and_refusals() -> None:
    assert parse_levellings(levellings_document(HISTORY), ValueError) == HISTORY
    assert parse_levellings(None, ValueError).datums() == (STATION,)
    bad = [
        ([{"from": "2019-4-16"}], r"levellings\[0\].from: expected .*date.* \(a UTC date such as"),
        ([{"from": "2019-04-16", "zero_above_msl_m": 1.0}], r"levellings\[0\].zero_above_msl_m: unknown"),
        (
            [{"from": "2019-04-16"}, {"from": "2010-01-01"}],
            r"levellings\[1\]: 'from' 2010-01-01 is not after",
        ),
        ([{"from": "2019-04-16", "zero_above_chart_m": 1e9}], r"levellings\[0\]: .* within 100 m"),
        ([{"zero_above_chart_m": 0.1}], r"levellings\[0\].from: "),
    ]
    for entries, message in bad:
        with pytest.raises(ValueError, match=message):
            parse_levellings(entries, ValueError)


def test_shipped_tide_gauges_have_national_and_chart_datums() -> None:
    registry = load_registry()
    gauges = [s for s in registry.stations.values() if s.kind == "tide_gauge"]
    assert len(gauges) == 7
    for station in gauges:
        assert station.datum.history.datums() == (STATION, NATIONAL_1985, CHART), station.id
        assert station.datum.history.uncovered(NATIONAL_1985, us(1990), us(2100)) == []
    assert len(registry.get("yingkou").datum.history.levellings) == 2  # a re-levelling to show


def test_registry_error_names_station_and_levelling() -> None:
    document = yaml.safe_load(default_registry_path().read_text(encoding="utf-8"))
    broken = copy.deepcopy(document)
    yingkou = next(s for s in broken["stations"] if s["id"] == "yingkou")
    yingkou["datum"]["levellings"][1]["from"] = "soon"
    with pytest.raises(RegistryError, match=r"station 'yingkou' datum levellings\[1\].from: expected"):
        parse_registry(broken)


def _monthly(start_year: int, years: int, rise_mm_yr: float, relevel_us: int, step_m: float) -> MonthlyMsl:
    """Monthly MSL with a known rise and seasonal cycle, stored above the zero in force: after the
    re-levelling the zero is ``step_m`` lower, so stored levels jump up by it."""
    starts = np.array([us(start_year + m // 12, m % 12 + 1) for m in range(12 * years)], dtype=np.int64)
    t_years = (starts - starts[0]) / (365.25 * DAY_US)
    rng = np.random.default_rng(5)
    msl = (
        2.0
        + rise_mm_yr / 1000 * t_years
        + 0.1 * np.sin(2 * np.pi * t_years)
        + rng.normal(0, 0.01, starts.size)
    )
    stored = msl + np.where(starts >= relevel_us, step_m, 0.0)
    return MonthlyMsl(starts, stored, np.full(starts.size, 100.0))


# A gauge whose zero a re-levelling on 2019-01-01 found 50 mm lower: stored levels jump up by 50 mm.
RELEVELLED_GAUGE = StationInfo(
    "g", "Gauge", "验潮站", "tide_gauge", "bay",
    levellings=parse_levellings(
        [{"from": "1990-01-01", "zero_above_national_1985_m": -1.90},
         {"from": "2019-01-01", "zero_above_national_1985_m": -1.95}],
        ValueError,
    ),
)  # fmt: skip


def test_report_trend_is_consistent_across_a_relevelling() -> None:
    relevel = us(2019, 1)
    msl = _monthly(2010, 16, 4.0, relevel, 0.05)
    gauge = RELEVELLED_GAUGE
    naive = sea_level_row(gauge, msl, 2025, (2010, 2014))
    shifted, zero = on_one_zero(gauge, msl, 2025)
    row = sea_level_row(gauge, shifted, 2025, (2010, 2014))
    assert naive.trend is not None and row.trend is not None
    assert naive.trend.slope_mm_yr > 7.0  # the 50 mm step read as a rise
    assert abs(row.trend.slope_mm_yr - 4.0) < 0.5  # 10 mm monthly noise: ~0.15 mm/yr standard error
    assert not naive.trend.ci_low_mm_yr <= 4.0 <= naive.trend.ci_high_mm_yr
    assert zero.via == NATIONAL_1985 and zero.relevellings == (("2019-01-01", 50.0),)
    assert zero.at == "2025-12-31"
    # the year's own levels are as stored (the zero in force then); the months before moved up by 50 mm
    np.testing.assert_allclose(
        shifted.msl_m[msl.month_start_us >= relevel], msl.msl_m[msl.month_start_us >= relevel]
    )
    np.testing.assert_allclose(
        shifted.msl_m[msl.month_start_us < relevel] - msl.msl_m[msl.month_start_us < relevel], 0.05
    )
    # the anomaly against a baseline before the re-levelling is no longer 50 mm too high
    assert naive.anomaly_vs_baseline_mm - row.anomaly_vs_baseline_mm == pytest.approx(50.0, abs=1e-6)


def test_report_without_levellings_keeps_levels_as_stored() -> None:
    msl = _monthly(2020, 3, 4.0, us(2100), 0.0)
    gauge = StationInfo("g", "Gauge", "验潮站", "tide_gauge", "bay")
    shifted, zero = on_one_zero(gauge, msl, 2022)
    np.testing.assert_array_equal(shifted.msl_m, msl.msl_m)
    assert zero.via is None and zero.relevellings == ()
    levels, via = consistent_levels(msl.msl_m, msl.month_start_us, HISTORY, us(1990))
    assert via is None and np.array_equal(levels, msl.msl_m)  # no offset known at 1990


def test_a_datum_shift_never_reads_the_hourly_rollup() -> None:
    """The rollup holds sums of stored values; a shift applies per reading, so buckets use raw rows."""
    from services.api.params import Bucket, TimeRange
    from services.api.sql import OBSERVATIONS, DatumShift, SeriesQuery, bucket_method, bucket_series_sql

    hour = 3_600_000_000
    query = SeriesQuery(["g"], ["water_level_m"], TimeRange(0, 24 * hour), bucket=Bucket(width_us=hour),
                        aggregates=("mean",))  # fmt: skip
    assert bucket_method(OBSERVATIONS, query, True, True) == "hourly_rollup"
    shift = DatumShift(NATIONAL_1985, ("water_level_m",), {"g": HISTORY.segments(NATIONAL_1985)})
    shifted = SeriesQuery(**{**{f: getattr(query, f) for f in query.__slots__}, "datum": shift})
    assert bucket_method(OBSERVATIONS, shifted, True, True) == "time_bucket"
    sql, args = bucket_series_sql(OBSERVATIONS, shifted, "time_bucket")
    assert "o.value + d.offset_m" in sql and [-1.905, -1.905, -1.929] in args


def test_the_report_page_names_the_relevelling_and_its_shift() -> None:
    from services.report.assemble import ReportInputs, assemble
    from services.report.render import to_html

    gauge = RELEVELLED_GAUGE
    msl = _monthly(2010, 16, 4.0, us(2019, 1), 0.05)
    inputs = ReportInputs(
        year=2025, scope="station g", stations=[gauge], msl={"g": msl}, alerts=[], qc_counts=[],
        dead_letters={}, as_of_us=None, generated_at="2026-01-01T00:00:00Z", config_versions={},
        lang="en",
    )  # fmt: skip
    report = assemble(inputs)
    assert report.sea_level[0].zero is not None and report.inputs.msl["g"].msl_m[0] == msl.msl_m[0] + 0.05
    page = to_html(report)
    assert "above the station zero in force on 2025-12-31" in page and "2019-01-01: +50.0 mm" in page
    assert "through the China 1985 National Height Datum" in page and "1985国家高程基准" not in page
    chinese = to_html(assemble(dataclasses.replace(inputs, lang="zh")))
    assert "重新水准测量前的月份经1985国家高程基准换算" in chinese
