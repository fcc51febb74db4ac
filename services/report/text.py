"""The report's words in its language: ``zh`` gives "中文 / English", ``en`` gives English only; numbers,
levels, grades and station names follow, and HTML is escaped here."""

from __future__ import annotations

import html

from services.report.base import StationInfo

LANGS = ("zh", "en")
LEVEL_ZH = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
GRADE_ZH = {"good": "良好", "fair": "一般", "poor": "较差"}
VERDICT = {
    "sink": ("碳汇", "sink"),
    "source": ("碳源", "source"),
    "uncertain": ("不确定（覆盖率 < 50 %）", "uncertain (coverage < 50 %)"),
    "no data": ("无数据", "no data"),
}


class Text:
    def __init__(self, lang: str = "zh") -> None:
        self.lang = lang

    def __call__(self, zh: str, en: str) -> str:
        return f"{zh} / {en}" if self.lang == "zh" else en

    @property
    def no_data(self) -> str:
        return self("无数据", "no data")

    @property
    def not_measured(self) -> str:
        return self("不监测", "not measured")

    def num(self, v: float | None, digits: int = 1) -> str:
        return self.no_data if v is None else f"{v:.{digits}f}"

    def level(self, colour: str) -> str:
        return f"{LEVEL_ZH.get(colour, colour)} {colour}" if self.lang == "zh" else colour

    def grade(self, grade: str | None) -> str:
        if grade is None:
            return self("未分级", "not graded")
        return self(GRADE_ZH.get(grade, grade), grade)

    def verdict(self, verdict: str) -> str:
        return self(*VERDICT[verdict])

    def station(self, st: StationInfo) -> str:
        return f"{st.name_zh} {st.name}" if self.lang == "zh" and st.name_zh else st.name

    def station_short(self, st: StationInfo) -> str:
        return st.name_zh if self.lang == "zh" and st.name_zh else st.name

    def no_data_for(self, stations: list[StationInfo], year: int) -> str:
        names = ", ".join(self.station(st) for st in stations)
        return self(f"{year} 年无存储数据：", f"nothing stored for {year}: ") + names

    def missing(self, text: str) -> str:
        return f"<p class='missing'>{html.escape(text)}</p>"

    def table(self, head: list[str], rows: list[list[str]]) -> str:
        th = "".join(f"<th>{html.escape(h)}</th>" for h in head)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
        return f"<table><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>"
