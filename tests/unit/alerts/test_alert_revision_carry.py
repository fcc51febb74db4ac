"""What happens between a reading and its QC revision survives the revision.

A reading is judged on its first flags and again, from the alert as it was before it, when QC revises
them (the spike test needs the next reading). Meanwhile an operator may acknowledge or silence the
alert and a timer (re-notice, silence end) may fire. The revision puts the alert back to before the
reading, judges it with its final flags, and then applies again what came after it: the operator's
acknowledgement and silences are kept (and not told twice), the timers are fired again on the
re-judged alert without a second notice, so the alert ends as if the final flags had been known at once.
"""

from __future__ import annotations

import json

from alert_helpers import at, feed, kinds, reading, settled

from alerts import AlertEngine, Silence

LEVEL = "water_level_m"
# Dalian: blue 3.6 m … red 4.2 m (left 10 cm below), no `for`, re-notify every 3 h.
WARNING = "water_level_warning"


def level(minutes: float, value: float, flag: int = 1, tests: tuple[str, ...] = ()):
    return reading("dalian", LEVEL, minutes, value, flag, tests)


def suspect(minutes: float, value: float):
    """First flags: suspect by the rate-of-change test, so the warning rule reads it."""
    return level(minutes, value, 3, ("rate_of_change",))


def spike(minutes: float, value: float):
    """The revision: the spike test fails it, so the warning rule withdraws it."""
    return reading("dalian", LEVEL, minutes, value, 4, ("spike", "rate_of_change"), revised=True)


def warning(engine: AlertEngine) -> dict:
    (alert,) = [a for a in engine.open_alerts() if a["rule"] == WARNING]
    return alert


def only_warning(events):
    return [e for e in events if e.rule == WARNING]


def test_an_acknowledgement_made_before_the_revision_is_kept(engine):
    opened = only_warning(feed(engine, [level(m, 3.7) for m in range(3)]))
    feed(engine, [suspect(3, 3.7)])
    (ack,) = engine.acknowledge(opened[0].alert_id, actor="wang", time_us=at(3.5), comment="seen")
    assert engine.observe([spike(3, 3.7)]) == []  # the level is blue either way
    assert warning(engine)["acknowledged"]
    # No reminder: the alert is still acknowledged (re-notify every 3 h while unacknowledged).
    assert only_warning(engine.tick(at(7 * 60))) == []
    assert ack.seq == 1


def test_an_acknowledgement_of_an_escalation_stays_when_it_is_corrected(engine):
    events = feed(engine, [level(m, 3.7) for m in range(3)])
    events += feed(engine, [suspect(3, 5.0)])
    alert_id = events[0].alert_id
    events += engine.acknowledge(alert_id, actor="wang", time_us=at(3.5))
    events += engine.observe([spike(3, 5.0)])
    assert kinds(only_warning(events)) == [
        ("firing", "blue", 0),
        ("escalated", "red", 3),
        ("acknowledged", "red", 4),
        ("corrected", "blue", 3),
    ]
    assert warning(engine)["acknowledged"]  # acknowledged at red, so blue too
    events += engine.tick(at(7 * 60))
    assert [e.kind for e in only_warning(events)].count("acknowledged") == 1
    assert "renotify" not in {e.kind for e in only_warning(events)}


def test_an_acknowledgement_covers_only_the_level_it_was_given_at(engine):
    # Red at 0, blue from 1: the alert de-escalates once keep-firing (30 min) lets red go, at 31.
    feed(engine, [level(0, 5.0), *(level(m, 3.65) for m in range(1, 31))])
    events = feed(engine, [suspect(31, 3.65)])
    assert kinds(only_warning(events)) == [("deescalated", "blue", 31)]
    engine.acknowledge(events[0].alert_id, actor="wang", time_us=at(31.5))
    # QC withdraws that reading: red again, as it was; blue was acknowledged, red was not.
    assert kinds(only_warning(engine.observe([spike(31, 3.65)]))) == [("corrected", "red", 31)]
    assert not warning(engine)["acknowledged"]


def test_a_silence_made_before_the_revision_is_kept(engine):
    events = feed(engine, [level(m, 3.7) for m in range(3)])
    events += feed(engine, [suspect(3, 5.0)])
    silence = Silence("s1", created_us=at(3.5), ends_us=at(600), actor="ops", station="dalian")
    events += engine.silence(silence)
    events += engine.observe([spike(3, 5.0)])
    assert warning(engine)["silence_id"] == "s1"
    events += engine.tick(at(600.5))
    assert kinds(only_warning(events)) == [
        ("firing", "blue", 0),
        ("escalated", "red", 3),
        ("silenced", "red", 4),
        ("corrected", "blue", 3),
        ("unsilenced", "blue", 600),  # no reminders while silenced, and told once when it ends
    ]


