"""Each message says one thing: a resolved alert's colour is its peak, not its state; a reminder's colour
is the one still in force (issue 14: "resolved: … red … category 0", "renotify: … yellow … level 1")."""

from __future__ import annotations

from alert_helpers import feed, indicator

from alerts import Observation
from alerts.templates import render, severity_phrases, template_fields


def test_resolved_and_reminder_messages_name_the_colour_for_what_it_is(engine) -> None:
    categories = [0, 1, 2, 4, 4, 0, 0]  # a marine heatwave at Dalian, one category a day
    events = feed(
        engine, [indicator("dalian", "mhw_category", i * 1440, c) for i, c in enumerate(categories)]
    )
    by_kind = {e.kind: e for e in events}
    resolved, reminder = by_kind["resolved"], by_kind["renotify"]
    assert resolved.severity == "red" and resolved.value == 0  # the stored event keeps peak and value
    assert "Marine heatwave ended (peak red) at Dalian" in resolved.message_en
    assert "海洋热浪最高红色（解除）" in resolved.message_zh
    assert " red at " not in resolved.message_en
    assert "Marine heatwave still red at Dalian" in reminder.message_en and "仍为红色" in reminder.message_zh
    escalated = [e for e in events if e.kind == "escalated"][-1]
    assert "Marine heatwave red at Dalian" in escalated.message_en and "category 4" in escalated.message_en


def test_severity_phrases_for_every_event() -> None:
    assert severity_phrases("firing", "orange") == ("orange", "橙色")
    assert severity_phrases("retracted", "orange") == ("withdrawn (was orange)", "原橙色")
    assert severity_phrases("resolved", None) == ("none", "无")
    assert severity_phrases("acknowledged", "red") == ("still red", "仍为红色")
    fields = template_fields(station="s", station_name="S", station_name_zh="", rule="r", title="T",
                             title_zh="题", input_name="x", severity="yellow", event="renotify", value=2.0,
                             time_us=0)  # fmt: skip
    assert render("{event}: {title} {severity}, level {value}", fields) == "renotify: T still yellow, level 2"


def test_a_resolved_silence_says_when_it_began_and_when_data_came_back(registry, rules) -> None:
    """Issue 14: a resolved station_silent alert read "no data since before <the time data came back>".
    With the alert's opening time (when it was declared silent) the message gives both times."""
    rule, dalian = rules["station_silent"], registry.stations["dalian"]
    opened_us, back_us = 1_764_842_400_000_000, 1_764_851_400_000_000  # 2025-12-04 10:00 and 12:30 UTC

    def message(event: str, time_us: int, opened: int | None = opened_us) -> tuple[str, str]:
        fields = template_fields(station="dalian", station_name=dalian.name, station_name_zh=dalian.name_zh,
                                 rule=rule.id, title=rule.title_en, title_zh=rule.title_zh, input_name="*",
                                 severity="yellow", event=event, value=12.54, time_us=time_us,
                                 opened_us=opened)  # fmt: skip
        return render(rule.message_en, fields), render(rule.message_zh, fields)

    at = f"Station silent at {dalian.name}, no data from before 2025-12-04 10:00 UTC"
    assert message("firing", opened_us) == (
        f"firing: {at}",
        f"{dalian.name_zh}站点无数据（发布）：2025-12-04 10:00 UTC 前起无数据",
    )
    assert message("renotify", opened_us + 12 * 3600 * 10**6)[0] == f"renotify: {at}"
    assert message("resolved", back_us) == (
        f"resolved: {at} until 2025-12-04 12:30 UTC",
        f"{dalian.name_zh}站点无数据（解除）：2025-12-04 10:00 UTC 前起无数据，至 2025-12-04 12:30 UTC 止",
    )
    # A caller that does not give the opening time gets the old wording, never a made-up period.
    assert message("resolved", back_us, None)[0].endswith("no data from before 2025-12-04 12:30 UTC")


def test_the_engine_says_when_a_silence_began_and_when_data_came_back(engine, registry) -> None:
    """Dalian (1-min readings) heard at 10:00, silent from 10:03 (3 intervals), heard again at 12:30."""
    t0 = 1_764_842_400_000_000  # 2025-12-04 10:00 UTC
    engine.observe([Observation("dalian", "reading", "water_level_m", t0, 1.0, 1)], t0)
    fired = [e for e in engine.tick(t0 + 600_000_000) if e.rule == "station_silent"]
    back_us = t0 + 9_000_000_000
    back = engine.observe([Observation("dalian", "reading", "water_level_m", back_us, 1.0, 1)], back_us)
    (resolved,) = [e for e in back if e.rule == "station_silent"]
    assert [e.kind for e in fired] == ["firing"] and resolved.kind == "resolved"
    assert fired[0].message_en.endswith("no data from before 2025-12-04 10:03 UTC")
    assert resolved.message_en.endswith("no data from before 2025-12-04 10:03 UTC until 2025-12-04 12:30 UTC")
    assert resolved.message_zh.endswith("2025-12-04 10:03 UTC 前起无数据，至 2025-12-04 12:30 UTC 止")
