"""Pure assembly of the annual report from rows already read: numbers and tables, no I/O, no rendering.

Sea-level science is not redone here: the trend and its interval come from
``streams.indicators.sealevel.trend.sea_level_trend`` over the stored monthly means.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from streams.indicators.sealevel.trend import TrendResult, sea_level_trend

SEVERITIES = ("blue", "yellow", "orange", "red")
QC_FLAG_NAMES = {1: "good", 2: "not_evaluated", 3: "suspect", 4: "fail", 9: "missing"}


class ReportError(ValueError):
    """A request the report cannot answer (bad year, unknown station or area): said, not guessed."""


@dataclass(frozen=True)
class StationInfo:
    id: str
    name: str
    name_zh: str
    kind: str
    area: str


@dataclass(frozen=True)
class MonthlyMsl:
    """Stored monthly mean sea level of one station (all years held), month starts in µs UTC."""

    month_start_us: np.ndarray
    msl_m: np.ndarray
    completeness_pct: np.ndarray


@dataclass(frozen=True)
class AlertRow:
    station_id: str
    rule: str
    severity: str
    opened_us: int
    acknowledged_us: int | None


@dataclass(frozen=True)
class ReportInputs:
    year: int
    scope: str
    stations: list[StationInfo]
    msl: dict[str, MonthlyMsl]
    alerts: list[AlertRow]
    qc_counts: list[tuple[str, str, int, int]]  # station, variable, flag, readings
    dead_letters: dict[str, int]
    as_of_us: int | None
    generated_at: str
    config_versions: dict[str, str]
    baseline_years: tuple[int, int] = (1993, 2011)
    # (station, indicator id) -> (times µs, values) within the year: warning levels, cycle surge maxima
    series: dict[tuple[str, str], tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    # station -> daily maxima of QC-good significant wave height (day starts µs, m)
    wave_daily_max_m: dict[str, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


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
    trend: TrendResult | None
    record_month: tuple[str, float] | None  # highest monthly MSL of the year: (YYYY-MM, m)


@dataclass(frozen=True)
class Report:
    inputs: ReportInputs
    sea_level: list[SeaLevelRow]
    stations_without_sea_level: list[StationInfo]
    warnings_by_level: dict[str, int]
    median_ack_minutes: dict[str, float | None]
    unacknowledged: int
    qc_table: list[tuple[str, str, dict[str, int], float]]  # station, variable, counts, good %
    hazards: list[HazardRow] = field(default_factory=list)
    missing_sections: list[str] = field(default_factory=list)


def year_bounds_us(year: int) -> tuple[int, int]:
    """[1 Jan year, 1 Jan year+1) in µs UTC; a year outside 1990..2100 is refused."""
    if not 1990 <= year <= 2100:
        raise ReportError(f"year {year} is outside 1990..2100")
    start = dt.datetime(year, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(year + 1, 1, 1, tzinfo=dt.UTC)
    return int(start.timestamp() * 1_000_000), int(end.timestamp() * 1_000_000)


def _years(month_start_us: np.ndarray) -> np.ndarray:
    return month_start_us.astype("datetime64[us]").astype("datetime64[Y]").astype(np.int64) + 1970


def _mean_of_year(msl: MonthlyMsl, year: int) -> tuple[float | None, int]:
    """Mean of the calendar year's monthly means (stored months only) and how many months it rests on."""
    sel = (_years(msl.month_start_us) == year) & np.isfinite(msl.msl_m)
    n = int(sel.sum())
    return (float(np.mean(msl.msl_m[sel])) if n else None), n


def sea_level_row(station: StationInfo, msl: MonthlyMsl, year: int, baseline: tuple[int, int]) -> SeaLevelRow:
    years = _years(msl.month_start_us)
    mean, n = _mean_of_year(msl, year)
    prev, _ = _mean_of_year(msl, year - 1)
    in_year = years == year
    completeness = float(np.sum(msl.completeness_pct[in_year]) / 12.0) if n else 0.0
    base_sel = (years >= baseline[0]) & (years <= baseline[1]) & np.isfinite(msl.msl_m)
    base = float(np.mean(msl.msl_m[base_sel])) if base_sel.any() else None
    upto = years <= year
    trend = sea_level_trend(msl.month_start_us[upto], msl.msl_m[upto], msl.completeness_pct[upto])
    record = None
    if n:
        idx = np.flatnonzero(in_year & np.isfinite(msl.msl_m))
        top = int(idx[np.argmax(msl.msl_m[idx])])
        record = (
            str(msl.month_start_us[top].astype("datetime64[us]").astype("datetime64[M]")),
            float(msl.msl_m[top]),
        )
    return SeaLevelRow(
        station=station,
        annual_mean_m=mean,
        months_in_year=n,
        completeness_pct=completeness,
        previous_year_mean_m=prev,
        anomaly_vs_previous_mm=(mean - prev) * 1000.0 if mean is not None and prev is not None else None,
        baseline_mean_m=base,
        anomaly_vs_baseline_mm=(mean - base) * 1000.0 if mean is not None and base is not None else None,
        trend=trend,
        record_month=record,
    )


