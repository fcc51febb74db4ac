"""The words of a notice, shared by every channel that shows text to a person (e-mail, chat, SMS)."""

from __future__ import annotations

from alerts.events import AlertEvent
from alerts.templates import format_time_us, format_value


def event_title(event: AlertEvent) -> str:
    """One line (a mail subject): a group notice's first line, its members follow in the body."""
    return f"[tidewatch] {event.message_en.splitlines()[0] if event.message_en else ''}"


def event_facts(event: AlertEvent) -> list[tuple[str, str]]:
    """The alert's identity for the record, as (label, value) pairs, in the order people read them."""
    facts = [
        ("station", event.station),
        ("rule", event.rule),
        ("event", f"{event.kind}, severity {event.severity or 'none'}"),
        ("value", format_value(event.value)),
        ("time", format_time_us(event.time_us)),
        ("alert", f"{event.alert_id} (event {event.seq})"),
    ]
    if event.actor:
        facts.append(("by", event.actor))
    if event.comment:
        facts.append(("comment", event.comment))
    return facts


def event_lines(event: AlertEvent) -> list[str]:
    """Plain text: the message in English and Chinese, a blank line, then the facts aligned."""
    return [
        event.message_en,
        event.message_zh,
        "",
        *(f"{label + ':':<9} {value}" for label, value in event_facts(event)),
    ]


def short_text(event: AlertEvent) -> str:
    """One SMS: the Chinese message, the English one, and the alert reference, nothing else."""
    zh, en = (text.splitlines()[0] if text else "" for text in (event.message_zh, event.message_en))
    return f"{zh} / {en} [{event.alert_id}#{event.seq}]"
