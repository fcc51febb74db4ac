"""Acknowledge, silences with an end time, re-notify while unacknowledged, and channel routing."""

from __future__ import annotations

import pytest
from alert_helpers import at, indicator, kinds

from alerts import Silence
from alerts.channels import Channel, route


def surge(engine, station: str, minutes: float, level: int):
    return engine.observe([indicator(station, "water_level_warning", minutes, level)])


def test_renotify_until_acknowledged(engine):
    (firing,) = surge(engine, "dalian", 0, 3)
    # storm_surge_warning re-notifies every 3 h of data time while firing and unacknowledged.
    events = engine.tick(at(7 * 60))
    assert kinds(events) == [("renotify", "orange", 180), ("renotify", "orange", 360)]
    assert all(e.channels == ("webhook", "email") for e in events)
    (ack,) = engine.acknowledge(firing.alert_id, actor="duty officer", time_us=at(400), comment="on it")
    assert (ack.kind, ack.actor, ack.comment, ack.seq) == ("acknowledged", "duty officer", "on it", 3)
    assert engine.acknowledge(firing.alert_id, actor="someone else", time_us=at(401)) == []
    assert engine.tick(at(12 * 60)) == []  # no more reminders once acknowledged
    # Escalation clears the acknowledgement: red needs a new one, and reminders resume.
    assert kinds(surge(engine, "dalian", 745, 4)) == [("escalated", "red", 745)]
    assert kinds(engine.tick(at(745 + 181))) == [("renotify", "red", 925)]


def test_acknowledging_an_unknown_or_closed_alert_does_nothing(engine):
    (firing,) = surge(engine, "dalian", 0, 1)
    surge(engine, "dalian", 745, 0)
    assert engine.acknowledge(firing.alert_id, actor="x", time_us=at(800)) == []
    assert engine.acknowledge("nowhere/none/0", actor="x", time_us=at(800)) == []
    assert engine.acknowledge("garbage", actor="x", time_us=at(800)) == []


def test_silence_mutes_until_it_expires(engine):
    surge(engine, "lushun", 0, 3)
    silence = Silence(
        "s1", created_us=at(60), ends_us=at(300), actor="ops", station="lushun", comment="drill"
    )
    (silenced,) = engine.silence(silence)
    assert (silenced.kind, silenced.time_us, silenced.channels, silenced.comment) == (
        "silenced",
        at(60),
        ("webhook",),
        "drill",
    )
    # While silenced: no reminders; an escalation is recorded but notifies nobody.
    (escalated,) = surge(engine, "lushun", 200, 4)
    assert (escalated.kind, escalated.channels) == ("escalated", ())
    # Expiry is an event at the silence's end time; reminders then count from there.
    events = engine.tick(at(300 + 181))
    assert kinds(events) == [("unsilenced", "red", 300), ("renotify", "red", 480)]
    assert events[1].channels == ("webhook", "email")
    assert engine.silences == {}  # expired silences are dropped


def test_silence_covers_alerts_that_open_during_it(engine):
    engine.silence(Silence("s2", created_us=at(0), ends_us=at(120), actor="ops", rule="storm_surge_warning"))
    (firing,) = surge(engine, "yingkou", 10, 2)
    assert (firing.kind, firing.channels) == ("firing", ())
    other = engine.observe([indicator("changhai-seagrass", "bloom_risk", 10, 3)])
    assert other[0].channels == ("webhook", "email")  # other rules are not silenced
    assert kinds(surge(engine, "yingkou", 130, 2)) == [("unsilenced", "yellow", 120)]


def test_removing_a_silence_early(engine):
    surge(engine, "dalian", 0, 2)
    engine.silence(Silence("s3", created_us=at(5), ends_us=at(600), actor="ops", station="dalian"))
    (unsilenced,) = engine.remove_silence("s3", actor="ops", time_us=at(30))
    assert (unsilenced.kind, unsilenced.time_us, unsilenced.actor) == ("unsilenced", at(30), "ops")
    assert engine.remove_silence("s3", actor="ops", time_us=at(31)) == []


def test_silence_needs_a_target_and_an_end():
    with pytest.raises(ValueError, match="give a station, a rule or both"):
        Silence("bad", created_us=1, ends_us=2, actor="ops")
    with pytest.raises(ValueError, match="ends before it starts"):
        Silence("bad", created_us=2, ends_us=2, actor="ops", station="dalian")


@pytest.mark.parametrize(
    ("kind", "severity", "fired", "silenced", "expected"),
    [
        ("firing", 1, True, False, ("webhook",)),
        ("firing", 3, True, False, ("webhook", "email")),
        ("deescalated", 4, True, False, ("webhook",)),  # e-mail does not take de-escalations
        ("resolved", 1, False, False, ()),  # a pending alert that never fired
        ("firing", 4, True, True, ()),
        ("silenced", 4, True, True, ("webhook",)),
        ("pending", 4, False, False, ()),
    ],
)
def test_routing(channels, kind, severity, fired, silenced, expected):
    assert route(channels, kind, severity, fired=fired, silenced=silenced) == expected


def test_routing_reads_the_channel_table():
    pager = (Channel("pager", min_severity=4, events=frozenset({"firing"})),)
    assert route(pager, "firing", 4, fired=True, silenced=False) == ("pager",)
    assert route(pager, "firing", 3, fired=True, silenced=False) == ()