def _day_keys(times_us: np.ndarray) -> np.ndarray:
    return np.asarray(times_us, dtype=np.int64) // 86_400_000_000


def _levels_reached(times_us: np.ndarray, levels: np.ndarray) -> tuple[dict[str, int], dict[str, int]]:
    """Per warning colour: how many entries reach it (>=) and on how many UTC days."""
    counts, days = {}, {}
    for k, colour in enumerate(SEVERITIES, start=1):
        sel = np.isfinite(levels) & (levels >= k)
        counts[colour] = int(sel.sum())
        days[colour] = int(np.unique(_day_keys(times_us[sel])).size)
    return counts, days


def hazard_row(st: StationInfo, inputs: ReportInputs) -> HazardRow:
    from streams.indicators.sealevel import records as sl

    surge = inputs.series.get((st.id, sl.SURGE_MAX_CYCLE))
    max_surge = None
    if surge is not None and np.isfinite(surge[1]).any():
        i = int(np.nanargmax(surge[1]))
        when = dt.datetime.fromtimestamp(int(surge[0][i]) / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%MZ")
        max_surge = (when, float(surge[1][i]))
    hw = inputs.series.get((st.id, sl.WATER_LEVEL_WARNING))
    hw_counts, hw_days = _levels_reached(*hw) if hw is not None else (None, None)
    wave = inputs.series.get((st.id, sl.WAVE_WARNING))
    wave_days = _levels_reached(*wave)[1] if wave is not None else None
    daily = inputs.wave_daily_max_m.get(st.id)
    ge4 = int(np.sum(daily[1] >= WAVE_DAY_THRESHOLD_M)) if daily is not None else None
    return HazardRow(st, max_surge, hw_counts, hw_days, wave_days, ge4)


def assemble(inputs: ReportInputs) -> Report:
    """Every number of the report from the inputs; sections without data are named, not dropped."""
    year_bounds_us(inputs.year)
    sea_level, without = [], []
    for st in inputs.stations:
        msl = inputs.msl.get(st.id)
        if msl is None or msl.month_start_us.size == 0:
            if st.kind == "tide_gauge":
                without.append(st)
            continue
        sea_level.append(sea_level_row(st, msl, inputs.year, inputs.baseline_years))
    by_level = {s: 0 for s in SEVERITIES}
    ack: dict[str, list[float]] = {s: [] for s in SEVERITIES}
    unacked = 0
    for a in inputs.alerts:
        by_level[a.severity] = by_level.get(a.severity, 0) + 1
        if a.acknowledged_us is None:
            unacked += 1
        else:
            ack.setdefault(a.severity, []).append((a.acknowledged_us - a.opened_us) / 60e6)
    median_ack = {s: (float(np.median(v)) if v else None) for s, v in ack.items()}
    per_series: dict[tuple[str, str], dict[str, int]] = {}
    for station, variable, flag, n in inputs.qc_counts:
        counts = per_series.setdefault((station, variable), {})
        name = QC_FLAG_NAMES.get(flag, str(flag))
        counts[name] = counts.get(name, 0) + n
    qc_table = [
        (s, v, c, 100.0 * c.get("good", 0) / sum(c.values())) for (s, v), c in sorted(per_series.items())
    ]
    hazards = [hazard_row(st, inputs) for st in inputs.stations if st.kind in HAZARD_KINDS]
    missing = [
        "风暴潮事件划分 / storm-surge events as episodes (only the year's maxima and warning days here)",
        "海洋生态 / marine ecology (SST anomaly, heatwaves, hypoxia, bloom, pH)",
        "湿地 / wetlands (hydroperiod, salt intrusion)",
        "蓝碳 / blue carbon (NEE, CH4, balance)",
        "指标评分表 / indicator scorecard with grading bands",
    ]
    return Report(
        inputs=inputs,
        sea_level=sea_level,
        stations_without_sea_level=without,
        warnings_by_level=by_level,
        median_ack_minutes=median_ack,
        unacknowledged=unacked,
        qc_table=qc_table,
        hazards=hazards,
        missing_sections=missing,
    )


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
