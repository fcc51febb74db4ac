"""Pure assembly of the annual report from rows already read: numbers and tables, no I/O, no rendering.

Sea-level science is not redone here: the trend and its interval come from
``streams.indicators.sealevel.trend.sea_level_trend`` over the stored monthly means, first put on one
zero (the station zero in force at the year's end) across re-levellings (``on_one_zero``).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from schemas.datums import DATUMS, DATUMS_ZH, consistent_levels
from services.report.base import (
    ReportError,
    Series,
    StationInfo,
    day_keys,
    in_year,
    iso_minute,
    year_bounds_us,
)
from services.report.ecology import (
    CARBON_VARS,
    MARINE_VARS,
    CarbonRow,
    MarineRow,
    WetlandRow,
    carbon_row,
    is_wetland,
    marine_row,
    wetland_row,
)
from services.report.episodes import Outage, SurgeEpisode, availability_pct, outages, surge_episodes
from services.report.scorecard import scorecard
from services.report.settings import ReportSettings
from streams.indicators.sealevel import catalogue as sl
from streams.indicators.sealevel.trend import TrendResult, sea_level_trend

__all__ = ["ReportError", "StationInfo", "year_bounds_us"]

SEVERITIES = ("blue", "yellow", "orange", "red")
QC_FLAG_NAMES = {1: "good", 2: "not_evaluated", 3: "suspect", 4: "fail", 9: "missing"}


@dataclass(frozen=True)
class MonthlyMsl:
    """Stored monthly mean sea level of one station (all years held), month starts in µs UTC."""

    month_start_us: np.ndarray
    msl_m: np.ndarray
    completeness_pct: np.ndarray


@dataclass(frozen=True)
class AlertRow:
    """One alert of the year (services/report/warnings.py reads it from its events): its highest level
    while firing, the time it first fired (or opened, never fired) and its acknowledgement."""

    station_id: str
    rule: str
    severity: str
    opened_us: int
    acknowledged_us: int | None
    fired: bool = True  # False: it stayed pending, or QC withdrew what made it fire
    withdrawn: bool = False  # QC withdrew the reading that had made it fire (retracted)


@dataclass(frozen=True)
class ReportInputs:
    year: int
    scope: str
    stations: list[StationInfo]
    msl: dict[str, MonthlyMsl]
    alerts: list[AlertRow]
    qc_counts: list[tuple[str, str, int, int]]  # station, variable, flag, readings
    dead_letters: dict[str, int]  # by reason, in the year of their reading (dead_letters.py)
    as_of_us: int | None
    generated_at: str
    config_versions: dict[str, str]
    baseline_years: tuple[int, int] = (1993, 2011)
    # (station, indicator id) -> (times µs, values) from December two years before to the year's end,
    # so the previous year (scorecard baselines) and the DJF season are there; sections pick their year
    series: Series = field(default_factory=dict)
    # station -> daily maxima of QC-good significant wave height (day starts µs, m)
    wave_daily_max_m: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # station -> stored reading times of the year: first, last, gaps longer than the shortest outage rule
    readings: dict[str, ReadingSpan] = field(default_factory=dict)
    settings: ReportSettings = field(default_factory=ReportSettings)
    lang: str = "zh"
    # (station, variable) -> (times µs, values): the year's QC-good flux half-hours and their drivers
    # (ecology.GAPFILL_VARS) at the eddy-covariance stations, for the gap-filled carbon budget
    flux_half_hours: Series = field(default_factory=dict)
    rule_titles: dict[str, tuple[str, str]] = field(default_factory=dict)  # rule id -> (zh, en)
    dead_letters_by_receipt: int = 0  # of dead_letters, those with no usable reading time


@dataclass(frozen=True)
class ReadingSpan:
    first_us: int | None
    last_us: int | None
    gaps: list[tuple[int, int]]


WAVE_DAY_THRESHOLD_M = 4.0
HAZARD_KINDS = ("tide_gauge", "buoy")


@dataclass(frozen=True)
class HazardRow:
    """One station's coastal-hazard year; None where the station kind has the data but none is stored."""

    station: StationInfo
    max_surge_m: tuple[str, float] | None  # (UTC time, m)
    high_waters_at_level: dict[str, int] | None  # high waters reaching each level (>=)
    days_at_level: dict[str, int] | None  # UTC days with a high water reaching each level
    wave_days_at_level: dict[str, int] | None  # UTC days with a wave reading reaching each level
    wave_days_ge_4m: int | None


