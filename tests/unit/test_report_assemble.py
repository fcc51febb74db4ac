"""Pure assembly of the annual report from numpy rows: anomalies, trend via the sea-level module, warnings,
QC shares, missing data said, bad years refused; rendering is deterministic for the same inputs."""

from __future__ import annotations

import datetime as dt
import re

import numpy as np
import pytest

from services.report.assemble import (
    AlertRow,
    MonthlyMsl,
    ReportError,
    ReportInputs,
    StationInfo,
    assemble,
    deseasoned_monthly,
    hazard_row,
)
from services.report.base import date_us
from services.report.render import figure_png, to_html
from streams.indicators.sealevel import catalogue as sl
from streams.indicators.sealevel.trend import sea_level_trend

GAUGE = StationInfo("g1", "Gauge", "验潮站", "tide_gauge", "bay")
EMPTY_GAUGE = StationInfo("g2", "Quiet gauge", "静默站", "tide_gauge", "bay")
BUOY = StationInfo("b1", "Buoy", "浮标", "buoy", "bay")


def _month_starts(first_year: int, last_year: int) -> np.ndarray:
    months = np.arange(f"{first_year}-01", f"{last_year + 1}-01", dtype="datetime64[M]")
    return months.astype("datetime64[us]").astype(np.int64)


def _inputs(msl: MonthlyMsl, alerts: list[AlertRow] | None = None, year: int = 2012) -> ReportInputs:
    return ReportInputs(
        year=year,
        scope="area bay",
        stations=[GAUGE, EMPTY_GAUGE, BUOY],
        msl={"g1": msl},
        alerts=alerts or [],
        qc_counts=[("g1", "water_level_m", 1, 90), ("g1", "water_level_m", 4, 10)],
        dead_letters={"wrong_unit": 2},
        as_of_us=None,
        generated_at="2013-01-01T00:00:00Z",
        config_versions={"tidewatch": "test"},
        baseline_years=(2000, 2009),
    )


@pytest.fixture
def msl() -> MonthlyMsl:
    rng = np.random.default_rng(3)
    starts = _month_starts(2000, 2012)
    months = np.arange(starts.size)
    level = (
        1.5 + 0.003 * months / 12 + 0.1 * np.cos(2 * np.pi * months / 12) + rng.normal(0, 0.01, starts.size)
    )
    return MonthlyMsl(starts, level, np.full(starts.size, 100.0))


def test_sea_level_row_against_direct_numbers(msl: MonthlyMsl) -> None:
    report = assemble(_inputs(msl))
    (row,) = report.sea_level
    years = msl.month_start_us.astype("datetime64[us]").astype("datetime64[Y]").astype(int) + 1970
    assert row.annual_mean_m == pytest.approx(msl.msl_m[years == 2012].mean())
    assert row.anomaly_vs_baseline_mm == pytest.approx(
        (msl.msl_m[years == 2012].mean() - msl.msl_m[(years >= 2000) & (years <= 2009)].mean()) * 1000
    )
    expected = sea_level_trend(msl.month_start_us, msl.msl_m, msl.completeness_pct)
    assert row.trend == expected
    assert row.trend is not None and row.trend.ci_low_mm_yr < 3.0 < row.trend.ci_high_mm_yr


def test_missing_data_is_named_and_alerts_counted(msl: MonthlyMsl) -> None:
    alerts = [
        AlertRow("g1", "water_level_warning", "orange", 0, 6 * 60_000_000),
        AlertRow("g1", "water_level_warning", "orange", 0, 2 * 60_000_000),
        AlertRow("g1", "water_level_warning", "blue", 0, None),
    ]
    report = assemble(_inputs(msl, alerts))
    assert report.stations_without_sea_level == [EMPTY_GAUGE]  # the buoy is not a tide gauge: not listed
    assert report.warnings_by_level == {"blue": 1, "yellow": 0, "orange": 2, "red": 0}
    assert report.median_ack_minutes["orange"] == pytest.approx(4.0)
    assert report.median_ack_minutes["blue"] is None and report.unacknowledged == 1
    assert report.qc_table == [("g1", "water_level_m", {"good": 90, "fail": 10}, 90.0)]
    page = to_html(report)
    assert "静默站" in page and "no monthly mean sea level" in page


def test_station_health_alerts_are_not_warnings_but_are_in_the_annex(msl: MonthlyMsl) -> None:
    minute = 60_000_000
    alerts = [
        AlertRow("g1", "storm_surge_warning", "orange", 0, 10 * minute),
        AlertRow("g1", "battery_low", "red", 0, None),
        AlertRow("g1", "station_silent", "yellow", 0, 3 * minute),
        AlertRow("g1", "station_silent", "yellow", 0, 5 * minute),
    ]
    report = assemble(_inputs(msl, alerts))
    assert report.warnings_by_level == {"blue": 0, "yellow": 0, "orange": 1, "red": 0}
    assert report.unacknowledged == 0 and report.median_ack_minutes["orange"] == pytest.approx(10.0)
    rows = {r.rule: r for r in report.alert_rules}
    assert [r.rule for r in report.alert_rules] == ["storm_surge_warning", "battery_low", "station_silent"]
    assert not rows["storm_surge_warning"].station_health and rows["battery_low"].station_health
    assert rows["station_silent"].by_level["yellow"] == 2 and rows["station_silent"].total == 2
    assert rows["station_silent"].median_ack_minutes["yellow"] == pytest.approx(4.0)
    assert rows["battery_low"].unacknowledged == 1
    page = to_html(report)
    assert "Alerts and time to acknowledge" in page and "battery_low" in page


