"""Marine ecology, wetland and blue-carbon sections from the stored ecological indicators: no I/O, and
nothing recomputed that the indicator stream already computed (heatwave events, hypoxia episodes, bloom
levels, carbon budgets are read as stored); the report only counts, sums and averages them over the year.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.report.base import (
    DAY_US,
    ReportError,
    Series,
    StationInfo,
    date_us,
    in_year,
    iso_day,
    mean_or_none,
    pick,
    year_bounds_us,
)
from streams.indicators.ecology import bloom, carbon, chemistry, heatwave, oxygen, wetland
from streams.indicators.ecology.gapfill import PPFD_PER_RG, GapFilledBudget, gap_filled_budget, on_grid

SST_VARS = (heatwave.TEMPERATURE,)
DO_VARS = (oxygen.OXYGEN,)
CHL_VARS = (bloom.CHLOROPHYLL,)
PH_VARS = (chemistry.PH,)
SALINITY_VARS = (chemistry.SALINITY,)
MARINE_VARS = (*SST_VARS, *DO_VARS, *CHL_VARS, *PH_VARS, *SALINITY_VARS)
CARBON_VARS = (carbon.CO2_FLUX, carbon.CH4_FLUX)
PAR = "par_umol_m2_s"
USTAR = "friction_velocity_m_s"
AIR_TEMPERATURE = "air_temperature_degC"
# QC-good half-hours the gap filling reads from the observations (the stream stores no half-hourly fluxes)
GAPFILL_VARS = (*CARBON_VARS, PAR, USTAR, AIR_TEMPERATURE)
BLOOM_LEVELS = (bloom.WATCH, bloom.WARNING, bloom.BLOOM)
SEASONS = ("DJF", "MAM", "JJA", "SON")
# a site's year is called sink or source only when at least this share of its half-hours was measured
VERDICT_MIN_COVERAGE_PCT = 50.0


@dataclass(frozen=True)
class HeatwaveEvent:
    start_day: str
    duration_d: float
    intensity_max_degC: float
    intensity_cumulative_degC_d: float
    category: int


@dataclass(frozen=True)
class Heatwaves:
    events: int  # events starting in the year
    days: int  # days of the year inside an event
    events_by_category: dict[int, int]
    strongest: HeatwaveEvent | None  # largest maximum intensity


@dataclass(frozen=True)
class Hypoxia:
    episodes: int
    episode_hours: float
    longest_h: float | None
    lowest_mg_l: float | None  # lowest stored daily minimum DO of the year (do_daily_min_mg_l)
    hours_below: dict[int, float]  # GB 3097 class limit (mg/L) -> hours at or below it
    hours_measured: float


@dataclass(frozen=True)
class MarineRow:
    """One station's marine year; a part is None where the station measures it but nothing is stored
    (and is absent from ``parts`` where the station does not measure it)."""

    station: StationInfo
    parts: tuple[str, ...]
    sst_mean_degC: float | None
    sst_days: int
    sst_anomaly_degC: float | None  # mean over days with both SST and climatology; None: no climatology
    heatwaves: Heatwaves | None
    hypoxia: Hypoxia | None
    bloom_days: dict[int, int] | None  # risk level -> days at that level
    bloom_days_assessed: int
    ph_mean: float | None
    ph_days: int
    ph_trend_per_yr: tuple[str, float] | None  # the stored trailing-365-day trend of the year's last day
    salinity_mean_psu: float | None
    salinity_range_psu: tuple[float, float] | None
    salinity_anomaly_mean_psu: float | None

    @property
    def has_data(self) -> bool:
        found = (self.sst_days, self.heatwaves, self.hypoxia, self.bloom_days_assessed, self.ph_days)
        return any(found) or self.salinity_mean_psu is not None


def _heatwaves(series: Series, sid: str, year: int) -> Heatwaves | None:
    clim_t, _ = in_year(series, sid, heatwave.CLIMATOLOGY, year)
    if clim_t.size == 0:
        return None
    start_t, dur = in_year(series, sid, heatwave.EVENT_DURATION, year)
    _, day_n = in_year(series, sid, heatwave.DAY_N, year)

    def at_starts(indicator: str) -> np.ndarray:
        t, v = in_year(series, sid, indicator, year)
        return np.array([v[t == s][0] if np.any(t == s) else np.nan for s in start_t])

    peak, cumulative, category = (
        at_starts(i) for i in (heatwave.EVENT_MAX, heatwave.EVENT_CUMULATIVE, heatwave.EVENT_CATEGORY)
    )
    by_cat = {k: int(np.sum(category == k)) for k in range(1, heatwave.MAX_CATEGORY + 1)}
    strongest = None
    if start_t.size and np.isfinite(peak).any():
        i = int(np.nanargmax(peak))
        strongest = HeatwaveEvent(
            iso_day(start_t[i]), float(dur[i]), float(peak[i]), float(cumulative[i]), int(category[i])
        )
    return Heatwaves(int(start_t.size), int(np.sum(day_n > 0)), by_cat, strongest)


def _hypoxia(series: Series, sid: str, year: int) -> Hypoxia | None:
    measured_t, measured = in_year(series, sid, oxygen.HOURS_MEASURED, year)
    if measured_t.size == 0:
        return None
    _, durations = in_year(series, sid, oxygen.HYPOXIA_DURATION, year)
    _, lows = in_year(series, sid, oxygen.DAILY_MIN, year)  # the year's lowest daily minimum
    below = {
        limit: float(np.sum(in_year(series, sid, name, year)[1]))
        for limit, name in zip(oxygen.CLASS_LIMITS_MG_L, oxygen.HOURS_BELOW, strict=True)
    }
    return Hypoxia(
        episodes=int(durations.size),
        episode_hours=float(np.sum(durations)),
        longest_h=float(np.max(durations)) if durations.size else None,
        lowest_mg_l=float(np.min(lows)) if lows.size else None,
        hours_below=below,
        hours_measured=float(np.sum(measured)),
    )


def marine_row(st: StationInfo, series: Series, year: int) -> MarineRow:
    sid = st.id
    parts = tuple(
        name
        for name, variables in (
            ("sst", SST_VARS),
            ("hypoxia", DO_VARS),
            ("bloom", CHL_VARS),
            ("ph", PH_VARS),
            ("salinity", SALINITY_VARS),
        )
        if st.measures(*variables)
    )
    sst_t, sst = in_year(series, sid, heatwave.SST_DAILY, year)
    clim_t, clim = in_year(series, sid, heatwave.CLIMATOLOGY, year)
    both, i_sst, i_clim = np.intersect1d(sst_t, clim_t, return_indices=True)
    anomaly = float(np.mean(sst[i_sst] - clim[i_clim])) if both.size else None
    risk_t, risk = in_year(series, sid, bloom.BLOOM_RISK, year)
    ph_t, ph = in_year(series, sid, chemistry.PH_DAILY, year)
    trend_t, trend = in_year(series, sid, chemistry.PH_TREND, year)
    _, sal = in_year(series, sid, chemistry.SALINITY_DAILY, year)
    _, sal_anom = in_year(series, sid, chemistry.SALINITY_ANOMALY, year)
    return MarineRow(
        station=st,
        parts=parts,
        sst_mean_degC=mean_or_none(sst),
        sst_days=int(sst.size),
        sst_anomaly_degC=anomaly,
        heatwaves=_heatwaves(series, sid, year),
        hypoxia=_hypoxia(series, sid, year),
        bloom_days={k: int(np.sum(risk == k)) for k in BLOOM_LEVELS} if risk_t.size else None,
        bloom_days_assessed=int(risk_t.size),
        ph_mean=mean_or_none(ph),
        ph_days=int(ph_t.size),
        ph_trend_per_yr=(iso_day(trend_t[-1]), float(trend[-1])) if trend_t.size else None,
        salinity_mean_psu=mean_or_none(sal),
        salinity_range_psu=(float(sal.min()), float(sal.max())) if sal.size else None,
        salinity_anomaly_mean_psu=mean_or_none(sal_anom),
    )


@dataclass(frozen=True)
class WetlandRow:
    station: StationInfo
    platform_m: float | None
    frequency_pct: np.ndarray  # 12 months, NaN where nothing is stored
    frequency_year_pct: float | None  # mean of the year's stored daily inundation frequencies
    hydroperiod_h: np.ndarray  # 12 months
    salt_intrusion_days: int | None
    salinity_days: int
    porewater_max_psu: float | None
    salinity_limit_psu: float | None

    @property
    def has_data(self) -> bool:
        return bool(
            np.isfinite(self.frequency_pct).any()
            or np.isfinite(self.hydroperiod_h).any()
            or self.salinity_days
        )


def _by_month(t: np.ndarray, v: np.ndarray, year: int) -> np.ndarray:
    out = np.full(12, np.nan)
    for m in range(12):
        sel = t == date_us(year, m + 1, 1)
        if sel.any():
            out[m] = float(v[sel][0])
    return out


def wetland_row(st: StationInfo, series: Series, year: int) -> WetlandRow:
    sid = st.id
    ft, fv = in_year(series, sid, wetland.FREQUENCY_MONTHLY, year)
    ht, hv = in_year(series, sid, wetland.HYDROPERIOD_MONTHLY, year)
    salt_t, salt = in_year(series, sid, chemistry.SALT_INTRUSION, year)
    _, pw = in_year(series, sid, chemistry.POREWATER_DAILY, year)
    return WetlandRow(
        station=st,
        platform_m=st.thresholds.get("marsh_platform_m"),
        frequency_pct=_by_month(ft, fv, year),
        frequency_year_pct=mean_or_none(in_year(series, sid, wetland.FREQUENCY_DAILY, year)[1]),
        hydroperiod_h=_by_month(ht, hv, year),
        salt_intrusion_days=int(np.sum(salt == 1)) if salt_t.size else None,
        salinity_days=int(salt_t.size),
        porewater_max_psu=float(pw.max()) if pw.size else None,
        salinity_limit_psu=st.thresholds.get("porewater_salinity_limit_psu"),
    )


def is_wetland(st: StationInfo) -> bool:
    return st.kind == "wetland" or "marsh_platform_m" in st.thresholds


@dataclass(frozen=True)
class CarbonBudget:
    """One period's stored balance (g C m-2 or g CO2-eq m-2; negative = uptake) and its coverage (%)."""

    label: str
    nee_gC_m2: float
    ch4_gC_m2: float
    ch4_co2eq_g_m2: float
    net_gC_m2: float
    ghg_co2eq_g_m2: float
    coverage_pct: float


