"""Mean-sea-level anomaly against a configurable baseline: month by month against the baseline's mean of
each calendar month, so a baseline missing some winters or a year of six months is not biased by the
seasonal cycle; given only where the baseline is covered; the period comes from the report settings
or the command line."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from services.report.assemble import MonthlyMsl, ReportError, StationInfo, baseline_months, sea_level_row
from services.report.cli import add_parser
from services.report.settings import load_settings

GAUGE = StationInfo("g1", "Gauge", "验潮站", "tide_gauge", "bay")
RISE_M = 0.030  # the assessed year stands 30 mm above the baseline


def _msl(first_year: int, last_year: int, *, drop_winters_until: int | None = None) -> MonthlyMsl:
    """Monthly MSL with a 0.25 m seasonal cycle (high in August), flat 1.80 m, +30 mm from 2012."""
    months = np.arange(f"{first_year}-01", f"{last_year + 1}-01", dtype="datetime64[M]")
    calendar = months.astype(np.int64) % 12
    years = months.astype("datetime64[Y]").astype(np.int64) + 1970
    level = 1.80 + 0.25 * np.cos(2 * np.pi * (calendar - 7) / 12) + np.where(years >= 2012, RISE_M, 0.0)
    if drop_winters_until is not None:
        winter = np.isin(calendar, (11, 0, 1)) & (years <= drop_winters_until)
        level = np.where(winter, np.nan, level)
    return MonthlyMsl(months.astype("datetime64[us]").astype(np.int64), level, np.full(months.size, 100.0))


def test_a_baseline_missing_winters_gives_the_true_anomaly_where_a_plain_mean_would_not():
    msl = _msl(2000, 2012, drop_winters_until=2002)  # 9 of 120 baseline months missing, all winter
    row = sea_level_row(GAUGE, msl, 2012, (2000, 2009))
    assert row.baseline_coverage_pct == pytest.approx(100 * 111 / 120)
    assert row.anomaly_vs_baseline_mm == pytest.approx(RISE_M * 1000, abs=1e-9)
    years = msl.month_start_us.astype("datetime64[us]").astype("datetime64[Y]").astype(int) + 1970
    base = (years <= 2009) & np.isfinite(msl.msl_m)
    plain = (np.nanmean(msl.msl_m[years == 2012]) - msl.msl_m[base].mean()) * 1000
    assert abs(plain - RISE_M * 1000) > 5  # winters missing read as a higher baseline
    climatology, _ = baseline_months(msl, (2000, 2009))
    assert row.baseline_mean_m == pytest.approx(climatology.mean()) == pytest.approx(1.80)


def test_a_year_of_six_months_is_compared_month_by_month():
    msl = _msl(2000, 2012)
    half = MonthlyMsl(msl.month_start_us[:-6], msl.msl_m[:-6], msl.completeness_pct[:-6])  # Jan-Jun 2012
    row = sea_level_row(GAUGE, half, 2012, (2000, 2009))
    assert row.months_in_year == 6
    assert row.anomaly_vs_baseline_mm == pytest.approx(RISE_M * 1000, abs=1e-9)


def test_a_baseline_the_station_does_not_cover_gives_no_anomaly_and_says_how_much_it_has():
    msl = _msl(2007, 2012)  # 3 of the 10 baseline years
    row = sea_level_row(GAUGE, msl, 2012, (2000, 2009), min_coverage_pct=80.0)
    assert row.baseline_coverage_pct == pytest.approx(30.0)
    assert row.anomaly_vs_baseline_mm is None and row.baseline_mean_m is None
    lenient = sea_level_row(GAUGE, msl, 2012, (2000, 2009), min_coverage_pct=25.0)
    assert lenient.anomaly_vs_baseline_mm == pytest.approx(RISE_M * 1000, abs=1e-9)


def test_baseline_from_settings_and_from_the_command_line(tmp_path: Path):
    default = load_settings()
    assert default.msl_baseline_years == (1993, 2011) and default.msl_baseline_min_coverage_pct == 80.0
    path = tmp_path / "report.yaml"
    path.write_text("sea_level:\n  baseline_years: [2001, 2020]\n  baseline_min_coverage_pct: 60\n")
    custom = load_settings(path)
    assert custom.msl_baseline_years == (2001, 2020) and custom.msl_baseline_min_coverage_pct == 60.0
    path.write_text("sea_level:\n  baseline_years: [2020, 2001]\n")
    with pytest.raises(ReportError, match="baseline_years"):
        load_settings(path)
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    args = parser.parse_args(["report", "--year", "2026", "--out", "x.html", "--baseline", "1993-2011"])
    assert args.baseline == (1993, 2011)
    with pytest.raises(SystemExit):
        parser.parse_args(["report", "--year", "2026", "--out", "x.html", "--baseline", "2011-1993"])
