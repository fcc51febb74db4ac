"""Ecological indicator records and the catalogue of their ids.

Ids carry their unit; the catalogue says for each id what it means, which readings feed it, which
parameters shape it and how it is computed, for the README table and for auditors. Keys: per-reading
ids at the reading time; daily ids at 00:00 UTC of the day; monthly/season/year ids at the first day
of the period (seasons DJF/MAM/JJA/SON, DJF from 1 December); event and episode ids at their start.
"""

from __future__ import annotations

from schemas.indicators import IndicatorSpec
from streams.indicators.ecology import bloom, carbon, chemistry, heatwave, oxygen, wetland

_DO_IN = "dissolved_oxygen_mg_l"
_SAT_IN = "dissolved_oxygen_mg_l, water_temperature_degC, salinity_psu"
_SST_IN = "water_temperature_degC + climatology"
_LEVEL_IN = "water_level_m"
_FLUX_IN = "co2_flux_umol_m2_s, ch4_flux_nmol_m2_s"
_GC = "g C m-2"
_CO2EQ = "g CO2-eq m-2"
_PERIOD_WORDS = {"daily": "UTC day", "season": "meteorological season", "year": "calendar year"}


def _oxygen_specs() -> list[IndicatorSpec]:
    specs = [
        IndicatorSpec(
            oxygen.SATURATION,
            "%",
            "Oxygen saturation of each reading",
            _SAT_IN,
            "sensor_pressure_dbar (0), station position",
            "100 x DO / gsw.O2sol_SP_pt(SP, pt0); mg/L -> µmol/kg with 1000/31.9988 and gsw.rho (TEOS-10); "
            "solubility at 1 atm; readings matched by identical time",
        ),
        IndicatorSpec(oxygen.DAILY_MIN, "mg L-1", "Lowest DO reading of the UTC day", _DO_IN, "-", "min"),
        IndicatorSpec(
            oxygen.HOURS_MEASURED,
            "h",
            "Hours of the UTC day with a DO reading",
            _DO_IN,
            "sampling_interval_s",
            "readings x interval, at most 24",
        ),
        IndicatorSpec(
            oxygen.HYPOXIA_DURATION,
            "h",
            "Duration of a hypoxia episode (key: first reading below)",
            _DO_IN,
            "hypoxia_mg_l (2), hypoxia_max_gap_s (3 intervals)",
            "run of consecutive readings < limit, ended by a reading >= limit or a gap > max gap; "
            "last - first reading + one interval; end = key + duration",
        ),
        IndicatorSpec(
            oxygen.HYPOXIA_MIN,
            "mg L-1",
            "Lowest DO of a hypoxia episode (key: episode start)",
            _DO_IN,
            "as hypoxia_duration_h",
            "min over the episode",
        ),
    ]
    specs += [
        IndicatorSpec(
            name,
            "h",
            f"Hours of the UTC day at or below {limit} mg/L (GB 3097-1997 class limit)",
            _DO_IN,
            "sampling_interval_s",
            f"readings <= {limit} x interval, at most 24",
        )
        for name, limit in zip(oxygen.HOURS_BELOW, oxygen.CLASS_LIMITS_MG_L, strict=True)
    ]
    return specs


def _heatwave_specs() -> list[IndicatorSpec]:
    mhw = "mhw_min_duration_d (5), mhw_max_gap_d (2)"
    return [
        IndicatorSpec(
            heatwave.SST_DAILY, "degC", "Daily mean water temperature", "water_temperature_degC", "-", "mean"
        ),
        IndicatorSpec(
            heatwave.CLIMATOLOGY,
            "degC",
            "Seasonal SST climatology of the day",
            _SST_IN,
            "baseline years",
            "Hobday 2016: mean over baseline days within +/-5 days of the day of year (leap-year calendar), "
            "Feb 29 = mean of neighbours, 31-day circular moving average",
        ),
        IndicatorSpec(
            heatwave.THRESHOLD,
            "degC",
            "Heatwave threshold of the day",
            _SST_IN,
            "baseline years",
            "as climatology with the 90th percentile (numpy linear) instead of the mean",
        ),
        IndicatorSpec(
            heatwave.INTENSITY,
            "degC",
            "SST minus climatology (the heatwave intensity on event days)",
            _SST_IN,
            "-",
            "daily mean SST - climatology; 0 on a missing day inside an event",
        ),
        IndicatorSpec(
            heatwave.DAY_N,
            "d",
            "Day N of the heatwave the day belongs to; 0 outside",
            _SST_IN,
            mhw,
            "events: runs of >= 5 days with SST > threshold, runs <= 2 days apart joined",
        ),
        IndicatorSpec(
            heatwave.CATEGORY,
            "1",
            "Category of the ongoing heatwave so far: 0 none, 1 moderate, 2 strong, 3 severe, 4 extreme",
            _SST_IN,
            mhw,
            "max since event start of floor(1 + (SST - thresh) / (thresh - clim)), capped at 4",
        ),
        IndicatorSpec(
            heatwave.EVENT_DURATION,
            "d",
            "Duration of a heatwave (key: first day)",
            _SST_IN,
            mhw,
            "end - start + 1 (joined gap days included)",
        ),
        IndicatorSpec(
            heatwave.EVENT_MAX, "degC", "Maximum intensity of a heatwave", _SST_IN, mhw, "max of SST - clim"
        ),
        IndicatorSpec(
            heatwave.EVENT_MEAN, "degC", "Mean intensity of a heatwave", _SST_IN, mhw, "mean of SST - clim"
        ),
        IndicatorSpec(
            heatwave.EVENT_CUMULATIVE,
            "degC d",
            "Cumulative intensity of a heatwave",
            _SST_IN,
            mhw,
            "sum of SST - clim over the event days",
        ),
        IndicatorSpec(
            heatwave.EVENT_CATEGORY,
            "1",
            "Category of a heatwave (1-4)",
            _SST_IN,
            mhw,
            "Hobday 2018: category of the day with the largest (SST - thresh)/(thresh - clim)",
        ),
    ]