@dataclass(frozen=True)
class SeaLevelRow:
    station: StationInfo
    annual_mean_m: float | None
    months_in_year: int
    completeness_pct: float
    previous_year_mean_m: float | None
    anomaly_vs_previous_mm: float | None
    baseline_mean_m: float | None
    anomaly_vs_baseline_mm: float | None
    baseline_coverage_pct: float  # months of the baseline period with a monthly mean
    trend: TrendResult | None
    record_month: tuple[str, float] | None  # highest monthly MSL of the year: (YYYY-MM, m)
    zero: ZeroShift | None = None  # how the months were put on one station zero
    record_low_month: tuple[str, float] | None = None  # lowest monthly MSL of the year: (YYYY-MM, m)


@dataclass(frozen=True)
class Report:
    inputs: ReportInputs
    sea_level: list[SeaLevelRow]
    stations_without_sea_level: list[StationInfo]
    warnings_by_level: dict[str, int]
    median_ack_minutes: dict[str, float | None]
    unacknowledged: int
    qc_table: list[tuple[str, str, dict[str, int], float]]  # station, variable, counts, good %
    # every alert rule with alerts opened in the year (hazard warnings and station health)
    alert_rules: list[AlertRuleRow] = field(default_factory=list)
    hazards: list[HazardRow] = field(default_factory=list)
    missing_sections: list[str] = field(default_factory=list)
    surge_episodes: dict[str, list[SurgeEpisode]] = field(default_factory=dict)
    marine: list[MarineRow] = field(default_factory=list)
    wetlands: list[WetlandRow] = field(default_factory=list)
    carbon: list[CarbonRow] = field(default_factory=list)
    # previous year's rows, for the scorecard's baselines
    previous: dict[str, dict[str, object]] = field(default_factory=dict)
    outages: dict[str, list[Outage]] = field(default_factory=dict)
    availability: dict[tuple[str, str], float | None] = field(default_factory=dict)
    span_us: tuple[int, int] = (0, 0)
    scorecard: list = field(default_factory=list)


@dataclass(frozen=True)
class ZeroShift:
    """The monthly means as levels above the station zero in force at ``at`` (the year's last day)."""

    at: str  # UTC date
    via: str | None  # the datum earlier months were carried through (None: no levelling history)
    # re-levellings inside the record: (UTC date, mm added to the months before it)
    relevellings: tuple[tuple[str, float], ...] = ()

    @property
    def via_name(self) -> str:
        return DATUMS.get(self.via or "", "")

    @property
    def via_name_zh(self) -> str:
        return DATUMS_ZH.get(self.via or "", "")


def _month_ends_us(month_start_us: np.ndarray) -> np.ndarray:
    months = month_start_us.astype("datetime64[us]").astype("datetime64[M]")
    return (months + 1).astype("datetime64[us]").astype(np.int64)


def on_one_zero(station: StationInfo, msl: MonthlyMsl, year: int) -> tuple[MonthlyMsl, ZeroShift]:
    """Each month's mean shifted by (its zero − the zero at the year's end) through a fixed datum, with
    the offsets weighted by the days each zero held in the month; months the history does not cover
    become NaN (left out of means and the trend)."""
    at_us = year_bounds_us(year)[1] - 1
    ends = _month_ends_us(msl.month_start_us)
    history = station.levellings
    levels, via = consistent_levels(msl.msl_m, msl.month_start_us, history, at_us, ends)
    at = dt.datetime.fromtimestamp(at_us / 1e6, dt.UTC).date().isoformat()
    steps: list[tuple[str, float]] = []
    if via is not None and msl.month_start_us.size:
        now = float(history.offsets_m(via, np.array([at_us]))[0])
        for before, lev in zip(history.levellings, history.levellings[1:], strict=False):
            inside = int(msl.month_start_us[0]) < lev.valid_from_us <= at_us
            if inside and via in before.zero_above_m:
                steps.append((lev.valid_from.isoformat(), round((before.zero_above_m[via] - now) * 1000, 1)))
    return dataclasses.replace(msl, msl_m=levels), ZeroShift(at, via, tuple(steps))


def _years(month_start_us: np.ndarray) -> np.ndarray:
    return month_start_us.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970


