"""The indicator scorecard: one row per indicator and station, with the unit, the method or standard it
follows, the previous year as its baseline, this year, the change (for sea level: the trend) and the
grade from report.yaml's bands. Every value is one the sections above already report."""

from __future__ import annotations

import calendar
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from services.report.base import StationInfo
from services.report.ecology import CarbonRow, MarineRow


class Report(Protocol):
    """The parts of an assembled report (``services.report.assemble.Report``) the scorecard grades: the
    sections are computed first, the scorecard only reads them."""

    @property
    def inputs(self) -> Any: ...
    @property
    def sea_level(self) -> Sequence[Any]: ...
    @property
    def marine(self) -> Sequence[MarineRow]: ...
    @property
    def wetlands(self) -> Sequence[Any]: ...
    @property
    def carbon(self) -> Sequence[CarbonRow]: ...
    @property
    def previous(self) -> Mapping[str, Mapping[str, Any]]: ...
    @property
    def availability(self) -> Mapping[tuple[str, str], float | None]: ...


@dataclass(frozen=True)
class ScoreSpec:
    key: str  # grading key in report.yaml
    zh: str
    en: str
    unit: str
    method: str


SPECS = {
    s.key: s
    for s in (
        ScoreSpec(
            "sea_level_anomaly_mm",
            "年均海平面距平",
            "annual MSL anomaly",
            "mm",
            "msl_monthly_m, annual mean − baseline-period mean (China Sea Level Bulletin)",
        ),
        ScoreSpec(
            "sst_anomaly_degC",
            "海温距平",
            "SST anomaly",
            "°C",
            "sst_daily_mean_degC − mhw_climatology_degC, annual mean",
        ),
        ScoreSpec("mhw_days_d", "海洋热浪天数", "marine heatwave days", "d", "mhw_day > 0 (Hobday 2016)"),
        ScoreSpec(
            "do_hours_below_3_mg_l",
            "溶解氧≤3 mg/L 时数",
            "hours DO ≤ 3 mg/L",
            "h",
            "do_hours_below_3_mg_l, GB 3097-1997 class IV limit",
        ),
        ScoreSpec("bloom_risk_days_d", "藻华风险天数", "bloom-risk days", "d", "bloom_risk ≥ 1"),
        ScoreSpec(
            "ph_mean",
            "pH 年均值",
            "pH annual mean",
            "1 (total scale)",
            "ph_daily_mean, GB 3097-1997 classes I–II 7.8–8.5",
        ),
        ScoreSpec("salt_intrusion_days_d", "盐水入侵天数", "salt-intrusion days", "d", "salt_intrusion = 1"),
        ScoreSpec(
            "net_carbon_gC_m2",
            "年净碳收支",
            "annual net carbon balance",
            "g C m-2",
            "net_carbon_year_gC_m2 (FLUXNET signs, negative = sink)",
        ),
        ScoreSpec(
            "availability_pct",
            "数据可用率",
            "data availability",
            "%",
            "stored readings / nominal readings, mean over variables",
        ),
    )
}


@dataclass(frozen=True)
class ScoreRow:
    spec: ScoreSpec
    station: StationInfo
    baseline: float | None  # the previous year's value (None: none, or it covers too little of its year)
    value: float | None
    trend: float | None  # this - previous (the sea-level row: trend in mm/yr)
    trend_unit: str
    grade: str | None  # None also when this year covers too little of the year to be graded
    coverage_pct: float | None = None  # share of this year's days (hours, half-hours) the value rests on
    baseline_coverage_pct: float | None = None  # the same for the previous year


def _days(year: int) -> int:
    return 366 if calendar.isleap(year) else 365


def _marine_coverage(row: MarineRow, year: int) -> dict[str, float]:
    """Per scorecard key, the share (%) of the year the marine row's value rests on."""
    days = _days(year)
    hours = row.hypoxia.hours_measured if row.hypoxia else 0.0
    return {
        "sst_anomaly_degC": 100.0 * row.sst_days / days,
        "mhw_days_d": 100.0 * row.sst_days / days,
        "do_hours_below_3_mg_l": 100.0 * hours / (24 * days),
        "bloom_risk_days_d": 100.0 * row.bloom_days_assessed / days,
        "ph_mean": 100.0 * row.ph_days / days,
    }


