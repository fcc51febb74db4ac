"""Pure parts of the report's newer sections, on numpy data built for each case: storm-surge episodes,
outages and availability, grading bands and their file, carbon verdict and uncertainty, marine rows
(not measured vs no data), language of the page."""

from __future__ import annotations

import re

import numpy as np
import pytest

from services.report.assemble import ReportInputs, assemble
from services.report.base import DAY_US, ReportError, StationInfo, date_us
from services.report.ecology import (
    CarbonBudget,
    carbon_row,
    carbon_verdict,
    gap_uncertainty_gC_m2,
    marine_row,
)
from services.report.episodes import HOUR_US, availability_pct, outages, surge_episodes
from services.report.render import to_html
from services.report.settings import Band, ReportSettings, load_settings
from streams.indicators.ecology import carbon, oxygen

CYCLE_US = int(12.42 * HOUR_US)
SETTINGS = ReportSettings(
    surge_threshold_m=0.5, surge_max_gap_h=26.0, outage_min_gap_s=3600, outage_min_intervals=3
)
BUOY = StationInfo("b1", "Buoy", "浮标", "buoy", "bay", ("dissolved_oxygen_mg_l", "ph_total"), 600.0)
FLUXES = ("co2_flux_umol_m2_s", "ch4_flux_nmol_m2_s")
MARSH = StationInfo("m1", "Marsh", "盐沼", "wetland", "bay", FLUXES, 1800.0, {"marsh_platform_m": 1.4})


def test_surge_episodes_join_cycles_within_the_gap_and_take_the_highest_warning() -> None:
    t0 = date_us(2026, 3, 1)
    surge_t = t0 + np.arange(30) * CYCLE_US
    surge = np.full(30, 0.2)
    surge[[3, 4, 6]] = [0.6, 0.9, 0.55]  # cycles 3, 4 and 6: one gap cycle (12.4 h) <= 26 h: one episode
    surge[20] = 0.7  # alone: a second episode
    warn_t = surge_t + 2 * HOUR_US
    warn = np.zeros(30)
    warn[4], warn[21] = 2.0, 3.0  # yellow inside the first; orange one cycle after the second: outside
    first, second = surge_episodes(surge_t, surge, warn_t, warn, SETTINGS)
    assert (first.start_us, first.end_us, first.cycles) == (surge_t[3], surge_t[6], 3)
    assert (first.peak_m, first.peak_us, first.highest_warning) == (0.9, surge_t[4], 2)
    assert (second.cycles, second.peak_m, second.highest_warning) == (1, 0.7, 0)
    assert surge_episodes(surge_t, np.full(30, 0.1), warn_t, warn, SETTINGS) == []


def test_outages_by_the_station_rule_and_the_span_edges() -> None:
    span = (date_us(2026, 1, 1), date_us(2026, 2, 1))
    first, last = span[0] + 600_000_000, span[1] - 2 * DAY_US
    gaps = [
        (span[0] + DAY_US, span[0] + DAY_US + 2 * HOUR_US),
        (span[0] + 5 * DAY_US, span[0] + 5 * DAY_US + 20 * 60_000_000),
    ]
    found = outages(gaps, first, last, span, 1800.0, SETTINGS)  # rule: max(1 h, 3 x 30 min) = 1.5 h
    assert [(o.start_us, o.end_us) for o in found] == [gaps[0], (last, span[1])]  # 20 min and 10 min: none
    assert found[1].hours == pytest.approx(48.0)
    assert [o.hours for o in outages([], None, None, span, 60.0, SETTINGS)] == [31 * 24]  # nothing stored
    assert availability_pct(31 * 24 * 3, span, 1200.0) == pytest.approx(100.0 * 2232 / 2232)
    assert availability_pct(100, span, 3600.0) == pytest.approx(100.0 * 100 / (31 * 24))
    assert availability_pct(10_000, span, 3600.0) == 100.0 and availability_pct(5, span, 0.0) is None


def test_grading_bands_first_match_and_the_file_is_checked(tmp_path) -> None:  # type: ignore[no-untyped-def]
    bands = {"x": (Band("good", max=0.0), Band("fair", min=0.0, max=10.0), Band("poor"))}
    s = ReportSettings(grading=bands)
    assert [s.grade("x", v) for v in (-1.0, 0.0, 5.0, 11.0)] == ["good", "good", "fair", "poor"]
    assert s.grade("x", None) is None and s.grade("unknown", 1.0) is None
    shipped = load_settings()
    assert shipped.grade("ph_mean", 8.1) == "good" and shipped.grade("ph_mean", 7.5) == "poor"
    assert len(shipped.sha256) == 16
    bad = tmp_path / "r.yaml"
    bad.write_text("grading:\n  x:\n    - {grade: excellent}\n")
    with pytest.raises(ReportError, match="excellent"):
        load_settings(bad)
    with pytest.raises(ReportError, match="report settings"):
        load_settings(tmp_path / "absent.yaml")


def _budget(net: float, coverage: float) -> CarbonBudget:
    return CarbonBudget("2026", net, 0.0, 0.0, net, 0.0, coverage)


def test_carbon_verdict_and_gap_uncertainty() -> None:
    assert carbon_verdict(_budget(-120.0, 80.0)) == "sink"
    assert carbon_verdict(_budget(30.0, 80.0)) == "source"
    assert carbon_verdict(_budget(-120.0, 40.0)) == "uncertain" and carbon_verdict(None) == "no data"
    assert gap_uncertainty_gC_m2(_budget(-120.0, 80.0)) == pytest.approx(30.0)
    assert gap_uncertainty_gC_m2(_budget(-120.0, 0.0)) is None