def test_previous_year_anomaly_is_month_matched_and_needs_a_covered_previous_year() -> None:
    starts = _month_starts(2011, 2012)
    month = np.arange(24) % 12
    level = 1.5 + 0.2 * np.cos(2 * np.pi * month / 12) + np.where(np.arange(24) >= 12, 0.03, 0.0)
    level[12 + 3] = np.nan  # April 2012 missing: compared month by month, the cycle does not leak in
    row = assemble(_inputs(MonthlyMsl(starts, level, np.full(24, 100.0)))).sea_level[0]
    assert row.anomaly_vs_previous_mm == pytest.approx(30.0)
    only_december = np.where(np.arange(24) >= 11, level, np.nan)  # 2011: December alone
    row = assemble(_inputs(MonthlyMsl(starts, only_december, np.full(24, 100.0)))).sea_level[0]
    assert row.anomaly_vs_previous_mm is None and row.previous_year_mean_m == pytest.approx(level[11])


def test_short_record_has_no_trend_and_says_so() -> None:
    starts = _month_starts(2012, 2012)
    report = assemble(_inputs(MonthlyMsl(starts, np.full(12, 1.0), np.full(12, 100.0))))
    assert report.sea_level[0].trend is None and report.sea_level[0].anomaly_vs_baseline_mm is None
    assert "record too short" in to_html(report)


@pytest.mark.parametrize("year", [1989, 2101])
def test_bad_year_is_refused(msl: MonthlyMsl, year: int) -> None:
    with pytest.raises(ReportError, match="year"):
        assemble(_inputs(msl, year=year))


def test_deseasoned_series_removes_the_calendar_month_cycle(msl: MonthlyMsl) -> None:
    _, deseasoned, cycle = deseasoned_monthly(msl)
    assert np.nanmean(cycle) == pytest.approx(0.0, abs=1e-12)
    months = np.arange(msl.msl_m.size) % 12
    assert np.std([deseasoned[months == m].mean() for m in range(12)]) < 0.005 < np.std(cycle)


def test_figure_and_page_are_byte_identical_for_the_same_inputs(msl: MonthlyMsl) -> None:
    assert figure_png(msl, 3.0, "验潮站") == figure_png(msl, 3.0, "验潮站")
    assert to_html(assemble(_inputs(msl))) == to_html(assemble(_inputs(msl)))
    assert dt.datetime.now(dt.UTC).strftime("%Y-%m-%d") not in to_html(assemble(_inputs(msl)))


def test_hazard_levels_count_high_waters_and_days_at_or_above(msl: MonthlyMsl) -> None:
    day, y0 = 86_400_000_000, date_us(2012, 1, 1)
    t = y0 + np.array([0, day // 2, day + 5, 3 * day, 3 * day + 1], dtype=np.int64)  # days 0, 0, 1, 3, 3
    levels = np.array([1.0, 3.0, 2.0, 0.0, 4.0])
    surge_t = y0 + np.array([5, 9 * day], dtype=np.int64)
    # the previous year's rows are held for the scorecard but are not this year's hazards
    inputs_prev = (y0 - np.array([day]), np.array([4.0]))
    inputs = _inputs(msl)
    inputs.series[("g1", sl.WATER_LEVEL_WARNING)] = (np.r_[inputs_prev[0], t], np.r_[inputs_prev[1], levels])
    inputs.series[("g1", sl.SURGE_MAX_CYCLE)] = (surge_t, np.array([0.4, 1.25]))
    inputs.wave_daily_max_m["b1"] = (np.arange(3) * day, np.array([3.9, 4.0, 5.5]))
    row = hazard_row(GAUGE, inputs)
    assert row.high_waters_at_level == {"blue": 4, "yellow": 3, "orange": 2, "red": 1}
    assert row.days_at_level == {"blue": 3, "yellow": 3, "orange": 2, "red": 1}
    assert row.max_surge_m == ("2012-01-10T00:00Z", 1.25)
    assert row.wave_days_ge_4m is None and row.wave_days_at_level is None  # a gauge has no waves: said
    assert hazard_row(BUOY, inputs).wave_days_ge_4m == 2
    report = assemble(inputs)
    assert [h.station for h in report.hazards] == [GAUGE, EMPTY_GAUGE, BUOY]
    assert report.hazards[1].max_surge_m is None and "no data" in to_html(report)
    rows = re.findall(r"<tr><td>验潮站 Gauge</td>(.*?)</tr>", to_html(report))
    (cells,) = [c for c in (re.findall(r"<td>(.*?)</td>", r) for r in rows) if c[0].startswith("1.250 (")]
    assert cells[3:] == ["不监测 / not measured"] * 2  # a gauge measures no waves: said, not "no data"