def test_a_silence_removed_before_the_revision_stays_removed(engine):
    engine.silence(Silence("s1", created_us=at(0), ends_us=at(600), actor="ops", station="dalian"))
    events = feed(engine, [level(m, 3.7) for m in range(3)])
    events += feed(engine, [suspect(3, 5.0)])
    events += engine.remove_silence("s1", actor="ops", time_us=at(3.5))
    events += engine.observe([spike(3, 5.0)])
    assert warning(engine)["silence_id"] is None
    # Reminders count from the silence's removal (3.5 min), at blue.
    events += engine.tick(at(3.5 + 180 + 0.5))
    assert kinds(only_warning(events))[-2:] == [("corrected", "blue", 3), ("renotify", "blue", 184)]


def test_a_silence_that_ends_before_the_revision_does_not_keep_a_spike_warning(engine):
    # A spike opens a (silenced) red warning; the silence ends before the next reading, which brings
    # the revision that fails the spike: the warning is retracted all the same.
    engine.silence(Silence("s1", created_us=at(0), ends_us=at(3.5), actor="ops", station="dalian"))
    events = feed(engine, [level(m, 2.0) for m in range(3)])
    events += feed(engine, [suspect(3, 5.2)])
    events += engine.tick(at(4))
    events += engine.observe([spike(3, 5.2)])
    assert kinds(only_warning(events)) == [
        ("firing", "red", 3),
        ("unsilenced", "red", 4),
        ("retracted", "red", 3),
    ]
    assert engine.stations["dalian"].late_revisions == 0
    assert [a for a in engine.open_alerts() if a["rule"] == WARNING] == []


def test_a_renotice_before_the_revision_is_fired_again_on_the_corrected_alert(registry, rules, channels):
    # Red at 0 (reminder due at 180), blue readings from 160; the suspect reading at 179.6 is the
    # first that keep-firing (30 min after the last red one, at 149.5) lets de-escalate.
    before = [level(m, 5.0) for m in (0, 30, 60, 90, 120, 149.5)] + [level(m, 3.65) for m in (160, 170)]
    stream = AlertEngine(registry, rules, channels)
    events = feed(stream, [*before, suspect(179.6, 3.65)])
    events += stream.tick(at(180.5))
    events += stream.observe([spike(179.6, 3.65)])
    events += feed(stream, [level(181, 3.65)])
    assert kinds(only_warning(events))[-4:] == [
        ("deescalated", "blue", 180),
        ("renotify", "blue", 180),
        ("corrected", "red", 180),  # the withdrawn reading no longer lets red go
        ("deescalated", "blue", 181),
    ]
    assert stream.stations["dalian"].late_revisions == 0
    # The same as judging the reading once with its final flags (withdrawn: not judged at all).
    batch = AlertEngine(registry, rules, channels)
    feed(batch, before)
    batch.tick(at(180.5))
    feed(batch, [level(181, 3.65)])
    assert settled(stream) == settled(batch)


def test_what_came_after_the_reading_survives_a_restart(registry, rules, channels, engine):
    opened = only_warning(feed(engine, [level(m, 3.7) for m in range(3)]))
    feed(engine, [suspect(3, 5.0)])
    engine.acknowledge(opened[0].alert_id, actor="wang", time_us=at(3.5))
    restarted = AlertEngine(registry, rules, channels)
    restarted.load_dict(json.loads(json.dumps(engine.to_dict())))  # the changelog table's round trip
    assert kinds(only_warning(restarted.observe([spike(3, 5.0)]))) == [("corrected", "blue", 3)]
    assert warning(restarted)["acknowledged"]


def test_a_reopened_alert_is_silenced_by_a_silence_made_while_it_was_resolved(engine):
    buoy, do = "liaodong-bay-buoy", "dissolved_oxygen_mg_l"
    # Hypoxic, 40 min without values, then a reading that resolves it; a silence of the buoy begins.
    feed(engine, [reading(buoy, do, m, 1.8) for m in range(0, 70, 10)])
    feed(engine, [reading(buoy, do, m, None, flag=9) for m in (70, 80, 90, 100)])
    feed(engine, [reading(buoy, do, 110, 6.0)])
    assert engine.silence(Silence("s1", created_us=at(111), ends_us=at(600), actor="ops", station=buoy)) == []
    # QC fails the resolving reading: the alert is open again, as it would have been under the silence.
    (reopened,) = engine.observe([reading(buoy, do, 110, 6.0, 4, ("spike",), revised=True)])
    assert (reopened.kind, reopened.channels) == ("reopened", ())
    (alert,) = [a for a in engine.open_alerts() if a["rule"] == "hypoxia"]
    assert alert["silence_id"] == "s1"