def test_carbon_row_reads_the_year_and_seasons_including_djf_of_december_before() -> None:
    y0 = date_us(2026, 1, 1)
    series = {}
    for period, keys in (("year", [y0]), ("season", [date_us(2025, 12, 1), date_us(2026, 3, 1)])):
        for k, name in enumerate(carbon.period_ids(period)):
            series[("m1", name)] = (np.array(keys, dtype=np.int64), np.full(len(keys), -10.0 - k))
    row = carbon_row(MARSH, series, 2026)
    assert row.year is not None and row.year.net_gC_m2 == -13.0 and row.year.coverage_pct == -17.0
    assert [s.label for s in row.seasons] == ["DJF", "MAM"]
    assert carbon_row(MARSH, series, 2025).year is None


def test_marine_row_tells_not_measured_from_no_data() -> None:
    day0 = date_us(2026, 1, 1)
    days = day0 + np.arange(3) * DAY_US
    series = {("b1", oxygen.HOURS_MEASURED): (days, np.full(3, 24.0)),
              ("b1", oxygen.HOURS_BELOW[3]): (days, np.array([0.0, 2.5, 1.0]))}  # fmt: skip
    row = marine_row(BUOY, series, 2026)
    assert row.parts == ("hypoxia", "ph")  # no temperature, chlorophyll or salinity at this station
    assert row.hypoxia is not None and row.hypoxia.hours_below[3] == 3.5 and row.hypoxia.episodes == 0
    assert row.hypoxia.hours_measured == 72.0 and row.ph_mean is None and row.has_data
    assert not marine_row(BUOY, {}, 2026).has_data


def _inputs(lang: str) -> ReportInputs:
    return ReportInputs(year=2026, scope="network", stations=[BUOY, MARSH], msl={}, alerts=[], qc_counts=[],
                        dead_letters={}, as_of_us=None, generated_at="2026-07-01T00:00:00Z",
                        config_versions={}, settings=load_settings(), lang=lang)  # fmt: skip


def test_english_page_has_no_chinese_and_the_running_year_is_assessed_up_to_the_stamp() -> None:
    zh, en = assemble(_inputs("zh")), assemble(_inputs("en"))
    assert zh.span_us == (date_us(2026, 1, 1), date_us(2026, 7, 1))
    assert [o.hours for o in zh.outages["b1"]] == [181 * 24]  # nothing stored: the whole span is out
    assert re.search("[\u4e00-\u9fff]", to_html(zh)) and not re.search("[\u4e00-\u9fff]", to_html(en))
    assert "nothing stored for 2026: Marsh" in to_html(en)


def test_scorecard_takes_no_baseline_from_a_stored_december_and_grades_only_a_covered_year() -> None:
    dec = date_us(2025, 12, 1) + np.arange(31) * DAY_US  # the previous year: December only
    half = date_us(2026, 1, 1) + np.arange(120) * DAY_US  # this year: 120 days
    series = {
        ("b1", oxygen.HOURS_MEASURED): (np.r_[dec, half], np.full(151, 24.0)),
        ("b1", oxygen.HOURS_BELOW[3]): (np.r_[dec, half], np.r_[np.full(31, 1.0), np.zeros(120)]),
    }
    inputs = ReportInputs(year=2026, scope="network", stations=[BUOY], msl={}, alerts=[], qc_counts=[],
                          dead_letters={}, as_of_us=None, generated_at="2027-01-01T00:00:00Z",
                          config_versions={}, settings=load_settings(), series=series)  # fmt: skip
    report = assemble(inputs)
    (row,) = [r for r in report.scorecard if r.spec.key == "do_hours_below_3_mg_l"]
    assert row.value == 0.0 and row.coverage_pct == pytest.approx(100.0 * 120 / 365)
    assert row.baseline_coverage_pct == pytest.approx(100.0 * 31 / 365)
    assert row.baseline is None and row.trend is None and row.grade is None  # 31 h of 2025 is no year
    # this year short, the previous one whole: still no change (120 days against a year)
    full_2025 = date_us(2025, 1, 1) + np.arange(365) * DAY_US
    series[("b1", oxygen.HOURS_MEASURED)] = (np.r_[full_2025, half], np.full(485, 24.0))
    series[("b1", oxygen.HOURS_BELOW[3])] = (np.r_[full_2025, half], np.r_[np.ones(365), np.zeros(120)])
    (row,) = [r for r in assemble(inputs).scorecard if r.spec.key == "do_hours_below_3_mg_l"]
    assert row.baseline == 365.0 and row.trend is None and row.grade is None
    page = to_html(report)
    assert "too little (8 %)" in page and "too little data to grade" in page
    full = date_us(2026, 1, 1) + np.arange(365) * DAY_US
    series[("b1", oxygen.HOURS_MEASURED)] = (full, np.full(365, 24.0))
    series[("b1", oxygen.HOURS_BELOW[3])] = (full, np.zeros(365))
    (row,) = [r for r in assemble(inputs).scorecard if r.spec.key == "do_hours_below_3_mg_l"]
    assert row.coverage_pct == pytest.approx(100.0) and row.grade == "good"
