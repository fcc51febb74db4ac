"""Operator actions on the alert-inputs log are typed (schemas/actions.py); a malformed or unknown one is
logged and skipped, never stops the alert agent."""

from __future__ import annotations

import msgspec
import pytest

from alerts import AlertEngine
from schemas.actions import (
    Acknowledge,
    RemoveSilence,
    SilenceAction,
    action_document,
    action_of,
    encode_action,
)
from streams.agents.alerts import BatchOutcome, apply_action

T_US = 1_790_000_000 * 1_000_000


def test_actions_travel_as_the_json_objects_they_were() -> None:
    silence = SilenceAction("s1", "dalian", None, T_US + 60_000_000, "li", T_US, "maintenance")
    document = action_document(silence)
    assert document["type"] == "silence" and document["rule"] is None
    assert action_of(msgspec.json.decode(encode_action(silence))) == silence
    assert action_of(
        {"type": "acknowledge", "alert_id": "a/b/1", "actor": "wang", "time_us": 5}
    ) == Acknowledge("a/b/1", "wang", 5)


@pytest.mark.parametrize(
    "document",
    [
        {"type": "reboot", "id": "x"},
        {"type": "silence", "id": "s1", "actor": "li"},  # no times
        {"type": "acknowledge", "alert_id": 7, "actor": "wang", "time_us": 1},
        {"type": "remove_silence", "id": "s1", "actor": "li", "time_us": "soon"},
    ],
)
def test_a_malformed_or_unknown_action_is_skipped(document, registry, rules, channels, caplog) -> None:
    applied = BatchOutcome()
    assert apply_action(AlertEngine(registry, rules, channels), document, applied) == []
    assert not applied.silences and not applied.removals
    assert "alert action skipped" in caplog.text


def test_a_silence_is_applied_and_kept_for_storage(registry, rules, channels) -> None:
    applied = BatchOutcome()
    engine = AlertEngine(registry, rules, channels)
    silence = SilenceAction("s1", "dalian", None, T_US + 60_000_000, "li", T_US)
    apply_action(engine, action_document(silence), applied)
    assert list(applied.silences) == ["s1"] and "s1" in engine.silences
    apply_action(engine, action_document(RemoveSilence("s1", "li", T_US + 1)), applied)
    assert applied.removals == [("s1", T_US + 1)]
