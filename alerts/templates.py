"""Bilingual alert messages from the rule's templates (``str.format`` placeholders).

Every field is handed over as text, so a template can never fail on a missing value at 3 a.m.;
the loader renders each template once with sample text to reject unknown placeholders at start-up.

A rule's template reads "{title} {severity} …, <input> {value} <unit>": true when the value is the one
that set the severity. A resolved or withdrawn alert keeps its peak severity and carries the value that
ended it, and a reminder or an operator's action carries the latest value while the severity may still
be held by an earlier one (hysteresis, keep_firing); so for those events ``severity`` says what the
colour is ("ended (peak orange)", "still yellow"), and a message never reads "red … category 0" as one
current state.

``{opened}`` is when the alert opened (its first qualifying input; for a station's silence, when it was
declared silent), so a message can say how long something lasted: ``{until}`` / ``{until_zh}`` are
" until <event time>" / "，至 <event time> 止" for an event that closes the alert (resolved, withdrawn)
and empty otherwise, e.g. "no data from before {opened}{until}". Without the opening time (a caller
that does not give it) ``{opened}`` is the event's time and ``{until}`` empty, the old wording.
"""

from __future__ import annotations

from datetime import UTC, datetime

from alerts.events import CLOSING_KINDS
from alerts.severity import SEVERITY_ZH

EVENT_ZH: dict[str, str] = {
    "pending": "待定",
    "firing": "发布",
    "escalated": "升级",
    "deescalated": "降级",
    "renotify": "重复提醒",
    "resolved": "解除",
    "retracted": "撤回",
    "corrected": "更正",
    "reopened": "重新发布",
    "acknowledged": "已确认",
    "silenced": "已静默",
    "unsilenced": "静默结束",
    "tier_escalated": "逐级上报",
}

TEMPLATE_FIELDS = (
    "station",
    "station_name",
    "station_name_zh",
    "rule",
    "title",
    "title_zh",
    "input",
    "severity",
    "severity_zh",
    "event",
    "event_zh",
    "value",
    "time",
    "opened",
    "until",
    "until_zh",
)


def format_time_us(time_us: int) -> str:
    return datetime.fromtimestamp(time_us / 1e6, tz=UTC).strftime("%Y-%m-%d %H:%M UTC")


def format_value(value: float | None) -> str:
    return "—" if value is None else f"{value:.4g}"


# How each event's message names the severity: the colour alone where the value set it.
# Reminders and operators' actions carry the latest value under the colour still in force.
_HELD = ("renotify", "acknowledged", "silenced", "unsilenced")
SEVERITY_PHRASE_EN = {"resolved": "ended (peak {})", "retracted": "withdrawn (was {})"} | dict.fromkeys(
    _HELD, "still {}"
)
SEVERITY_PHRASE_ZH = {"resolved": "最高{}", "retracted": "原{}"} | dict.fromkeys(_HELD, "仍为{}")


def severity_phrases(event: str, severity: str | None) -> tuple[str, str]:
    """The severity as an event's message says it, in English and Chinese."""
    en, zh = severity or "none", SEVERITY_ZH.get(severity or "", "无")
    if severity is None:
        return en, zh
    return SEVERITY_PHRASE_EN.get(event, "{}").format(en), SEVERITY_PHRASE_ZH.get(event, "{}").format(zh)


def template_fields(
    *,
    station: str,
    station_name: str,
    station_name_zh: str,
    rule: str,
    title: str,
    title_zh: str,
    input_name: str,
    severity: str | None,
    event: str,
    value: float | None,
    time_us: int,
    opened_us: int | None = None,
) -> dict[str, str]:
    """Every placeholder's text; `opened_us`: when the alert opened (the last part of its id)."""
    severity_en, severity_zh = severity_phrases(event, severity)
    time = format_time_us(time_us)
    closed = opened_us is not None and event in CLOSING_KINDS
    return {
        "station": station,
        "station_name": station_name,
        "station_name_zh": station_name_zh or station_name,
        "rule": rule,
        "title": title,
        "title_zh": title_zh,
        "input": input_name,
        "severity": severity_en,
        "severity_zh": severity_zh,
        "event": event,
        "event_zh": EVENT_ZH[event],
        "value": format_value(value),
        "time": time,
        "opened": time if opened_us is None else format_time_us(opened_us),
        "until": f" until {time}" if closed else "",
        "until_zh": f"，至 {time} 止" if closed else "",
    }


def render(template: str, fields: dict[str, str]) -> str:
    return template.format_map(fields)


def sample_fields() -> dict[str, str]:
    """Text for every placeholder, used to check templates when rules are loaded."""
    return template_fields(
        station="s",
        station_name="S",
        station_name_zh="站",
        rule="r",
        title="T",
        title_zh="题",
        input_name="x",
        severity="red",
        event="firing",
        value=1.0,
        time_us=0,
        opened_us=0,
    )