def _mean_of_year(msl: MonthlyMsl, year: int) -> tuple[float | None, int]:
    """Mean of the calendar year's monthly means (stored months only) and how many months it rests on."""
    sel = (_years(msl.month_start_us) == year) & np.isfinite(msl.msl_m)
    n = int(sel.sum())
    return (float(np.mean(msl.msl_m[sel])) if n else None), n


def baseline_months(msl: MonthlyMsl, baseline: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Mean of each calendar month (Jan..Dec) over the baseline years, and the share (%) of the
    baseline's months that have a monthly mean. Month by month, so a baseline missing some winters is
    not read as a warm one."""
    years = _years(msl.month_start_us)
    months = msl.month_start_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    sel = (years >= baseline[0]) & (years <= baseline[1]) & np.isfinite(msl.msl_m)
    climatology = np.array([np.mean(msl.msl_m[sel & (months == m)]) if (sel & (months == m)).any() else np.nan
                            for m in range(12)])  # fmt: skip
    return climatology, 100.0 * int(sel.sum()) / (12 * (baseline[1] - baseline[0] + 1))


def msl_anomaly_mm(msl: MonthlyMsl, year: int, climatology: np.ndarray) -> float | None:
    """Mean over the year's stored months of (monthly MSL - the baseline's mean of that month), mm;
    with twelve months and a complete baseline this is annual mean minus baseline mean."""
    sel = (_years(msl.month_start_us) == year) & np.isfinite(msl.msl_m)
    months = msl.month_start_us[sel].astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    if not sel.any() or not np.isfinite(climatology[months]).all():
        return None
    return float(np.mean(msl.msl_m[sel] - climatology[months])) * 1000.0


def previous_year_anomaly_mm(msl: MonthlyMsl, year: int, min_coverage_pct: float) -> float | None:
    """Mean over the calendar months stored in both years of (this year's month − the previous year's),
    mm; given only when the previous year has monthly means for ``min_coverage_pct`` of its months (a
    stored December alone is no previous year: against it the seasonal cycle would be the anomaly).
    With twelve months in both years this is the difference of the annual means."""
    years = _years(msl.month_start_us)
    months = msl.month_start_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    ok = np.isfinite(msl.msl_m)

    def by_month(y: int) -> dict[int, float]:
        sel = ok & (years == y)
        return {int(m): float(v) for m, v in zip(months[sel], msl.msl_m[sel], strict=True)}

    before = by_month(year - 1)
    if 100.0 * len(before) / 12 < min_coverage_pct:
        return None
    now = by_month(year)
    both = sorted(set(now) & set(before))
    return float(np.mean([now[m] - before[m] for m in both])) * 1000.0 if both else None


def sea_level_row(
    station: StationInfo,
    msl: MonthlyMsl,
    year: int,
    baseline: tuple[int, int],
    min_coverage_pct: float = 80.0,
) -> SeaLevelRow:
    years = _years(msl.month_start_us)
    mean, n = _mean_of_year(msl, year)
    prev, _ = _mean_of_year(msl, year - 1)
    in_year = years == year
    completeness = float(np.sum(msl.completeness_pct[in_year]) / 12.0) if n else 0.0
    climatology, coverage = baseline_months(msl, baseline)
    covered = coverage >= min_coverage_pct and np.isfinite(climatology).all()
    base = float(np.mean(climatology)) if covered else None
    upto = years <= year
    trend = sea_level_trend(msl.month_start_us[upto], msl.msl_m[upto], msl.completeness_pct[upto])
    record = low = None
    if n:
        idx = np.flatnonzero(in_year & np.isfinite(msl.msl_m))

        def month(i: int) -> tuple[str, float]:
            return str(msl.month_start_us[i].astype("datetime64[us]").astype("datetime64[M]")), float(
                msl.msl_m[i]
            )

        record, low = month(int(idx[np.argmax(msl.msl_m[idx])])), month(int(idx[np.argmin(msl.msl_m[idx])]))
    return SeaLevelRow(
        station=station,
        annual_mean_m=mean,
        months_in_year=n,
        completeness_pct=completeness,
        previous_year_mean_m=prev,
        anomaly_vs_previous_mm=previous_year_anomaly_mm(msl, year, min_coverage_pct),
        baseline_mean_m=base,
        anomaly_vs_baseline_mm=msl_anomaly_mm(msl, year, climatology) if covered else None,
        baseline_coverage_pct=coverage,
        trend=trend,
        record_month=record,
        record_low_month=low,
    )


def _levels_reached(times_us: np.ndarray, levels: np.ndarray) -> tuple[dict[str, int], dict[str, int]]:
    """Per warning colour: how many entries reach it (>=) and on how many UTC days."""
    counts, days = {}, {}
    for k, colour in enumerate(SEVERITIES, start=1):
        sel = np.isfinite(levels) & (levels >= k)
        counts[colour] = int(sel.sum())
        days[colour] = int(np.unique(day_keys(times_us[sel])).size)
    return counts, days


def hazard_row(st: StationInfo, inputs: ReportInputs) -> HazardRow:
    surge = in_year(inputs.series, st.id, sl.SURGE_MAX_CYCLE, inputs.year)
    max_surge = None
    if surge[1].size:
        i = int(np.argmax(surge[1]))
        max_surge = (iso_minute(surge[0][i]), float(surge[1][i]))
    hw = in_year(inputs.series, st.id, sl.WATER_LEVEL_WARNING, inputs.year)
    hw_counts, hw_days = _levels_reached(*hw) if hw[0].size else (None, None)
    wave = in_year(inputs.series, st.id, sl.WAVE_WARNING, inputs.year)
    wave_days = _levels_reached(*wave)[1] if wave[0].size else None
    daily = inputs.wave_daily_max_m.get(st.id)
    ge4 = int(np.sum(daily[1] >= WAVE_DAY_THRESHOLD_M)) if daily is not None else None
    return HazardRow(st, max_surge, hw_counts, hw_days, wave_days, ge4)


def assemble(inputs: ReportInputs) -> Report:
    """Every number of the report from the inputs; sections without data are named, not dropped."""
    year_bounds_us(inputs.year)
    sea_level, without = [], []
    shifted, zeros = dict(inputs.msl), {}
    for st in inputs.stations:
        if st.id in shifted:
            shifted[st.id], zeros[st.id] = on_one_zero(st, shifted[st.id], inputs.year)
    inputs = dataclasses.replace(inputs, msl=shifted)  # figures and sections see the same levels
    for st in inputs.stations:
        msl = inputs.msl.get(st.id)
        if msl is None or msl.month_start_us.size == 0:
            if st.kind == "tide_gauge":
                without.append(st)
            continue
        row = sea_level_row(
            st, msl, inputs.year, inputs.baseline_years, inputs.settings.msl_baseline_min_coverage_pct
        )
        sea_level.append(dataclasses.replace(row, zero=zeros[st.id]))
    health = set(inputs.settings.station_health_rules)
    warnings = [a for a in inputs.alerts if a.rule not in health]
    by_level, median_ack, unacked = _alert_counts(warnings)
    per_series: dict[tuple[str, str], dict[str, int]] = {}
    for station, variable, flag, n in inputs.qc_counts:
        counts = per_series.setdefault((station, variable), {})
        name = QC_FLAG_NAMES.get(flag, str(flag))
        counts[name] = counts.get(name, 0) + n
    qc_table = [
        (s, v, c, 100.0 * c.get("good", 0) / sum(c.values())) for (s, v), c in sorted(per_series.items())
    ]
    hazards = [hazard_row(st, inputs) for st in inputs.stations if st.kind in HAZARD_KINDS]
    stations, ser, year = inputs.stations, inputs.series, inputs.year
    report = Report(
        inputs=inputs,
        sea_level=sea_level,
        stations_without_sea_level=without,
        warnings_by_level=by_level,
        median_ack_minutes=median_ack,
        unacknowledged=unacked,
        qc_table=qc_table,
        alert_rules=alert_record(inputs.alerts, health),
        hazards=hazards,
        missing_sections=[],
        surge_episodes={st.id: episodes_of(st, inputs) for st in stations if st.kind == "tide_gauge"},
        marine=[marine_row(st, ser, year) for st in stations if st.measures(*MARINE_VARS)],
        wetlands=[wetland_row(st, ser, year) for st in stations if is_wetland(st)],
        carbon=[
            carbon_row(st, ser, year, inputs.flux_half_hours) for st in stations if st.measures(*CARBON_VARS)
        ],
        previous={
            "marine": {st.id: marine_row(st, ser, year - 1) for st in stations if st.measures(*MARINE_VARS)},
            "wetlands": {st.id: wetland_row(st, ser, year - 1) for st in stations if is_wetland(st)},
            "carbon": {st.id: carbon_row(st, ser, year - 1) for st in stations if st.measures(*CARBON_VARS)},
        },
        span_us=(span := reading_span_us(inputs)),
        outages={st.id: station_outages(st, inputs, span) for st in inputs.stations},
        availability={
            (s, v): availability_pct(
                sum(n for k, n in c.items() if k != "missing"), span, _interval(inputs, s)
            )
            for s, v, c, _ in qc_table
        },
    )  # fmt: skip
    return dataclasses.replace(report, scorecard=scorecard(report))


@dataclass(frozen=True)
class AlertRuleRow:
    """One alert rule's year: alerts opened per (final) severity, median minutes to acknowledge."""

    rule: str
    station_health: bool
    by_level: dict[str, int]  # alerts that fired, by their highest level
    median_ack_minutes: dict[str, float | None]
    unacknowledged: int
    withdrawn: int = 0  # fired on a reading QC later withdrew (retracted): not counted above
    never_fired: int = 0  # opened and closed while pending

    @property
    def total(self) -> int:
        return sum(self.by_level.values())


