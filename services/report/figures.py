"""The report's figures (matplotlib Agg, fixed settings, no PNG metadata: same data, same bytes)."""

from __future__ import annotations

import base64
import html
import io
from typing import Any

import matplotlib
import matplotlib.dates

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from matplotlib.typing import RcKeyType

from services.report.assemble import MonthlyMsl, deseasoned_monthly

CJK_FONT = "Noto Sans CJK JP"
RC: dict[RcKeyType, Any] = {
    "font.family": [CJK_FONT, "DejaVu Sans"],
    "font.size": 9,
    "figure.dpi": 100,
    "savefig.dpi": 100,
    "axes.unicode_minus": False,
    "path.simplify": False,
}


def _png(fig: plt.Figure) -> bytes:
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    plt.close(fig)
    return buf.getvalue()


def _dates(times_us: np.ndarray) -> np.ndarray:
    return np.asarray(times_us, dtype=np.int64).astype("datetime64[us]").astype("datetime64[D]")


def figure_png(
    msl: MonthlyMsl, slope_mm_yr: float | None, title: str, labels: dict[str, str] | None = None
) -> bytes:
    """Monthly MSL, deseasoned with the trend line, and the seasonal cycle (all in mm). With fewer than
    24 stored months each calendar month has one value, so removing the cycle would leave a flat line:
    the figure then shows the monthly means as they are and says so."""
    lab = {
        "trend": "趋势 trend",
        "deseasoned": "去季节月均海平面 / deseasoned monthly MSL",
        "monthly": "月均海平面 / monthly MSL",
        "short": "记录不足 24 个月，未去季节 / under 24 months: not deseasoned",
        "datum": "mm (相对基面 above datum)",
        "cycle": "季节循环 / seasonal cycle",
        "month": "月 month",
    } | (labels or {})
    starts, deseasoned, cycle = deseasoned_monthly(msl)
    t = starts.astype("datetime64[us]").astype("datetime64[M]")
    years = (starts - starts[0]) / (365.2425 * 86400e6)
    long_enough = int(np.isfinite(msl.msl_m).sum()) >= 24
    with plt.rc_context(RC):
        fig, (a1, a2) = plt.subplots(1, 2, figsize=(8.0, 3.0), gridspec_kw={"width_ratios": [2, 1]})
        days = t.astype("datetime64[D]")
        if long_enough:
            a1.plot(days, deseasoned * 1000.0, marker="o", ms=2, lw=1, label=lab["deseasoned"])
        else:
            a1.plot(days, msl.msl_m * 1000.0, marker="o", ms=3, lw=1, color="C7", label=lab["monthly"])
        if slope_mm_yr is not None:
            ok = np.isfinite(deseasoned)
            centre_y, centre_t = float(np.mean(deseasoned[ok]) * 1000), float(np.mean(years[ok]))
            a1.plot(
                t.astype("datetime64[D]"),
                centre_y + slope_mm_yr * (years - centre_t),
                color="C3",
                label=f"{lab['trend']} {slope_mm_yr:.1f} mm/yr",
            )
        a1.legend(loc="best")
        if years[-1] < 3:  # a short record: month ticks, else the years would be one or two ticks
            a1.xaxis.set_major_locator(matplotlib.dates.MonthLocator(bymonth=(1, 4, 7, 10)))
            a1.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y-%m"))
        else:
            a1.xaxis.set_major_locator(matplotlib.dates.YearLocator())
            a1.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%Y"))
        a1.set_title(f"{title} {lab['deseasoned'] if long_enough else lab['short']}")
        a1.set_ylabel(lab["datum"])
        a2.bar(np.arange(1, 13), cycle * 1000.0)
        a2.set_title(lab["cycle"])
        a2.set_xlabel(lab["month"])
        a2.set_ylabel("mm")
        return _png(fig)


def lines_png(
    series: dict[str, tuple[np.ndarray, np.ndarray]],
    title: str,
    ylabel: str,
    zero: bool,
    xlabel: str = "month",
) -> bytes:
    """Daily series of several stations on one axis (e.g. cumulative net carbon, SST anomaly)."""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(8.0, 3.0))
        for name, (t, v) in series.items():
            ax.plot(_dates(t), v, lw=1, label=name)
        if zero:
            ax.axhline(0.0, color="0.4", lw=0.8)
        ax.xaxis.set_major_locator(matplotlib.dates.MonthLocator())
        ax.xaxis.set_major_formatter(matplotlib.dates.DateFormatter("%m"))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if series:
            ax.legend(loc="best", fontsize=7)
        return _png(fig)


def monthly_bars_png(values: dict[str, np.ndarray], title: str, ylabel: str, xlabel: str) -> bytes:
    """Twelve monthly values per station as grouped bars (e.g. inundation frequency, %)."""
    with plt.rc_context(RC):
        fig, ax = plt.subplots(figsize=(8.0, 3.0))
        width = 0.8 / max(1, len(values))
        for k, (name, v) in enumerate(values.items()):
            ax.bar(
                np.arange(1, 13) + (k - (len(values) - 1) / 2) * width, np.nan_to_num(v), width, label=name
            )
        ax.set_xticks(np.arange(1, 13))
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if values:
            ax.legend(loc="best", fontsize=7)
        return _png(fig)


def inline_img(png: bytes, alt: str) -> str:
    """A figure as an <img> with the PNG inline, so the HTML needs no other file."""
    data = base64.b64encode(png).decode()
    return f"<figure><img alt='{html.escape(alt)}' src='data:image/png;base64,{data}'/></figure>"
