"""The words of a notice, shared by every channel that shows text to a person (e-mail, chat, SMS).

A value is stated the way its rule's input means it (``services.console.views.rule_value``): a reading
with its unit (``2.41 m``, ``11.6 V``), an ordinal indicator as a level (``level 3``); a rule over any
variable (``station_silent``, the QC rules) stores the value of whichever reading moved it, of a
variable the event does not name, so no value is stated for it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import lru_cache

from alerts.events import AlertEvent
from alerts.templates import format_time_us, format_value

log = logging.getLogger("tidewatch.notify")


@lru_cache(maxsize=4)
def rule_values(registry_path: str | None) -> Mapping[str, dict]:
    """rule id → how its value reads ({"value_kind": unit | level | none, "unit": …}) for the rules
    the registry's stations take; empty when the rules cannot be loaded (values then go bare)."""
    try:
        from alerts.loader import load_rules
        from schemas.registry import load_registry
        from schemas.vocabulary import load_vocabulary
        from services.console.views import rule_value

        vocabulary = load_vocabulary()
        return {
            rule.id: rule_value(rule, vocabulary)
            for rule in load_rules(load_registry(registry_path)).values()
        }
    except Exception as exc:  # a notice still goes out, only without units
        log.warning("alert rules not loaded, notices state values without units: %s", exc)
        return {}


def _registry_path() -> str | None:
    from services.config import load_settings

    return load_settings().registry_path


def value_text(event: AlertEvent, values: Mapping[str, dict] | None = None) -> str | None:
    """The event's value with its unit (``2.41 m``), as a level (``level 3``), or None: no value, or
    one of a rule over any variable. `values`: rule_values() of the registry in use (default: the
    configured one); a rule it does not know gets the bare number."""
    if event.value is None:
        return None
    how = (rule_values(_registry_path()) if values is None else values).get(event.rule)
    number = format_value(event.value)
    if how is None:
        return number
    if how["value_kind"] == "level":
        return f"level {number}"
    if how["value_kind"] == "unit":
        return f"{number} {how['unit']}".rstrip()
    return None


def event_title(event: AlertEvent) -> str:
    """One line (a mail subject): a group notice's first line, its members follow in the body."""
    return f"[tidewatch] {event.message_en.splitlines()[0] if event.message_en else ''}"


def event_facts(event: AlertEvent, values: Mapping[str, dict] | None = None) -> list[tuple[str, str]]:
    """The alert's identity for the record, as (label, value) pairs, in the order people read them:
    the event's kind with the state it leaves the alert in (``corrected, now pending``)."""
    happened = event.kind if event.state is None else f"{event.kind}, now {event.state}"
    facts = [
        ("station", event.station),
        ("rule", event.rule),
        ("event", f"{happened}, severity {event.severity or 'none'}"),
    ]
    if (value := value_text(event, values)) is not None:
        facts.append(("value", value))
    facts += [
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
