"""Each message says one thing: a resolved alert's colour is its peak, not its state; a reminder's colour
is the one still in force (issue 14: "resolved: … red … category 0", "renotify: … yellow … level 1")."""

from __future__ import annotations

from alert_helpers import feed, indicator

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