def _water_specs() -> list[IndicatorSpec]:
    base = "baseline_days (14), baseline_min_days (7)"
    return [
        IndicatorSpec(bloom.CHL_DAILY, "ug L-1", "Daily mean chlorophyll-a", "chlorophyll_ug_l", "-", "mean"),
        IndicatorSpec(
            bloom.CHL_BASELINE,
            "ug L-1",
            "Station's recent chlorophyll-a baseline",
            "chlorophyll_ug_l",
            base,
            "median of the daily means of the previous 14 days (>= 7 needed)",
        ),
        IndicatorSpec(
            bloom.BLOOM_RISK,
            "1",
            "Algal bloom risk: 0 none, 1 watch, 2 warning, 3 bloom",
            "chlorophyll_ug_l, ph_total, " + _SAT_IN,
            "chl_trigger_ug_l (10), chl_rise_factor (2), do_supersaturation_pct (120), ph_rise (0.1), "
            + base,
            "chl signal = daily mean >= trigger or >= factor x baseline; +1 for daily max saturation "
            ">= 120 %, +1 for daily mean pH - pH baseline (median of previous days) >= rise; "
            "3 needs the absolute trigger",
        ),
        IndicatorSpec(chemistry.PH_DAILY, "1", "Daily mean pH (total scale)", "ph_total", "-", "mean"),
        IndicatorSpec(
            chemistry.PH_TREND,
            "yr-1",
            "Recent pH trend",
            "ph_total",
            "ph_trend_days (365), ph_trend_min_days (30)",
            "least-squares slope of the daily means of the last 365 days x 365.25 (seasonality not removed)",
        ),
        IndicatorSpec(
            chemistry.SALINITY_DAILY, "1e-3", "Daily mean practical salinity", "salinity_psu", "-", "mean"
        ),
        IndicatorSpec(
            chemistry.SALINITY_ANOMALY,
            "1e-3",
            "Salinity minus the station baseline",
            "salinity_psu",
            "salinity_baseline_psu (none), salinity_baseline_days (30), baseline_min_days (7)",
            "daily mean - fixed baseline, or - mean of the previous 30 daily means",
        ),
        IndicatorSpec(
            chemistry.POREWATER_DAILY,
            "1e-3",
            "Daily mean porewater salinity",
            "porewater_salinity_psu",
            "-",
            "mean",
        ),
        IndicatorSpec(
            chemistry.SALT_INTRUSION,
            "1",
            "Salt intrusion: 1 if the daily mean porewater salinity exceeds the station limit",
            "porewater_salinity_psu",
            "porewater_salinity_limit_psu (station; 0.45 default)",
            "daily mean > limit",
        ),
        IndicatorSpec(
            wetland.ABOVE_PLATFORM,
            "m",
            "Highest water level above the marsh platform in the day (negative: never reached)",
            _LEVEL_IN,
            "marsh_platform_m (station)",
            "max(level) - platform",
        ),
        IndicatorSpec(
            wetland.FREQUENCY_DAILY,
            "%",
            "Share of the measured time of the day with the platform flooded",
            _LEVEL_IN,
            "marsh_platform_m",
            "readings > platform / readings",
        ),
        IndicatorSpec(
            wetland.HYDROPERIOD_DAILY,
            "h",
            "Hours of the day with the platform flooded",
            _LEVEL_IN,
            "marsh_platform_m, sampling_interval_s",
            "readings > platform x interval, at most 24",
        ),
        IndicatorSpec(
            wetland.FREQUENCY_MONTHLY,
            "%",
            "Inundation frequency of the calendar month",
            _LEVEL_IN,
            "marsh_platform_m",
            "flooded readings / readings of the month",
        ),
        IndicatorSpec(
            wetland.HYDROPERIOD_MONTHLY,
            "h",
            "Flooded hours of the calendar month",
            _LEVEL_IN,
            "marsh_platform_m, sampling_interval_s",
            "sum of the daily hydroperiods",
        ),
    ]


