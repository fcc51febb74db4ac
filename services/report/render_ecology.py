"""HTML of the marine-ecology, wetland and blue-carbon sections (numbers from services.report.ecology)."""

from __future__ import annotations

from typing import TypeVar

import numpy as np

from services.report.assemble import Report
from services.report.base import StationInfo, in_year
from services.report.ecology import BLOOM_LEVELS, USTAR, CarbonRow, MarineRow, WetlandRow
from services.report.figures import inline_img, lines_png, monthly_bars_png
from services.report.text import Text
from streams.indicators.ecology import heatwave
from streams.indicators.ecology.oxygen import CLASS_LIMITS_MG_L

Row = TypeVar("Row", MarineRow, WetlandRow, CarbonRow)
BLOOM_WORDS = {1: ("关注", "watch"), 2: ("预警", "warning"), 3: ("藻华", "bloom")}


def _part(row: MarineRow, part: str, t: Text, value: object | None, text: str) -> str:
    if part not in row.parts:
        return t.not_measured
    return t.no_data if value is None else text


def marine_section(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>4. {t('海洋生态', 'Marine ecology')}</h2>"]
    if not report.marine:
        return [
            *parts,
            t.missing(
                t(
                    "范围内无测量水温、溶解氧、叶绿素、pH 或盐度的站",
                    "no station in this scope measures water temperature, DO, chlorophyll, pH or salinity",
                )
            ),
        ]
    marine, empty = _split(report.marine)
    if empty:
        parts.append(t.missing(t.no_data_for(empty, report.inputs.year)))
    if not marine:
        return parts
    rows = []
    for r in marine:
        mhw = r.heatwaves
        sst_text = _part(r, "sst", t, r.sst_mean_degC, f"{r.sst_mean_degC or 0:.2f} ({r.sst_days} d)")
        anomaly = (
            t("无气候态", "no climatology")
            if r.sst_anomaly_degC is None and r.sst_days
            else _part(r, "sst", t, r.sst_anomaly_degC, f"{r.sst_anomaly_degC or 0:+.2f}")
        )
        cats = ", ".join(f"{k}: {n}" for k, n in mhw.events_by_category.items()) if mhw else ""
        strong = mhw.strongest if mhw else None
        rows.append(
            [
                t.station(r.station),
                sst_text,
                anomaly,
                _part(r, "sst", t, mhw, f"{mhw.events} / {mhw.days} d" if mhw else ""),
                _part(r, "sst", t, mhw, cats),
                _part(
                    r,
                    "sst",
                    t,
                    strong,
                    f"{strong.start_day}, {strong.duration_d:.0f} d, {strong.intensity_max_degC:.2f} °C, "
                    f"{strong.intensity_cumulative_degC_d:.1f} °C·d, cat {strong.category}"
                    if strong
                    else "",
                ),
            ]
        )
    parts.append(f"<h3>{t('海温与海洋热浪', 'Sea temperature and marine heatwaves')}</h3>")
    parts.append(
        t.table(
            [
                t("站", "station"),
                t("年均海温", "mean SST") + " (°C, days)",
                t("海温距平", "SST anomaly") + " (°C)",
                t("热浪次数/天数", "heatwaves: events / days") + " (count, d)",
                t("按等级次数", "events by category") + " (1 moderate … 4 extreme)",
                t("最强热浪", "strongest event") + " (start, d, max °C, cumulative °C·d, category)",
            ],
            rows,
        )
    )
    anomalies = {}
    for r in marine:
        sst_t, sst = _pair(report, r.station.id, heatwave.SST_DAILY)
        clim_t, clim = _pair(report, r.station.id, heatwave.CLIMATOLOGY)
        both, i, j = np.intersect1d(sst_t, clim_t, return_indices=True)
        if both.size:
            anomalies[t.station_short(r.station)] = (both, sst[i] - clim[j])
    if anomalies:
        parts.append(
            inline_img(
                lines_png(
                    anomalies,
                    t("日海温距平", "daily SST anomaly") + f" {report.inputs.year}",
                    "°C",
                    zero=True,
                    xlabel=t("月 (UTC)", "month (UTC)"),
                ),
                "sst-anomaly",
            )
        )
    parts.append(
        f"<h3>{t('低氧（GB 3097-1997 溶解氧类别限值）', 'Hypoxia (GB 3097-1997 DO class limits)')}</h3>"
    )
    rows = []
    for r in marine:
        h = r.hypoxia
        if "hypoxia" not in r.parts:
            continue
        if h is None:
            rows.append([t.station(r.station)] + [t.no_data] * (4 + len(CLASS_LIMITS_MG_L)))
            continue
        rows.append(
            [
                t.station(r.station),
                f"{h.hours_measured:.1f}",
                str(h.episodes),
                f"{h.episode_hours:.1f}" + ("" if h.longest_h is None else f" ({h.longest_h:.1f})"),
                t.num(h.lowest_mg_l, 2),
            ]
            + [f"{h.hours_below[k]:.1f}" for k in CLASS_LIMITS_MG_L]
        )
    if rows:
        parts.append(
            t.table(
                [
                    t("站", "station"),
                    t("监测时数", "hours measured") + " (h)",
                    t("低氧过程", "hypoxia episodes") + " (< 2 mg/L)",
                    t("过程时数（最长）", "episode hours (longest)") + " (h)",
                    t("最低溶解氧", "lowest DO") + " (mg/L)",
                ]
                + [t(f"≤ {k} mg/L 时数", f"hours ≤ {k} mg/L") + " (h)" for k in CLASS_LIMITS_MG_L],
                rows,
            )
        )
    else:
        parts.append(t.missing(t("范围内无溶解氧监测", "no station in this scope measures dissolved oxygen")))
    parts.append(f"<h3>{t('藻华风险、酸化与盐度', 'Bloom risk, acidification and salinity')}</h3>")
    rows = []
    for r in marine:
        bloom = (
            ", ".join(f"{t(*BLOOM_WORDS[k])} {r.bloom_days[k]}" for k in BLOOM_LEVELS) if r.bloom_days else ""
        )
        trend = r.ph_trend_per_yr
        sal = r.salinity_range_psu
        rows.append(
            [
                t.station(r.station),
                _part(r, "bloom", t, r.bloom_days, f"{bloom} ({r.bloom_days_assessed} d)"),
                _part(r, "ph", t, r.ph_mean, f"{r.ph_mean or 0:.3f} ({r.ph_days} d)"),
                _part(r, "ph", t, trend, f"{trend[1]:+.4f} ({trend[0]})" if trend else ""),
                _part(
                    r,
                    "salinity",
                    t,
                    r.salinity_mean_psu,
                    f"{r.salinity_mean_psu or 0:.2f} [{sal[0]:.2f}, {sal[1]:.2f}]" if sal else "",
                ),
                _part(
                    r, "salinity", t, r.salinity_anomaly_mean_psu, f"{r.salinity_anomaly_mean_psu or 0:+.2f}"
                ),
            ]
        )
    parts.append(
        t.table(
            [
                t("站", "station"),
                t("藻华风险天数", "bloom-risk days by level") + " (d; days assessed)",
                t("pH 年均值", "pH mean") + " (total scale; days)",
                t("pH 趋势", "pH trend") + " (yr-1; last 365 d to)",
                t("盐度均值 [范围]", "salinity mean [range]") + " (PSU)",
                t("盐度距平均值", "mean salinity anomaly") + " (PSU)",
            ],
            rows,
        )
    )
    return parts


def _pair(report: Report, sid: str, indicator: str) -> tuple[np.ndarray, np.ndarray]:
    return in_year(report.inputs.series, sid, indicator, report.inputs.year)


def wetland_section(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>5. {t('湿地', 'Wetlands')}</h2>"]
    if not report.wetlands:
        return [*parts, t.missing(t("范围内无湿地站", "no wetland station in this scope"))]
    wetlands, empty = _split(report.wetlands)
    if empty:
        parts.append(t.missing(t.no_data_for(empty, report.inputs.year)))
    if not wetlands:
        return parts
    head = (
        [t("站", "station"), t("量", "quantity")] + [f"{m:02d}" for m in range(1, 13)] + [t("全年", "year")]
    )
    rows = []
    for w in wetlands:
        name = t.station(w.station)
        freq = [t.num(None) if np.isnan(v) else f"{v:.1f}" for v in w.frequency_pct]
        hyd = [t.num(None) if np.isnan(v) else f"{v:.0f}" for v in w.hydroperiod_h]
        total = float(np.nansum(w.hydroperiod_h)) if np.isfinite(w.hydroperiod_h).any() else None
        rows.append(
            [name, t("淹水频率", "inundation frequency") + " (%)", *freq, t.num(w.frequency_year_pct)]
        )
        rows.append([name, t("淹水时数", "hydroperiod") + " (h)", *hyd, t.num(total, 0)])
    parts.append(t.table(head, rows))
    rows = []
    for w in wetlands:
        rows.append(
            [
                t.station(w.station),
                t.num(w.platform_m, 2),
                t.num(w.salinity_limit_psu, 1),
                t.no_data
                if w.salt_intrusion_days is None
                else f"{w.salt_intrusion_days} / {w.salinity_days}",
                t.num(w.porewater_max_psu, 2),
            ]
        )
    parts.append(
        t.table(
            [
                t("站", "station"),
                t("滩面高程", "marsh platform") + " (m above datum)",
                t("孔隙水盐度限值", "porewater salinity limit") + " (PSU)",
                t("盐水入侵天数", "salt-intrusion days") + " (d / days measured)",
                t("孔隙水日均盐度最大值", "highest daily porewater salinity") + " (PSU)",
            ],
            rows,
        )
    )
    bars = {
        t.station_short(w.station): w.frequency_pct
        for w in report.wetlands
        if np.isfinite(w.frequency_pct).any()
    }
    if bars:
        parts.append(
            inline_img(
                monthly_bars_png(
                    bars, t("逐月淹水频率", "inundation frequency by month"), "%", t("月", "month")
                ),
                "inundation",
            )
        )
    return parts


def carbon_section(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>6. {t('蓝碳', 'Blue carbon')}</h2>"]
    if not report.carbon:
        return [
            *parts,
            t.missing(t("范围内无涡度通量站", "no eddy-covariance (CO2/CH4 flux) station in this scope")),
        ]
    parts.append(
        "<p class='note'>"
        + t(
            "FLUXNET 符号：负值为吸收；本表仅累加 QC 良好的半小时，不插补（插补后的收支见下表）；"
            "不确定度 = |净收支| × (100 − 覆盖率) / 覆盖率",
            "FLUXNET signs: negative = uptake; this table sums only QC-good half-hours, nothing gap-filled "
            "(the gap-filled budget follows); "
            "uncertainty = |net| × (100 − coverage) / coverage (what the unmeasured half-hours would add "
            "at the measured rate)",
        )
        + "</p>"
    )
    carbon, empty = _split(report.carbon)
    if empty:
        parts.append(t.missing(t.no_data_for(empty, report.inputs.year)))
    if not carbon:
        return parts
    head = [
        t("站", "site"),
        t("时段", "period"),
        "NEE (g C m-2)",
        "CH4 (g C m-2)",
        "CH4 (g CO2-eq m-2)",
        t("净碳收支", "net carbon") + " (g C m-2)",
        t("温室气体净收支", "net GHG") + " (g CO2-eq m-2)",
        t("覆盖率", "coverage") + " (%)",
        t("不确定度", "uncertainty") + " (± g C m-2)",
        t("判定", "verdict"),
    ]
    rows = []
    for c in carbon:
        name = t.station(c.station)
        if c.year is None and not c.seasons:
            rows.append([name, str(report.inputs.year)] + [t.no_data] * 8)
            continue
        for b in ([c.year] if c.year else []) + c.seasons:
            is_year = b is c.year
            rows.append(
                [
                    name,
                    b.label,
                    f"{b.nee_gC_m2:.2f}",
                    f"{b.ch4_gC_m2:.3f}",
                    f"{b.ch4_co2eq_g_m2:.2f}",
                    f"{b.net_gC_m2:.2f}",
                    f"{b.ghg_co2eq_g_m2:.2f}",
                    f"{b.coverage_pct:.1f}",
                    t.num(c.uncertainty_gC_m2, 2) if is_year else "",
                    t.verdict(c.verdict) if is_year else "",
                ]
            )
    parts.append(t.table(head, rows))
    parts += gap_filled_table(carbon, report.inputs.year, t)
    lines = {t.station_short(c.station): c.cumulative for c in carbon if c.cumulative[0].size}
    if lines:
        parts.append(
            inline_img(
                lines_png(
                    lines,
                    t("全年累计净碳收支", "cumulative net carbon through the year")
                    + f" {report.inputs.year}",
                    "g C m-2",
                    zero=True,
                    xlabel=t("月 (UTC)", "month (UTC)"),
                ),
                "carbon",
            )
        )
    else:
        parts.append(t.missing(t("无逐日累计碳收支", "no daily cumulative carbon stored")))
    return parts


def _split(rows: list[Row]) -> tuple[list[Row], list[StationInfo]]:
    """Rows with stored data, and the stations that should have some but have none (named, not hidden)."""
    return [r for r in rows if r.has_data], [r.station for r in rows if not r.has_data]


def gap_filled_table(carbon: list[CarbonRow], year: int, t: Text) -> list[str]:
    """The year u*-filtered and MDS gap filled, beside the measured-only sum and its coverage."""
    filled = [c for c in carbon if c.gap_filled is not None]
    if not filled:
        return []
    note = t(
        "插补后的年收支：有 u* 观测时先剔除夜间 u* 低于阈值的半小时"
        "（站点配置的阈值，否则用移动点法由当年数据估计）；再按 REddyProc 的边际分布采样法 (MDS) 插补"
        "（无 VPD 观测，仅以 Rg = PAR / 2.11 查表，另用平均日变化）。"
        "± 为 1σ：随机误差（按残差自相关计算有效样本数），估计阈值时另加 u* 阈值不确定度"
        "（自助法 5–95 % 阈值下 NEE 之差 / 3.29）。实测值为 u* 筛后 QC 良好半小时之和。"
        "时段：当年首个至末个实测 CO2 半小时所在日（不外推）。",
        "Gap-filled year: where u* is measured, night-time half-hours below the u* threshold are dropped "
        "first (the station's threshold, else the moving point test's on the year); then the gaps are "
        "filled by marginal distribution sampling (MDS) as REddyProc does (no VPD measured: look-up "
        "tables on Rg = PAR / 2.11 only, then the mean diurnal course). ± is 1σ: the random error "
        "(effective number of observations from the residuals' autocorrelation) and, for an estimated "
        "threshold, the u* part (NEE at the bootstrap 5 % and 95 % thresholds, difference / 3.29). "
        "Measured = the QC-good half-hours after the u* filter. Period: the UTC days from the first to the "
        "last measured CO2 half-hour of the year (never extrapolated beyond them).",
    )
    head = [
        t("站", "site"),
        t("时段", "period"),
        "NEE " + t("插补", "gap-filled") + " (g C m-2)",
        "CH4 " + t("插补", "gap-filled") + " (g C m-2)",
        t("净碳收支 插补", "net carbon gap-filled") + " (g C m-2)",
        t("净碳收支 实测 (u* 筛后)", "net carbon measured (after u* filter)") + " (g C m-2)",
        t("NEE 覆盖率 (u* 筛后)", "NEE coverage (after u* filter)") + " (%)",
        t("u* 剔除", "u* removed") + " (%)",
        t("插补质量 1/2/3", "fill quality 1/2/3") + " (%)",
    ]

    def pm(value: float, sd: float | None, digits: int) -> str:
        return f"{value:.{digits}f}" + ("" if sd is None else f" ± {sd:.{digits}f}")

    rows = []
    for c in filled:
        b = c.gap_filled
        assert b is not None and c.gap_filled_span is not None  # filled: the rows with a budget
        ch4 = b.ch4
        measured = b.nee.measured_gC_m2 + (ch4.measured_gC_m2 if ch4 else 0.0)
        ustar = ustar_cell(c, t)
        rows.append(
            [
                t.station(c.station),
                "–".join(c.gap_filled_span),
                pm(b.nee.filled_gC_m2, b.nee_sd_gC_m2, 1),
                t.no_data if ch4 is None else pm(ch4.filled_gC_m2, ch4.sd_gC_m2, 3),
                pm(b.net_gC_m2, b.net_sd_gC_m2, 1),
                f"{measured:.1f}",
                f"{b.nee.coverage_pct:.1f}",
                ustar,
                "/".join(f"{b.nee.quality_pct[q]:.0f}" for q in (1, 2, 3))
                + (f", {t('未能插补', 'unfilled')} {b.nee.unfilled_pct:.1f}" if b.nee.unfilled_pct else ""),
            ]
        )
    title = f"<h3>{t('插补后的年收支', 'Gap-filled annual budget')} {year}</h3>"
    return [title, f"<p class='note'>{note}</p>", t.table(head, rows)]


def ustar_cell(c: CarbonRow, t: Text) -> str:
    """What the u* filter did: the share removed, the threshold and where it came from."""
    b = c.gap_filled
    assert b is not None  # asked only of rows with a budget
    if b.ustar_removed_pct is None:
        if c.station.measures(USTAR):
            return t("有 u* 观测，未找到阈值，未筛", "u* measured, no threshold found: not filtered")
        return t("无 u* 观测", "no u* measured")
    source = t("站点配置", "registry") if b.ustar_source == "registry" else t("数据估计", "estimated")
    text = f"{b.ustar_removed_pct:.1f} (u* < {b.ustar_threshold_m_s:.3f} m s-1, {source}"
    if b.ustar_quantiles_m_s:
        low, high = b.ustar_quantiles_m_s[0], b.ustar_quantiles_m_s[-1]
        text += f"; 5–95 %: {low:.3f}–{high:.3f}"
        if b.nee_ustar_range_gC_m2:
            text += " → NEE " + "…".join(f"{v:.1f}" for v in b.nee_ustar_range_gC_m2)
    return text + ")"
