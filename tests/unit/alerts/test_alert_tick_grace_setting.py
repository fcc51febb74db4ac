"""The tick grace is a setting (TIDEWATCH_ALERT_TICK_GRACE_S, services/config.py), not only an engine
default: the worker builds its engine with it (streams/agents/alerts.py), and a tick fires what was due
that long before its own time."""

from __future__ import annotations

import pytest
from alert_helpers import at, kinds, reading

from alerts import AlertEngine
from alerts.engine import DEFAULT_TICK_GRACE_US
from services.config import load_settings

SECOND_US = 1_000_000


def engine_with(registry, rules, channels, env: dict[str, str]) -> AlertEngine:
    settings = load_settings(env)
    return AlertEngine(registry, rules, channels, tick_grace_us=round(settings.alert_tick_grace_s * 1e6))


def test_the_default_setting_is_the_engines_default():
    assert round(load_settings({}).alert_tick_grace_s * 1e6) == DEFAULT_TICK_GRACE_US


def test_a_tick_fires_what_was_due_the_configured_grace_before_it(registry, rules, channels):
    # Dalian reads every minute: silent once nothing was heard for 3 minutes (due at 3 min).
    for grace_s, fired_at_s in (("5", 5), ("0", 0), ("30", 30)):
        engine = engine_with(registry, rules, channels, {"TIDEWATCH_ALERT_TICK_GRACE_S": grace_s})
        engine.observe([reading("dalian", "water_level_m", 0, 2.0)])
        due_us = at(3)
        assert engine.tick(due_us + fired_at_s * SECOND_US) == [], grace_s
        events = engine.tick(due_us + (fired_at_s + 1) * SECOND_US)
        assert kinds(events) == [("firing", "yellow", 3)], grace_s


def test_a_negative_grace_is_refused(registry, rules, channels):
    with pytest.raises(ValueError, match="tick_grace_us"):
        engine_with(registry, rules, channels, {"TIDEWATCH_ALERT_TICK_GRACE_S": "-1"})