def _carbon_specs() -> list[IndicatorSpec]:
    params = "sampling_interval_s (1800), ch4_gwp100 (27)"
    specs = []
    for period in carbon.PERIODS:
        words = _PERIOD_WORDS[period]
        nee, ch4, ch4_eq, net, ghg, nee_cov, ch4_cov, cov, sink = carbon.period_ids(period)
        specs += [
            IndicatorSpec(
                nee,
                _GC,
                f"NEE carbon of the {words} (g C; negative = uptake)",
                "co2_flux_umol_m2_s",
                params,
                "sum of measured half-hours x 1e-6 x 12.011 x interval (0.02162 per 30 min)",
            ),
            IndicatorSpec(
                ch4,
                _GC,
                f"CH4 carbon of the {words} (g C)",
                "ch4_flux_nmol_m2_s",
                params,
                "sum of measured half-hours x 1e-9 x 12.011 x interval",
            ),
            IndicatorSpec(
                ch4_eq,
                _CO2EQ,
                f"CH4 of the {words} as g CO2-eq",
                "ch4_flux_nmol_m2_s",
                params,
                "CH4 g C x 16.043/12.011 x GWP100",
            ),
            IndicatorSpec(
                net,
                _GC,
                f"Net carbon balance of the {words} (g C; negative = sink)",
                _FLUX_IN,
                params,
                "NEE carbon + CH4 carbon",
            ),
            IndicatorSpec(
                ghg,
                _CO2EQ,
                f"Net greenhouse-gas balance of the {words} (g CO2-eq)",
                _FLUX_IN,
                params,
                "NEE g C x 44.009/12.011 + CH4 CO2-eq",
            ),
            IndicatorSpec(
                nee_cov,
                "%",
                f"Share of the {words}'s half-hours with a QC-good NEE",
                "co2_flux_umol_m2_s",
                params,
                "measured / (days x 86400 / interval)",
            ),
            IndicatorSpec(
                ch4_cov,
                "%",
                f"Share of the {words}'s half-hours with a QC-good CH4 flux",
                "ch4_flux_nmol_m2_s",
                params,
                "measured / expected",
            ),
            IndicatorSpec(
                cov,
                "%",
                f"Coverage of the {words}'s net balance",
                _FLUX_IN,
                params,
                "min(NEE coverage, CH4 coverage); no gap filling",
            ),
            IndicatorSpec(
                sink,
                "1",
                f"1 if the site was a carbon sink over the {words}, 0 a source",
                _FLUX_IN,
                params,
                "net carbon balance < 0 (read with the coverage)",
            ),
        ]
    words = "since 1 January (UTC), per day"
    nee, ch4, net, ghg = carbon.CUMULATIVE_IDS
    specs += [
        IndicatorSpec(
            nee, _GC, f"NEE carbon {words}", "co2_flux_umol_m2_s", params, "running sum of daily NEE"
        ),
        IndicatorSpec(ch4, _GC, f"CH4 carbon {words}", "ch4_flux_nmol_m2_s", params, "running sum"),
        IndicatorSpec(net, _GC, f"Net carbon balance {words}", _FLUX_IN, params, "running sum"),
        IndicatorSpec(
            ghg, _CO2EQ, f"Greenhouse-gas balance (CO2-eq) {words}", _FLUX_IN, params, "running sum"
        ),
    ]
    return specs


CATALOGUE: dict[str, IndicatorSpec] = {
    spec.id: spec for spec in (*_oxygen_specs(), *_heatwave_specs(), *_water_specs(), *_carbon_specs())
}


def catalogue_markdown() -> str:
    """The README table: id, definition, unit, inputs, parameters (defaults), method."""
    lines = ["| indicator | definition | unit | inputs | parameters | method |", "|---|---|---|---|---|---|"]
    lines += [
        f"| `{s.id}` | {s.definition} | {s.unit} | {s.inputs} | {s.parameters} | {s.method} |"
        for s in CATALOGUE.values()
    ]
    return "\n".join(lines) + "\n"