def _alert_counts(alerts: list[AlertRow]) -> tuple[dict[str, int], dict[str, float | None], int]:
    """Alerts that fired per severity, the median minutes from their first firing to acknowledgement,
    and how many nobody acknowledged."""
    by_level = {s: 0 for s in SEVERITIES}
    ack: dict[str, list[float]] = {s: [] for s in SEVERITIES}
    unacked = 0
    for a in alerts:
        if not a.fired:
            continue
        by_level[a.severity] = by_level.get(a.severity, 0) + 1
        if a.acknowledged_us is None:
            unacked += 1
        else:
            ack.setdefault(a.severity, []).append((a.acknowledged_us - a.opened_us) / 60e6)
    return by_level, {s: (float(np.median(v)) if v else None) for s, v in ack.items()}, unacked


def alert_record(alerts: list[AlertRow], station_health: set[str]) -> list[AlertRuleRow]:
    """Per rule (hazard warnings first, then station health, each by rule id)."""
    rules = sorted({a.rule for a in alerts}, key=lambda r: (r in station_health, r))
    rows = []
    for rule in rules:
        mine = [a for a in alerts if a.rule == rule]
        by_level, median, unacked = _alert_counts(mine)
        withdrawn = sum(1 for a in mine if a.withdrawn)
        never = sum(1 for a in mine if not a.fired and not a.withdrawn)
        rows.append(AlertRuleRow(rule, rule in station_health, by_level, median, unacked, withdrawn, never))
    return rows


