"""The words of a notice (issue 14): a value carries its unit, or says it is a level, or is left out
when it belongs to a variable the event does not name; the event says the state it leaves the alert
in; and whether a sender treats the alert as open or firing follows that state."""

from __future__ import annotations

import msgspec
import pytest

from alerts import AlertEvent
from alerts.events import closes, fires
from services.notify.messages import event_facts, event_lines, rule_values, value_text
from services.notify.sms import sms_document


def event(rule: str, value: float | None, kind: str = "firing", state: str | None = "firing") -> AlertEvent:
    return AlertEvent(
        alert_id=f"dalian/{rule}/1700000000000000",
        seq=1,
        station="dalian",
        rule=rule,
        kind=kind,
        severity="yellow",
        time_us=1_700_000_000_000_000,
        value=value,
        message_en="m",
        message_zh="消息",
        channels=("email",),
        state=state,
    )


@pytest.mark.parametrize(
    ("rule", "value", "text"),
    [
        ("water_level_warning", 2.41, "2.41 m"),  # a reading: the vocabulary's unit
        ("battery_low", 11.6, "11.6 V"),
        ("hypoxia", 1.9, "1.9 mg/L"),  # as the console writes it
        ("storm_surge_warning", 3.0, "level 3"),  # an ordinal indicator
        ("marine_heatwave", 2.0, "level 2"),
        ("station_silent", 12.54, None),  # the value of whichever reading ended the silence
        ("sensor_repeated_fail", 20.0, None),
        ("hypoxia", None, None),
        ("no_such_rule", 4.0, "4"),  # a rule this registry does not take: the bare number
    ],
)
def test_a_value_is_stated_with_its_unit_or_not_at_all(rule, value, text):
    assert value_text(event(rule, value)) == text


def test_the_facts_carry_the_unit_and_the_state():
    facts = dict(event_facts(event("battery_low", 11.6, "corrected", "pending")))
    assert facts["value"] == "11.6 V"
    assert facts["event"] == "corrected, now pending, severity yellow"
    silent = event("station_silent", 12.54, "resolved", "resolved")
    assert "value" not in dict(event_facts(silent))  # no bare 12.54
    assert not any("12.54" in line for line in event_lines(silent))
    assert dict(event_facts(event("hypoxia", 1.9, state=None)))["event"] == "firing, severity yellow"
    assert sms_document(silent, ("+8613800000001",))["state"] == "resolved"


def test_the_rule_values_come_from_the_configured_rules_or_none():
    assert rule_values(None)["battery_low"] == {"value_kind": "unit", "unit": "V"}
    assert rule_values("/nonexistent/registry.yaml") == {}  # logged; values then go bare
    assert value_text(event("battery_low", 11.6), rule_values("/nonexistent/registry.yaml")) == "11.6"


@pytest.mark.parametrize(
    ("kind", "state", "closed", "firing"),
    [
        ("pending", "pending", False, False),
        ("firing", "firing", False, True),
        ("corrected", "pending", False, False),  # QC withdrew the reading that made it fire
        ("corrected", "firing", False, True),
        ("reopened", "pending", False, False),
        ("acknowledged", "firing", False, True),
        ("resolved", "resolved", True, False),
        ("retracted", "resolved", True, False),
        ("group_resolved", "resolved", True, False),  # a group notice: its kind is no closing kind
        # Stored before events kept their state: by the kind.
        ("resolved", None, True, False),
        ("retracted", None, True, False),
        ("pending", None, False, False),
        ("renotify", None, False, True),
    ],
)
def test_open_and_firing_follow_the_state(kind, state, closed, firing):
    e = msgspec.structs.replace(event("hypoxia", 1.9), kind=kind, state=state)
    assert (closes(e), fires(e)) == (closed, firing)
