"""HTML (self-contained, figures inline) and PDF (WeasyPrint, Noto CJK embedded) of an assembled report.

Figures use matplotlib's Agg backend with fixed settings and no PNG metadata, so the same report gives
the same bytes. Chinese first, English second, units on every number and axis.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io

import matplotlib
import matplotlib.dates

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from services.report.assemble import SEVERITIES, MonthlyMsl, Report, deseasoned_monthly

CJK_FONT = "Noto Sans CJK JP"
RC = {
    "font.family": [CJK_FONT, "DejaVu Sans"],
    "font.size": 9,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.unicode_minus": False,
    "path.simplify": False,
}
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


def _fmt(v: float | None, digits: int = 1) -> str:
    return "无数据 / no data" if v is None else f"{v:.{digits}f}"


def figure_png(msl: MonthlyMsl, slope_mm_yr: float | None, title: str) -> bytes:
    """Deseasoned monthly MSL with the trend line, and the seasonal cycle (both in mm)."""
    starts, deseasoned, cycle = deseasoned_monthly(msl)
    t = starts.astype("datetime64[us]").astype("datetime64[M]")
    years = (starts - starts[0]) / (365.2425 * 86400e6)
    with plt.rc_context(RC):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.0, 3.0), gridspec_kw={"width_ratios": [2, 1]})
        a1.plot(t.astype("datetime64[D]"), deseasoned * 1000.0, marker="o", ms=2, lw=1)
        if slope_mm_yr is not None:
            ok = np.isfinite(deseasoned)
            centre_y, centre_t = float(np.mean(deseasoned[ok]) * 1000), float(np.mean(years[ok]))
            a1.plot(
                t.astype("datetime64[D]"),
                centre_y + slope_mm_yr * (years - centre_t),
                color="C3",
                label=f"趋势 trend {slope_mm_yr:.1f} mm/yr",
            )
            a1.legend(loc="best")
        a1.xaxis.set_major_locator(matplotlib.dates.YearLocator())
        a1.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y"))
        a1.set_title(f"{title} 去季节月均海平面 / deseasoned monthly MSL")
        a1.set_ylabel("mm (相对基面 above datum)")
        a2.bar(np.arange(1, 13), cycle * 1000.0)
        a2.set_title("季节循环 / seasonal cycle")
        a2.set_xlabel("月 month")
        a2.set_ylabel("mm")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", metadata={"Software": None})
        plt.close(fig)
    return buf.getvalue()


def _table(head: list[str], rows: list[list[str]]) -> str:
    th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"


def _us_iso(us: int | None) -> str:
    if us is None:
        return "无数据 / no data"
    return dt.datetime.fromtimestamp(us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def to_html(report: Report) -> str:
    inp = report.inputs
    parts = [f"<h1>{inp.year} 年度监测评估报告 / Annual assessment report {inp.year}</h1>"]
    versions = ", ".join(f"{k} {v}" for k, v in sorted(inp.config_versions.items()))
    parts.append(
        "<p class='stamp'>"
        f"范围 scope: {html.escape(inp.scope)} · 生成时间 generated: {html.escape(inp.generated_at)} · "
        f"数据截至 data as of: {_us_iso(inp.as_of_us)} · 配置版本 config: {html.escape(versions)} · "
        f"基准期 baseline: {inp.baseline_years[0]}–{inp.baseline_years[1]}</p>"
    )
    parts.append("<h2>1. 摘要 / Summary</h2>")
    parts.append(
        _table(
            ["预警级别 level", "预警数 warnings (count)", "确认用时中位数 median time to acknowledge (min)"],
            [
                [
                    f"{LEVEL_ZH.get(s, s)} {s}",
                    str(report.warnings_by_level.get(s, 0)),
                    _fmt(report.median_ack_minutes.get(s)),
                ]
                for s in SEVERITIES
            ],
        )
    )
    parts.append(f"<p>未确认预警 unacknowledged warnings: {report.unacknowledged}</p>")
    parts.append("<h2>2. 海平面 / Sea level</h2>")
    if report.sea_level:
        rows = []
        for r in report.sea_level:
            tr = r.trend
            rows.append(
                [
                    f"{r.station.name_zh} {r.station.name}",
                    _fmt(r.annual_mean_m, 3),
                    _fmt(r.anomaly_vs_baseline_mm),
                    _fmt(r.anomaly_vs_previous_mm),
                    "记录不足 record too short (<24 months)"
                    if tr is None
                    else f"{tr.slope_mm_yr:.1f} [{tr.ci_low_mm_yr:.1f}, {tr.ci_high_mm_yr:.1f}]",
                    _fmt(tr.record_years if tr else None, 2),
                    f"{r.months_in_year}/12, {r.completeness_pct:.1f}",
                    f"{r.record_month[0]} {r.record_month[1]:.3f}" if r.record_month else "无数据 / no data",
                ]
            )
        parts.append(
            _table(
                [
                    "站 station",
                    "年均海平面 annual MSL (m)",
                    "距基准期 anomaly vs baseline (mm)",
                    "较上年 vs previous year (mm)",
                    "趋势 trend, 95 % CI (mm/yr)",
                    "记录长度 record (yr)",
                    "月数, 完整率 months, completeness (%)",
                    "最高月 record month (m)",
                ],
                rows,
            )
        )
        for r in report.sea_level:
            msl = report.inputs.msl[r.station.id]
            png = figure_png(msl, r.trend.slope_mm_yr if r.trend else None, r.station.name_zh)
            parts.append(
                f"<figure><img alt='{html.escape(r.station.id)}' "
                f"src='data:image/png;base64,{base64.b64encode(png).decode()}'/></figure>"
            )
    for st in report.stations_without_sea_level:
        parts.append(
            f"<p class='missing'>{html.escape(st.name_zh)} {html.escape(st.name)}: "
            f"本年无月均海平面 / no monthly mean sea level stored for {inp.year}</p>"
        )
    if not report.sea_level and not report.stations_without_sea_level:
        parts.append("<p class='missing'>范围内无验潮站 / no tide gauge in this scope</p>")
    parts.append("<h2>3. 沿海灾害 / Coastal hazards</h2>")
    if report.hazards:
        nd = "无数据 / no data"

        def levels(d: dict[str, int] | None) -> str:
            return nd if d is None else ", ".join(f"{LEVEL_ZH[k]} {k} {d[k]}" for k in SEVERITIES)

        parts.append(_table(
            ["站 station", "最大增水 max surge (m, UTC)", "达各级警戒高潮 high waters ≥ level (count)",
             "达各级警戒天数 days ≥ level (d)", "波浪预警天数 wave days ≥ level (d)",
             "波高≥4 m 天数 days Hs ≥ 4 m (d)"],
            [[f"{h.station.name_zh} {h.station.name}",
              nd if h.max_surge_m is None else f"{h.max_surge_m[1]:.3f} ({h.max_surge_m[0]})",
              levels(h.high_waters_at_level), levels(h.days_at_level), levels(h.wave_days_at_level),
              nd if h.wave_days_ge_4m is None else str(h.wave_days_ge_4m)] for h in report.hazards],
        ))  # fmt: skip
    else:
        parts.append("<p class='missing'>范围内无验潮站或浮标 / no tide gauge or buoy in this scope</p>")
    parts.append("<h2>8. 数据质量附录 / Data-quality annex</h2>")
    if report.qc_table:
        parts.append(
            _table(
                ["站 station", "变量 variable", "QC 标记 flags (readings)", "良好率 good (%)"],
                [
                    [s, v, ", ".join(f"{k} {n}" for k, n in sorted(c.items())), f"{g:.1f}"]
                    for s, v, c, g in report.qc_table
                ],
            )
        )
    else:
        parts.append(f"<p class='missing'>本年无观测 / no observations stored for {inp.year}</p>")
    parts.append(
        _table(
            ["拒收原因 dead-letter reason", "条数 count"],
            [[k, str(v)] for k, v in sorted(report.inputs.dead_letters.items())] or [["无 none", "0"]],
        )
    )
    parts.append(
        "<h2>尚未包含 / Not yet in this report</h2><ul>"
        + "".join(f"<li>{html.escape(m)}</li>" for m in report.missing_sections)
        + "</ul>"
    )
    style = (
        f"body{{font-family:'{CJK_FONT}',sans-serif;font-size:10pt}} table{{border-collapse:collapse}}"
        "td,th{border:1px solid #999;padding:2px 4px;font-size:8pt} img{max-width:100%}"
        ".missing{color:#a33} .stamp{font-size:8pt;color:#444} @page{size:A4 landscape;margin:12mm}"
    )
    return (
        "<!DOCTYPE html><html lang='zh'><head><meta charset='utf-8'>"
        f"<title>tidewatch {inp.year}</title><style>{style}</style></head><body>"
        + "".join(parts)
        + "</body></html>"
    )


def to_pdf(report_html: str) -> bytes:
    """PDF from the HTML; WeasyPrint embeds the (subset) Noto CJK font it lays the text out with."""
    from weasyprint import HTML

    return HTML(string=report_html).write_pdf()