def _interval(inputs: ReportInputs, station: str) -> float:
    return next((s.sampling_interval_s for s in inputs.stations if s.id == station), 0.0)


def reading_span_us(inputs: ReportInputs) -> tuple[int, int]:
    """The part of the year a report can expect readings for: up to its generation stamp if that is
    earlier than the year's end (a report of the running year)."""
    start, end = year_bounds_us(inputs.year)
    try:
        made = dt.datetime.fromisoformat(inputs.generated_at)
    except ValueError:
        return start, end
    if made.tzinfo is None:
        made = made.replace(tzinfo=dt.UTC)
    return start, max(start, min(end, int(made.timestamp() * 1_000_000)))


def station_outages(st: StationInfo, inputs: ReportInputs, span: tuple[int, int]) -> list[Outage]:
    r = inputs.readings.get(st.id, ReadingSpan(None, None, []))
    return outages(r.gaps, r.first_us, r.last_us, span, st.sampling_interval_s, inputs.settings)


def episodes_of(st: StationInfo, inputs: ReportInputs) -> list[SurgeEpisode]:
    surge = in_year(inputs.series, st.id, sl.SURGE_MAX_CYCLE, inputs.year)
    warn = in_year(inputs.series, st.id, sl.WATER_LEVEL_WARNING, inputs.year)
    return surge_episodes(*surge, *warn, inputs.settings)


def deseasoned_monthly(msl: MonthlyMsl) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Monthly MSL minus its mean calendar-month cycle (m) and the cycle itself (12 values, m)."""
    months = (msl.month_start_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64)) % 12
    cycle = np.full(12, np.nan)
    ok = np.isfinite(msl.msl_m)
    overall = float(np.mean(msl.msl_m[ok])) if ok.any() else 0.0
    for m in range(12):
        sel = ok & (months == m)
        if sel.any():
            cycle[m] = float(np.mean(msl.msl_m[sel])) - overall
    return msl.month_start_us, msl.msl_m - np.nan_to_num(cycle[months]), cycle
