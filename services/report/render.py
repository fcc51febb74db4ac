"""HTML (self-contained, figures inline) and PDF (WeasyPrint, Noto CJK embedded) of an assembled report.

The language is the report's ``lang``: ``zh`` (default) writes every label Chinese first, then English;
``en`` writes English only. Units go on every number and axis; a part without stored data says so.
"""

from __future__ import annotations

import html

from services.report.assemble import SEVERITIES, AlertRuleRow, HazardRow, Report, SeaLevelRow
from services.report.base import iso_minute
from services.report.figures import CJK_FONT, figure_png, inline_img
from services.report.render_ecology import carbon_section, marine_section, wetland_section
from services.report.scorecard import ScoreRow
from services.report.text import Text

__all__ = ["figure_png", "to_html", "to_pdf"]


def _summary(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>1. {t('摘要', 'Summary')}</h2>"]
    parts.append(
        t.table(
            [
                t("预警级别", "level"),
                t("预警数", "warnings") + " (count)",
                t("确认用时中位数", "median time to acknowledge") + " (min)",
            ],
            [
                [t.level(s), str(report.warnings_by_level.get(s, 0)), t.num(report.median_ack_minutes.get(s))]
                for s in SEVERITIES
            ],
        )
    )
    parts.append(f"<p>{t('未确认预警', 'unacknowledged warnings')}: {report.unacknowledged}</p>")
    parts.append(
        "<p class='note'>"
        + t(
            "预警为灾害类警报规则（风暴潮、潮位、海浪、低氧、赤潮、热浪、盐水入侵）在本年首次触发的警报，按触发期间最高级别计；"
            "质控撤回（由尖峰读数引起）或仅处于待定状态的警报不计；确认用时自首次触发起算；"
            "站点运行类警报（传感器、无数据、电池）见附录",
            "warnings: alerts of the hazard rules (surge, water level, waves, hypoxia, bloom, heatwave, "
            "salt intrusion) that first fired in the year, by the highest level they fired at; alerts QC "
            "withdrew (opened by a spike) or that never left pending are not counted; time to acknowledge "
            "from the first firing; station-health alerts (sensors, silence, battery) are in the annex",
        )
        + "</p>"
    )
    records = []
    surges = [(h.max_surge_m[1], h.max_surge_m[0], h.station) for h in report.hazards if h.max_surge_m]
    if surges:
        m, when, st = max(surges, key=lambda x: x[0])
        records.append([t("最大增水", "largest surge"), f"{m:.3f} m", f"{t.station(st)}, {when}"])
    waves = [
        (m.heatwaves.strongest, m.station) for m in report.marine if m.heatwaves and m.heatwaves.strongest
    ]
    if waves:
        ev, st = max(waves, key=lambda x: x[0].intensity_max_degC)
        records.append(
            [
                t("最强海洋热浪", "strongest marine heatwave"),
                f"{ev.intensity_max_degC:.2f} °C",
                f"{t.station(st)}, {ev.start_day}, {ev.duration_d:.0f} d",
            ]
        )
    if records:
        parts.append(
            t.table(
                [t("年度记录", "record of the year"), t("数值", "value"), t("站与时间", "where, when")],
                records,
            )
        )
    if report.carbon:
        parts.append(
            t.table(
                [
                    t("站", "site"),
                    t("年净碳收支", "annual net carbon") + " (g C m-2)",
                    t("覆盖率", "coverage") + " (%)",
                    t("碳汇/碳源判定", "sink/source verdict"),
                ],
                [
                    [
                        t.station(c.station),
                        t.num(c.year.net_gC_m2 if c.year else None, 1),
                        t.num(c.year.coverage_pct if c.year else None, 1),
                        t.verdict(c.verdict),
                    ]
                    for c in report.carbon
                ],
            )
        )
    return parts


def _zero_note(row: SeaLevelRow, t: Text) -> str:
    """Which zero the levels are above, and what the re-levellings inside the record added."""
    zero = row.zero
    assert zero is not None
    steps = "; ".join(f"{date}: {mm:+.1f} mm" for date, mm in zero.relevellings)
    text = t(
        f"{row.station.name_zh or row.station.name}：月均海平面为相对 {zero.at} 时的测站零点；"
        f"重新水准测量前的月份经{zero.via_name_zh}换算（{steps}）",
        f"{row.station.name}: monthly means above the station zero in force on {zero.at}; months before "
        f"each re-levelling carried over through the {zero.via_name} (added to earlier months: {steps})",
    )
    return f"<p class='note'>{html.escape(text)}</p>"


def _sea_level(report: Report, t: Text) -> list[str]:
    inp = report.inputs
    parts = [f"<h2>2. {t('海平面', 'Sea level')}</h2>"]
    if report.sea_level:
        rows = []
        for r in report.sea_level:
            tr = r.trend
            rows.append(
                [
                    t.station(r.station),
                    t.num(r.annual_mean_m, 3),
                    t.num(r.anomaly_vs_baseline_mm),
                    f"{r.baseline_coverage_pct:.0f}",
                    t.num(r.anomaly_vs_previous_mm),
                    t("记录不足", "record too short (<24 months)")
                    if tr is None
                    else f"{tr.slope_mm_yr:.1f} [{tr.ci_low_mm_yr:.1f}, {tr.ci_high_mm_yr:.1f}]",
                    t.num(tr.record_years if tr else None, 2),
                    f"{r.months_in_year}/12, {r.completeness_pct:.1f}",
                    f"{r.record_month[0]} {r.record_month[1]:.3f}" if r.record_month else t.no_data,
                    f"{r.record_low_month[0]} {r.record_low_month[1]:.3f}"
                    if r.record_low_month
                    else t.no_data,
                ]
            )
        parts.append(
            t.table(
                [
                    t("站", "station"),
                    t("年均海平面", "annual MSL") + " (m)",
                    t("距基准期", "anomaly vs baseline")
                    + f" {inp.baseline_years[0]}–{inp.baseline_years[1]} (mm)",
                    t("基准期覆盖率", "baseline coverage") + " (%)",
                    t("较上年", "vs previous year") + " (mm)",
                    t("趋势", "trend") + ", 95 % CI (mm/yr)",
                    t("记录长度", "record") + " (yr)",
                    t("月数, 完整率", "months, completeness") + " (%)",
                    t("最高月", "highest month") + " (m)",
                    t("最低月", "lowest month") + " (m)",
                ],
                rows,
            )
        )
        parts += [_zero_note(r, t) for r in report.sea_level if r.zero and r.zero.relevellings]
        labels = {
            "trend": t("趋势", "trend"),
            "deseasoned": t("去季节月均海平面", "deseasoned monthly MSL"),
            "monthly": t("月均海平面", "monthly MSL"),
            "short": t("记录不足 24 个月，未去季节", "under 24 months: not deseasoned"),
            "datum": "mm (" + t("相对基面", "above datum") + ")",
            "cycle": t("季节循环", "seasonal cycle"),
            "month": t("月", "month"),
        }
        for r in report.sea_level:
            png = figure_png(
                inp.msl[r.station.id],
                r.trend.slope_mm_yr if r.trend else None,
                t.station_short(r.station),
                labels,
            )
            parts.append(inline_img(png, r.station.id))
    for st in report.stations_without_sea_level:
        parts.append(
            t.missing(
                f"{t.station(st)}: "
                + t("本年无月均海平面", f"no monthly mean sea level stored for {inp.year}")
            )
        )
    if not report.sea_level and not report.stations_without_sea_level:
        parts.append(t.missing(t("范围内无验潮站", "no tide gauge in this scope")))
    return parts


def _hazards(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>3. {t('沿海灾害', 'Coastal hazards')}</h2>"]
    if not report.hazards:
        return [*parts, t.missing(t("范围内无验潮站或浮标", "no tide gauge or buoy in this scope"))]

    def levels(d: dict[str, int] | None, measured: bool) -> str:
        if d is None:
            return t.no_data if measured else t.not_measured
        return ", ".join(f"{t.level(k)} {d[k]}" for k in SEVERITIES)

    def cell(value: str | None, measured: bool) -> str:
        return value if value is not None else t.no_data if measured else t.not_measured

    def row(h: HazardRow) -> list[str]:
        gauge, waves = h.station.kind == "tide_gauge", h.station.measures("wave_height_m")
        surge = None if h.max_surge_m is None else f"{h.max_surge_m[1]:.3f} ({h.max_surge_m[0]})"
        ge4 = None if h.wave_days_ge_4m is None else str(h.wave_days_ge_4m)
        return [
            t.station(h.station),
            cell(surge, gauge),
            levels(h.high_waters_at_level, gauge),
            levels(h.days_at_level, gauge),
            levels(h.wave_days_at_level, waves),
            cell(ge4, waves),
        ]

    parts.append(
        t.table(
            [
                t("站", "station"),
                t("最大增水", "max surge") + " (m, UTC)",
                t("达各级警戒高潮", "high waters ≥ level") + " (count)",
                t("达各级警戒天数", "days ≥ level") + " (d)",
                t("波浪预警天数", "wave days ≥ level") + " (d)",
                t("波高≥4 m 天数", "days Hs ≥ 4 m") + " (d)",
            ],
            [row(h) for h in report.hazards],
        )
    )
    s = report.inputs.settings
    parts.append(f"<h3>{t('风暴潮过程', 'Storm-surge episodes')}</h3>")
    parts.append(
        "<p class='note'>"
        + t(
            f"潮周期最大增水 ≥ {s.surge_threshold_m:.2f} m 的连续潮周期"
            f"（间隔 ≤ {s.surge_max_gap_h:.0f} h 合并）",
            f"consecutive tidal cycles with max surge ≥ {s.surge_threshold_m:.2f} m, joined within "
            f"{s.surge_max_gap_h:.0f} h (surge_max_cycle_m)",
        )
        + "</p>"
    )
    rows = []
    for sid, episodes in report.surge_episodes.items():
        st = next(x for x in report.inputs.stations if x.id == sid)
        for e in episodes:
            rows.append(
                [
                    t.station(st),
                    iso_minute(e.start_us),
                    iso_minute(e.end_us),
                    str(e.cycles),
                    f"{e.peak_m:.3f} ({iso_minute(e.peak_us)})",
                    t.level(SEVERITIES[e.highest_warning - 1])
                    if e.highest_warning
                    else t("未达警戒", "none"),
                ]
            )
    if rows:
        parts.append(
            t.table(
                [
                    t("站", "station"),
                    t("开始", "start") + " (UTC)",
                    t("结束", "end") + " (UTC)",
                    t("潮周期数", "cycles"),
                    t("最大增水", "peak surge") + " (m, UTC)",
                    t("最高警戒级别", "highest warning level"),
                ],
                rows,
            )
        )
    elif report.surge_episodes:
        parts.append(
            t.missing(
                t("本年无风暴潮过程或无增水数据", "no storm-surge episode (or no surge stored) this year")
            )
        )
    else:
        parts.append(t.missing(t("范围内无验潮站", "no tide gauge in this scope")))
    parts.append(f"<h3>{t('预警记录', 'Warning record')}</h3>")
    parts.append(_alert_table(report, t, station_health=False))
    return parts


def _alert_table(report: Report, t: Text, station_health: bool | None) -> str:
    """Alerts opened in the year per rule: count per level, median time to acknowledge, unacknowledged."""
    rows = [r for r in report.alert_rules if station_health is None or r.station_health == station_health]
    titles = report.inputs.rule_titles

    def median(r: AlertRuleRow) -> str:
        vals = [(s, v) for s, v in r.median_ack_minutes.items() if v is not None]
        return ", ".join(f"{t.level(s)} {v:.1f}" for s, v in vals) or t("无", "none")

    if not rows:
        return t.missing(t("本年无此类警报", "no such alert opened this year"))
    return t.table(
        [
            t("警报规则", "alert rule"),
            t("各级数量", "alerts per level") + " (count)",
            t("合计", "total"),
            t("确认用时中位数", "median time to acknowledge") + " (min)",
            t("未确认", "unacknowledged"),
            t("质控撤回", "withdrawn by QC"),
            t("未触发（仅待定）", "never fired (pending only)"),
        ],
        [
            [
                t(*titles[r.rule]) + f" ({r.rule})" if r.rule in titles else r.rule,
                ", ".join(f"{t.level(s)} {r.by_level.get(s, 0)}" for s in SEVERITIES),
                str(r.total),
                median(r),
                str(r.unacknowledged),
                str(r.withdrawn),
                str(r.never_fired),
            ]
            for r in rows
        ],
    )


def _scorecard(report: Report, t: Text) -> list[str]:
    parts = [f"<h2>7. {t('指标评分表', 'Indicator scorecard')}</h2>"]
    least = report.inputs.settings.scorecard_min_coverage_pct
    parts.append(
        "<p class='note'>"
        + t(
            "基准值为上一年同一指标；变化为本年减上一年（海平面为趋势 mm/yr）；分级带见 report.yaml；"
            "括号内为数值所依据的天数（时数、半小时数）占全年的比例，"
            f"低于 {least:.0f} % 的年份不分级、不作基准",
            "baseline: the same indicator's previous year; change: this year − previous (sea level: the "
            "trend, mm/yr); grades from the bands in report.yaml; in brackets the share of the year's days "
            f"(hours, half-hours) the value rests on: a year under {least:.0f} % is not graded and is no "
            "baseline",
        )
        + "</p>"
    )
    if not report.scorecard:
        return [*parts, t.missing(t("无可评分指标", "no indicator to score"))]
    digits = {"ph_mean": 2, "sst_anomaly_degC": 2}
    scored = [r for r in report.scorecard if not _empty(r)]
    parts.append(
        t.table(
            [
                t("指标", "indicator"),
                t("站", "station"),
                t("单位", "unit"),
                t("方法/标准", "method / standard"),
                t("基准（上年）", "baseline (previous year)"),
                t("本年", "this year"),
                t("变化/趋势", "change / trend"),
                t("等级", "grade"),
            ],
            [
                [
                    t(r.spec.zh, r.spec.en),
                    t.station(r.station),
                    r.spec.unit,
                    r.spec.method,
                    _covered(t, r.baseline, r.baseline_coverage_pct, digits.get(r.spec.key, 1), least),
                    _covered(t, r.value, r.coverage_pct, digits.get(r.spec.key, 1), least),
                    t.num(r.trend, digits.get(r.spec.key, 1))
                    + ("" if r.trend is None else f" {r.trend_unit}"),
                    t.no_data
                    if r.value is None
                    else t("覆盖不足，未分级", "too little data to grade")
                    if r.coverage_pct is not None and r.coverage_pct < least
                    else t.grade(r.grade),
                ]
                for r in scored
            ],
        )
    )
    unscored: dict[str, list[str]] = {}
    for r in report.scorecard:
        if _empty(r):
            unscored.setdefault(t(r.spec.zh, r.spec.en), []).append(t.station(r.station))
    for name, stations in unscored.items():
        parts.append(
            t.missing(
                f"{name}: {t('两年均无数据', 'no data this year or the year before')}: " + ", ".join(stations)
            )
        )
    return parts


def _covered(t: Text, value: float | None, coverage: float | None, digits: int, least: float) -> str:
    """A scorecard value with the share of its year it rests on; a baseline dropped for too little."""
    if coverage is None:
        return t.num(value, digits)
    if value is None:
        return t(f"数据不足（{coverage:.0f} %）", f"too little ({coverage:.0f} %)") if coverage else t.no_data
    return f"{value:.{digits}f} ({coverage:.0f} %)"


def _empty(row: ScoreRow) -> bool:
    """A scorecard row with nothing to show: it is named in one line per indicator instead."""
    return row.value is None and row.baseline is None and row.trend is None


def _annex(report: Report, t: Text) -> list[str]:
    inp = report.inputs
    parts = [f"<h2>8. {t('数据质量附录', 'Data-quality annex')}</h2>"]
    span = report.span_us
    parts.append(
        f"<p class='note'>{t('统计时段', 'period assessed')}: "
        f"{iso_minute(span[0])} – {iso_minute(span[1])}</p>"
    )
    if report.qc_table:
        parts.append(
            t.table(
                [
                    t("站", "station"),
                    t("变量", "variable"),
                    t("QC 标记", "QC flags") + " (readings)",
                    t("良好率", "good") + " (%)",
                    t("可用率", "availability") + " (%)",
                ],
                [
                    [
                        s,
                        v,
                        ", ".join(f"{k} {n}" for k, n in sorted(c.items())),
                        f"{g:.1f}",
                        t.num(report.availability.get((s, v))),
                    ]
                    for s, v, c, g in report.qc_table
                ],
            )
        )
    else:
        parts.append(t.missing(t("本年无观测", f"no observations stored for {inp.year}")))
    parts.append(
        "<p class='note'>"
        + t(
            "死信按其所载观测的时间计入年份（回放或补录的历史数据，其拒收记在数据所属之年）；"
            "无可用观测时间的（报文损坏、时间错误或晚于接收时间）按接收时间计入："
            f"{inp.dead_letters_by_receipt} 条",
            "dead letters count in the year of the reading they carry (a replay or a backfill of past data "
            "has its refusals in the data's year); those with no usable reading time (a malformed message, "
            f"a bad time or one after receipt) in the year received: {inp.dead_letters_by_receipt}",
        )
        + "</p>"
    )
    parts.append(
        t.table(
            [t("拒收原因", "dead-letter reason"), t("条数", "count")],
            [[k, str(v)] for k, v in sorted(inp.dead_letters.items())] or [[t("无", "none"), "0"]],
        )
    )
    parts.append(f"<h3>{t('警报与确认用时', 'Alerts and time to acknowledge')}</h3>")
    parts.append(_alert_table(report, t, station_health=None))
    parts.append(f"<h3>{t('站点中断', 'Station outages')}</h3>")
    s = inp.settings
    parts.append(
        "<p class='note'>"
        + t(
            f"相邻两次存储读数间隔超过 max({s.outage_min_gap_s:.0f} s, "
            f"{s.outage_min_intervals:.0f} × 采样间隔)",
            f"a gap between stored readings longer than max({s.outage_min_gap_s:.0f} s, "
            f"{s.outage_min_intervals:.0f} × sampling interval)",
        )
        + "</p>"
    )
    rows = []
    for st in inp.stations:
        gaps = report.outages.get(st.id, [])
        longest = max(gaps, key=lambda g: g.hours) if gaps else None
        rows.append(
            [
                t.station(st),
                str(len(gaps)),
                f"{sum(g.hours for g in gaps):.1f}",
                t("无", "none")
                if longest is None
                else f"{longest.hours:.1f} h ({iso_minute(longest.start_us)} – {iso_minute(longest.end_us)})",
            ]
        )
    parts.append(
        t.table(
            [
                t("站", "station"),
                t("中断次数", "outages"),
                t("中断总时数", "hours out") + " (h)",
                t("最长中断", "longest outage"),
            ],
            rows,
        )
    )
    return parts


def to_html(report: Report) -> str:
    inp = report.inputs
    t = Text(inp.lang)
    parts = [f"<h1>{t(f'{inp.year} 年度监测评估报告', f'Annual assessment report {inp.year}')}</h1>"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(inp.config_versions.items()))
    parts.append(
        "<p class='stamp'>"
        f"{t('范围', 'scope')}: {html.escape(inp.scope)} · "
        f"{t('生成时间', 'generated')}: {html.escape(inp.generated_at)} · "
        f"{t('数据截至', 'data as of')}: {iso_minute(inp.as_of_us) if inp.as_of_us else t.no_data} · "
        f"{t('配置版本', 'config')}: {html.escape(versions)} · "
        f"{t('基准期', 'baseline')}: {inp.baseline_years[0]}–{inp.baseline_years[1]}</p>"
    )
    parts += _summary(report, t)
    parts += _sea_level(report, t)
    parts += _hazards(report, t)
    parts += marine_section(report, t)
    parts += wetland_section(report, t)
    parts += carbon_section(report, t)
    parts += _scorecard(report, t)
    parts += _annex(report, t)
    if report.missing_sections:
        parts.append(
            f"<h2>{t('尚未包含', 'Not yet in this report')}</h2><ul>"
            + "".join(f"<li>{html.escape(m)}</li>" for m in report.missing_sections)
            + "</ul>"
        )
    style = (
        f"body{{font-family:'{CJK_FONT}',sans-serif;font-size:10pt}}"
        " table{border-collapse:collapse;margin:4px 0 10px}"
        "td,th{border:1px solid #999;padding:2px 4px;font-size:8pt} img{max-width:100%}"
        " tr,img{break-inside:avoid} thead{display:table-header-group}"
        ".missing{color:#a33} .note{font-size:8pt;color:#444} .stamp{font-size:8pt;color:#444}"
        " @page{size:A4 landscape;margin:12mm}"
    )
    return (
        f"<!DOCTYPE html><html lang='{'zh' if inp.lang == 'zh' else 'en'}'><head><meta charset='utf-8'>"
        f"<title>tidewatch {inp.year}</title><style>{style}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def to_pdf(report_html: str) -> bytes:
    """PDF from the HTML; WeasyPrint embeds the (subset) Noto CJK font it lays the text out with."""
    import logging

    logging.getLogger("weasyprint").setLevel(logging.WARNING)  # its progress lines are INFO
    from weasyprint import HTML

    return HTML(string=report_html).write_pdf()