@dataclass(frozen=True)
class CarbonRow:
    station: StationInfo
    year: CarbonBudget | None
    uncertainty_gC_m2: float | None
    verdict: str  # sink | source | uncertain | no data
    seasons: list[CarbonBudget]
    cumulative: tuple[np.ndarray, np.ndarray]  # day starts µs, net carbon since 1 January (g C m-2)
    # the year u*-filtered and MDS gap filled from the half-hours (None: no half-hourly CO2 flux read),
    # over the UTC days (first, last) from the first to the last measured CO2 half-hour
    gap_filled: GapFilledBudget | None = None
    gap_filled_span: tuple[str, str] | None = None

    @property
    def has_data(self) -> bool:
        return bool(self.year or self.seasons or self.cumulative[0].size)


def _budget(series: Series, sid: str, period: str, key_us: int, label: str) -> CarbonBudget | None:
    nee, ch4, ch4_eq, net, ghg, _, _, cov, _ = carbon.period_ids(period)
    values = []
    for indicator in (nee, ch4, ch4_eq, net, ghg, cov):
        _, v = pick(series, sid, indicator, key_us, key_us + 1)
        if v.size == 0:
            return None
        values.append(float(v[0]))
    return CarbonBudget(label, *values)


def gap_uncertainty_gC_m2(budget: CarbonBudget) -> float | None:
    """What the unmeasured half-hours would add if they were like the measured ones:
    |net| x (100 - coverage) / coverage. Not gap filling: a size for the reader, the sum stays measured."""
    if budget.coverage_pct <= 0:
        return None
    return abs(budget.net_gC_m2) * (100.0 - budget.coverage_pct) / budget.coverage_pct