def _marine_values(row: MarineRow) -> dict[str, float | None]:
    """Scorecard values of a marine row, only for the parts the station measures (None: no data)."""
    hyp, mhw, bloom_days = row.hypoxia, row.heatwaves, row.bloom_days
    values = {
        "sst": {
            "sst_anomaly_degC": row.sst_anomaly_degC,
            "mhw_days_d": float(mhw.days) if mhw else None,
        },
        "hypoxia": {"do_hours_below_3_mg_l": hyp.hours_below.get(3) if hyp else None},
        "bloom": {"bloom_risk_days_d": float(sum(bloom_days.values())) if bloom_days else None},
        "ph": {"ph_mean": row.ph_mean},
    }
    return {k: v for part, kv in values.items() if part in row.parts for k, v in kv.items()}


def _rows_for(
    report: Report,
    key: str,
    station: StationInfo,
    value: float | None,
    previous: float | None,
    coverage: tuple[float | None, float | None] = (None, None),
) -> ScoreRow:
    """A row; a year covering less than ``scorecard.min_coverage_pct`` of itself is neither graded nor a
    baseline (a month of December is no previous year) nor compared, and the row says how much it
    covered."""
    spec = SPECS[key]
    least = report.inputs.settings.scorecard_min_coverage_pct
    now_cov, before_cov = coverage
    if before_cov is not None and before_cov < least:
        previous = None
    gradable = now_cov is None or now_cov >= least
    # a change needs two covered years: a day of this year against a whole previous one is no change
    change = value - previous if value is not None and previous is not None and gradable else None
    grade = report.inputs.settings.grade(key, value) if gradable else None
    return ScoreRow(spec, station, previous, value, change, spec.unit, grade, now_cov, before_cov)


def scorecard(report: Report) -> list[ScoreRow]:
    rows: list[ScoreRow] = []
    for r in report.sea_level:
        rows.append(
            ScoreRow(
                SPECS["sea_level_anomaly_mm"],
                r.station,
                None,
                r.anomaly_vs_baseline_mm,
                r.trend.slope_mm_yr if r.trend else None,
                "mm/yr",
                report.inputs.settings.grade("sea_level_anomaly_mm", r.anomaly_vs_baseline_mm),
            )
        )
    prev = report.previous
    year = report.inputs.year
    for r in report.marine:
        now = _marine_values(r)
        p = prev["marine"][r.station.id]
        before = _marine_values(p)
        now_cov, before_cov = _marine_coverage(r, year), _marine_coverage(p, year - 1)
        for key, value in now.items():
            cov = (now_cov[key], before_cov[key])
            rows.append(_rows_for(report, key, r.station, value, before[key], cov))
    for r in report.wetlands:
        p = prev["wetlands"][r.station.id]
        value = None if r.salt_intrusion_days is None else float(r.salt_intrusion_days)
        previous = None if p.salt_intrusion_days is None else float(p.salt_intrusion_days)
        cov = (100.0 * r.salinity_days / _days(year), 100.0 * p.salinity_days / _days(year - 1))
        rows.append(_rows_for(report, "salt_intrusion_days_d", r.station, value, previous, cov))
    for r in report.carbon:
        p = prev["carbon"][r.station.id]
        cov = (r.year.coverage_pct if r.year else 0.0, p.year.coverage_pct if p.year else 0.0)
        rows.append(_rows_for(report, "net_carbon_gC_m2", r.station, _net(r), _net(p), cov))
    for st in report.inputs.stations:
        shares = [v for (s, _), v in report.availability.items() if s == st.id and v is not None]
        mean = float(np.mean(shares)) if shares else None
        rows.append(_rows_for(report, "availability_pct", st, mean, None))
    return rows


def _net(row: CarbonRow) -> float | None:
    return row.year.net_gC_m2 if row.year else None
