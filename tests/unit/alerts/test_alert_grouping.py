"""Incident groups (alerts/grouping.py): the group an alert belongs to is a function of the alert
alone, and a group's members end the same whatever order the partitions' events come in."""

from __future__ import annotations

import itertools

import msgspec
from alert_helpers import at, indicator

from alerts.grouping import Incident, group_id
from alerts.routing import GroupSpec

DAY_US = 86_400_000_000
SPEC = GroupSpec("flood", frozenset({"storm_surge_warning"}), ("rule", "area"), DAY_US, frozenset({"email"}))


def surge_events(engine, station: str, start: float) -> list:
    events = engine.observe([indicator(station, "water_level_warning", start, 2)])
    events += engine.observe([indicator(station, "water_level_warning", start + 100, 3)])
    return events + engine.observe([indicator(station, "water_level_warning", start + 150, 0)])


def test_the_group_is_named_by_rule_area_and_window(engine, registry):
    bay = [surge_events(engine, s, 0)[0] for s in ("bayuquan", "yingkou", "huludao")]
    names = {group_id(SPEC, registry.stations[e.station], e) for e in bay}
    assert len(names) == 1
    (name,) = names
    assert name.startswith("group:flood/storm_surge_warning/liaodong-bay/")
    # Dalian is in another sea area; an alert opening in the next day's window is another incident.
    (dalian, *_) = surge_events(engine, "dalian", 0)
    later = surge_events(engine, "bayuquan", 3 * 24 * 60)[0]
    assert group_id(SPEC, registry.stations["dalian"], dalian) != name
    assert group_id(SPEC, registry.stations["bayuquan"], later) != name


def test_members_end_the_same_in_any_order_of_the_partitions(engine):
    by_station = [surge_events(engine, s, 10 * i) for i, s in enumerate(("bayuquan", "yingkou", "huludao"))]
    finals = set()
    for order in itertools.permutations(range(3)):
        incident = Incident("g", "flood")
        # Each station's events in their own order (one partition), stations interleaved as given.
        for events in itertools.zip_longest(*(by_station[i] for i in order)):
            for event in events:
                if event is not None:
                    incident.apply(event)
        finals.add(repr(sorted(incident.members.items())))
    assert len(finals) == 1


def test_the_notice_lists_members_and_follows_them(engine):
    incident = Incident("g", "flood")
    first, escalated, resolved = surge_events(engine, "yingkou", 0)
    assert incident.apply(first)
    notice = incident.notice(("email",))
    assert (notice.alert_id, notice.seq, notice.kind, notice.severity) == ("g", 0, "group_opened", "yellow")
    assert notice.message_en.splitlines()[1] == f"- {first.message_en}"
    (other, _, other_resolved) = surge_events(engine, "bayuquan", 5)
    assert incident.apply(other) and incident.apply(escalated)
    assert incident.apply(first) is False  # an older event of a member changes nothing
    update = incident.notice(("email",))
    assert (update.seq, update.kind, update.severity) == (1, "group_updated", "orange")
    assert "2 of 2 stations open" in update.message_en
    assert incident.apply(resolved)
    assert incident.notice(("email",)).kind == "group_updated"  # bayuquan still open
    assert incident.apply(other_resolved)
    closed = incident.notice(("email",))
    assert (closed.seq, closed.kind, closed.severity) == (3, "group_resolved", "orange")


def test_a_reminder_updates_a_member_quietly(engine):
    first, *_ = surge_events(engine, "yingkou", 0)
    incident = Incident("g", "flood")
    incident.apply(first)
    reminder = msgspec.structs.replace(first, seq=1, kind="renotify", time_us=at(180))
    assert incident.apply(reminder) is False
    member = incident.members[first.alert_id]
    assert (member["seq"], member["kind"], member["message_en"]) == (1, "firing", first.message_en)
    stranger = msgspec.structs.replace(first, alert_id="huludao/storm_surge_warning/1", kind="renotify")
    assert incident.apply(stranger) is False and len(incident.members) == 1  # never heard open