def carbon_verdict(budget: CarbonBudget | None) -> str:
    if budget is None:
        return "no data"
    if budget.coverage_pct < VERDICT_MIN_COVERAGE_PCT:
        return "uncertain"
    return "sink" if budget.net_gC_m2 < 0 else "source"


def ustar_threshold_m_s(st: StationInfo) -> float | None:
    """The station's u* threshold (registry `thresholds.ustar_threshold_m_s`); refused when not > 0."""
    value = st.thresholds.get("ustar_threshold_m_s")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise ReportError(
            f"station {st.id!r}: thresholds.ustar_threshold_m_s must be a number > 0, got {value!r}"
        )
    return float(value)


def gap_filled_year(
    st: StationInfo, half_hours: Series, year: int
) -> tuple[GapFilledBudget, tuple[str, str]] | None:
    """The budget gap filled from the station's QC-good flux half-hours of the year (Rg from PAR / 2.11;
    u* threshold from the registry, else estimated from the data), over the UTC days from its first to
    its last measured CO2 half-hour: a station that started in May, or a year still running, is not
    extrapolated over months it never measured. Returns the budget and that span (first, last day)."""
    if (st.id, carbon.CO2_FLUX) not in half_hours:
        return None
    year_start_us, year_end_us = year_bounds_us(year)
    t_co2 = half_hours[st.id, carbon.CO2_FLUX][0]
    t_co2 = t_co2[(t_co2 >= year_start_us) & (t_co2 < year_end_us)]
    if t_co2.size == 0:
        return None
    start_us = year_start_us + (int(t_co2.min()) - year_start_us) // DAY_US * DAY_US
    end_us = min(year_end_us, year_start_us + ((int(t_co2.max()) - year_start_us) // DAY_US + 1) * DAY_US)

    def grid(variable: str) -> np.ndarray | None:
        if (st.id, variable) not in half_hours or not st.measures(variable):
            return None
        return on_grid(*half_hours[st.id, variable], start_us, end_us, st.sampling_interval_s)

    par, co2 = grid(PAR), grid(carbon.CO2_FLUX)
    if co2 is None:  # CO2 half-hours stored for a station whose registry entry no longer measures it
        return None
    step_us = round(st.sampling_interval_s * 1e6)
    middles = start_us + (np.arange(co2.size) * step_us + step_us // 2)
    month = middles.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12 + 1
    budget = gap_filled_budget(
        co2,
        interval_s=st.sampling_interval_s,
        ch4_nmol_m2_s=grid(carbon.CH4_FLUX),
        rg_w_m2=None if par is None else par / PPFD_PER_RG,
        ustar_m_s=grid(USTAR),
        ustar_threshold_m_s=ustar_threshold_m_s(st),
        tair_degC=grid(AIR_TEMPERATURE),
        month=month,
    )
    return budget, (iso_day(start_us), iso_day(end_us - DAY_US))


def carbon_row(st: StationInfo, series: Series, year: int, half_hours: Series | None = None) -> CarbonRow:
    start_us, _ = year_bounds_us(year)
    filled = gap_filled_year(st, half_hours, year) if half_hours else None
    budget = _budget(series, st.id, "year", start_us, str(year))
    season_starts = (date_us(year - 1, 12, 1), date_us(year, 3, 1), date_us(year, 6, 1), date_us(year, 9, 1))
    seasons = [
        b
        for name, key in zip(SEASONS, season_starts, strict=True)
        if (b := _budget(series, st.id, "season", key, name)) is not None
    ]
    return CarbonRow(
        station=st,
        year=budget,
        uncertainty_gC_m2=gap_uncertainty_gC_m2(budget) if budget else None,
        verdict=carbon_verdict(budget),
        seasons=seasons,
        cumulative=in_year(series, st.id, carbon.CUMULATIVE_IDS[2], year),
        gap_filled=filled[0] if filled else None,
        gap_filled_span=filled[1] if filled else None,
    )


def report_indicator_ids() -> list[str]:
    """Every stored ecological indicator id the sections read (the per-reading ones are not needed)."""
    ids = [
        heatwave.SST_DAILY, heatwave.CLIMATOLOGY, heatwave.DAY_N, *heatwave.EVENT_IDS,
        *oxygen.DAILY_IDS, oxygen.HYPOXIA_DURATION, oxygen.HYPOXIA_MIN,
        bloom.BLOOM_RISK, chemistry.PH_DAILY, chemistry.PH_TREND, chemistry.SALINITY_DAILY,
        chemistry.SALINITY_ANOMALY, chemistry.POREWATER_DAILY, chemistry.SALT_INTRUSION,
        wetland.FREQUENCY_MONTHLY, wetland.FREQUENCY_DAILY, wetland.HYDROPERIOD_MONTHLY,
        carbon.CUMULATIVE_IDS[2],
    ]  # fmt: skip
    for period in ("season", "year"):
        ids += list(carbon.period_ids(period))
    return ids
