"""Inhibition and escalation tiers in the alert engine (alerts/routing.yaml, alerts/router.py).

Held notices are still events (recorded, no channels); a tier step is an event at its due time in
data time, so a replay with ticks landing elsewhere gives the same events."""

from __future__ import annotations

import pytest
from alert_helpers import at, indicator, kinds, reading

from alerts import AlertEngine, RuleError
from alerts.channels import Channel
from alerts.routing import Escalation, Routing, Tier, load_routing, parse_routing

HEAD = Channel("head_sms", 1, frozenset(), "sms")
BOARD = Channel("board_feishu", 1, frozenset(), "feishu")


@pytest.fixture(scope="module")
def routing(rules, channels):
    return load_routing(rules, channels)


@pytest.fixture
def routed(registry, rules, channels, routing) -> AlertEngine:
    return AlertEngine(registry, rules, channels, routing=routing)


def tiered(registry, rules, channels, after: dict[int, tuple[int, ...]]) -> AlertEngine:
    """An engine whose tier 2 is the head of centre's SMS and tier 3 the board's Feishu group."""
    escalation = Escalation(
        (Tier(2, "head of centre", ("head_sms",)), Tier(3, "board", ("board_feishu",))), after
    )
    return AlertEngine(registry, rules, (*channels, HEAD, BOARD), routing=Routing(escalation=escalation))


def failing(station: str, minutes: float):
    """A water-level reading that fails QC's gross range test (a sensor fault, not a flood)."""
    return reading(station, "water_level_m", minutes, 20.0, 4, ("gross_range",))


def of(events, rule: str):
    return [e for e in events if e.rule == rule]


# -- the shipped file and its checks -------------------------------------------------------------------
def test_the_shipped_routing_loads(routing):
    assert routing.inhibitions[0].targets == {"sensor_flat_line", "sensor_repeated_fail"}
    assert routing.escalation.tiers == ()  # off until a centre names its tiers' channels
    assert routing.group_of("water_level_warning").by == ("rule", "area")


@pytest.mark.parametrize(
    ("document", "complaint"),
    [
        (
            {"inhibit": [{"id": "x", "when": {"rules": ["nope"]}, "hold": ["hypoxia"]}]},
            "inhibit[0].when.rules': no rule 'nope'",
        ),
        (
            {"inhibit": [{"id": "x", "when": {"rules": ["hypoxia"]}, "hold": ["hypoxia"]}]},
            "cannot hold its own",
        ),
        ({"hazards": {"flood": ["water_level_warning"]}}, "two or more rules"),
        ({"escalation": {"tiers": [{"name": "h", "channels": ["pager"]}]}}, "no channel 'pager'"),
        ({"escalation": {"after": {"red": ["30m"]}}}, "1 delays but only 0 tier(s)"),
        (
            {"escalation": {"tiers": [{"name": "h", "channels": ["email"]}], "after": {"crimson": ["1h"]}}},
            "unknown severity 'crimson'",
        ),
        (
            {
                "groups": [
                    {"id": "g", "rules": ["hypoxia"], "window": "1d", "channels": ["email"], "by": ["county"]}
                ]
            },
            "no group key 'county'",
        ),
        (
            {"groups": [{"id": "g", "rules": ["hypoxia"], "window": "0s", "channels": ["email"]}]},
            "must be positive",
        ),
        ({"colour": "red"}, "unknown field"),
    ],
)
def test_a_bad_routing_file_names_the_field(rules, channels, document, complaint):
    with pytest.raises(RuleError, match=r"routing\.yaml") as error:
        parse_routing(document, rules, channels, "routing.yaml")
    assert complaint in str(error.value)


# -- inhibition ----------------------------------------------------------------------------------------
def test_a_low_battery_holds_the_stations_sensor_faults(routed):
    battery = [reading("dalian", "battery_voltage_v", m, 11.4) for m in range(0, 40, 5)]
    events = routed.observe(battery) + routed.observe([failing("dalian", m) for m in (41, 42, 43)])
    assert kinds(of(events, "battery_low")) == [("pending", "orange", 0), ("firing", "orange", 30)]
    (fault,) = of(events, "sensor_repeated_fail")
    assert (fault.kind, fault.channels, fault.comment) == (
        "firing",
        (),
        "held: battery_low orange at this station",
    )
    # Elsewhere the same fault is notified.
    (other,) = of(routed.observe([failing("lushun", m) for m in (41, 42, 43)]), "sensor_repeated_fail")
    assert other.channels == ("webhook", "email")


def test_a_silent_stations_sensor_faults_send_nothing(routed):
    events = routed.observe([failing("dalian", m) for m in (0, 1, 2)])
    assert of(events, "sensor_repeated_fail")[0].channels == ("webhook", "email")
    # The station falls silent (3 intervals of 1 min); its fault's reminder a day later is held,
    # and when its sensor fault resolves nobody is told twice: the station's own alert said it all.
    events = routed.tick(at(1443))
    assert kinds(of(events, "station_silent")) == [("firing", "yellow", 5), ("renotify", "yellow", 725)]
    (reminder,) = of(events, "sensor_repeated_fail")
    assert (reminder.kind, reminder.channels) == ("renotify", ())
    assert reminder.comment == "held: station_silent yellow at this station"


def test_a_fault_held_from_the_start_is_not_resolved_to_anyone(routed):
    battery = [reading("dalian", "battery_voltage_v", m, 11.4) for m in range(0, 40, 5)]
    routed.observe(battery)
    routed.observe([failing("dalian", m) for m in (41, 42, 43)])
    ok = routed.observe([reading("dalian", "battery_voltage_v", m, 12.5) for m in range(45, 200, 5)])
    assert kinds(of(ok, "battery_low")) == [("resolved", "orange", 100)]
    good = routed.observe([reading("dalian", "water_level_m", m, 2.0) for m in range(200, 280)])
    (resolved,) = of(good, "sensor_repeated_fail")
    assert (resolved.kind, resolved.channels) == ("resolved", ())


def test_a_higher_level_of_the_same_hazard_holds_the_lower_ones_notice(routed):
    observed = routed.observe([reading("yingkou", "water_level_m", 0, 4.8)])  # orange
    assert [(e.kind, e.channels) for e in observed] == [("firing", ("webhook", "email"))]
    (graded,) = of(
        routed.observe([indicator("yingkou", "water_level_warning", 200, 2)]), "storm_surge_warning"
    )
    assert (graded.kind, graded.channels, graded.comment) == (
        "firing",
        (),
        "held: water_level_warning orange at this station",
    )
    later = of(routed.observe([indicator("yingkou", "water_level_warning", 950, 4)]), "storm_surge_warning")
    assert {(e.kind, e.channels) for e in later[:-1]} == {("renotify", ())}  # its reminders held too
    assert (later[-1].kind, later[-1].channels) == ("escalated", ("webhook", "email"))  # red: above orange


# -- escalation tiers ------------------------------------------------------------------------------------
MIN = 60_000_000
RED_AFTER = {4: (30 * MIN, 60 * MIN)}  # red: tier 2 after 30 min, tier 3 an hour after that


def test_an_unacknowledged_red_alert_reaches_tier_2_then_3(registry, rules, channels):
    engine = tiered(registry, rules, channels, RED_AFTER)
    (firing,) = engine.observe([indicator("dalian", "water_level_warning", 0, 4)])
    assert engine.tick(at(29) + engine.tick_grace_us) == []
    (tier2,) = engine.tick(at(31) + engine.tick_grace_us)
    assert (tier2.kind, tier2.time_us, tier2.channels, tier2.seq) == (
        "tier_escalated",
        at(30),
        ("head_sms",),
        1,
    )
    assert (tier2.comment, tier2.state) == ("tier 2 (head of centre): unacknowledged for 30 min", "firing")
    assert tier2.message_en.startswith("tier_escalated: Storm surge warning red at")
    (tier3,) = engine.tick(at(95) + engine.tick_grace_us)
    assert (tier3.time_us, tier3.channels) == (at(90), ("board_feishu",))
    # Everyone reached hears the acknowledgement and the end; reminders stay with tier 1.
    (ack,) = engine.acknowledge(firing.alert_id, actor="wang", time_us=at(100))
    assert ack.channels == ("webhook", "head_sms", "board_feishu")
    assert engine.tick(at(24 * 60)) == []
    (resolved,) = engine.observe([indicator("dalian", "water_level_warning", 24 * 60 + 5, 0)])
    assert resolved.channels == ("webhook", "email", "head_sms", "board_feishu")


def test_acknowledging_stops_the_chain_and_a_new_severity_restarts_it(registry, rules, channels):
    engine = tiered(registry, rules, channels, {3: (60 * MIN,), 4: (30 * MIN,)})
    (firing,) = engine.observe([indicator("dalian", "water_level_warning", 0, 3)])  # orange: 1 h
    engine.acknowledge(firing.alert_id, actor="wang", time_us=at(20))
    assert engine.tick(at(120)) == []
    (red,) = engine.observe([indicator("dalian", "water_level_warning", 130, 4)])
    assert red.kind == "escalated"
    assert kinds(engine.tick(at(170))) == [("tier_escalated", "red", 160)]


def test_a_silenced_alert_does_not_escalate(registry, rules, channels):
    from alerts import Silence

    engine = tiered(registry, rules, channels, RED_AFTER)
    engine.observe([indicator("dalian", "water_level_warning", 0, 4)])
    engine.silence(Silence("s", created_us=at(10), ends_us=at(100), actor="ops", station="dalian"))
    assert kinds(engine.tick(at(125))) == [("unsilenced", "red", 100)]  # the chain starts again there
    assert kinds(engine.tick(at(135))) == [("tier_escalated", "red", 130)]


def log(tick_every_min: float) -> list:
    """One alert-inputs log: a red surge at two gauges, dalian's readings every 2 min, its alert
    acknowledged at 40 min, and a tick every `tick_every_min` of data time (to 4 h)."""
    records: list = [
        indicator("dalian", "water_level_warning", 0, 4),
        indicator("zhuanghe", "water_level_warning", 3, 4),
        *[reading("dalian", "water_level_m", m, 2.0) for m in range(5, 150, 2)],
    ]
    records.insert(next(i for i, r in enumerate(records) if r.time_us > at(40)), "ack")
    ticks = [at(m) for m in range(0, 241, tick_every_min)]
    timed = [(r.time_us if r != "ack" else at(40), 1, i, r) for i, r in enumerate(records)]
    return [r for *_, r in sorted(timed + [(t, 0, -1, t) for t in ticks], key=lambda x: x[:3])]


def replay(engine: AlertEngine, records: list) -> list[dict]:
    events = []
    for record in records:
        if record == "ack":
            dalian = next(e for e in events if e.station == "dalian")
            events += engine.acknowledge(dalian.alert_id, actor="wang", time_us=at(40))
        elif isinstance(record, int):
            events += engine.tick(record)
        else:
            events += engine.observe([record])
    return sorted((e.to_dict() for e in events), key=lambda e: (e["alert_id"], e["seq"]))


def test_tiers_are_the_same_on_replay_wherever_the_ticks_land(registry, rules, channels):
    runs = [replay(tiered(registry, rules, channels, RED_AFTER), log(every)) for every in (1, 7, 13)]
    steps = [(e["station"], (e["time_us"] - at(0)) // MIN) for e in runs[0] if e["kind"] == "tier_escalated"]
    # dalian: tier 2 at 30 min, acknowledged at 40 (no tier 3); zhuanghe: tier 2 at 33, tier 3 at 93.
    assert steps == [("dalian", 30), ("zhuanghe", 33), ("zhuanghe", 93)]
    assert runs[1] == runs[0] == runs[2]


def test_the_chain_survives_a_restart_from_the_station_state(registry, rules, channels):
    engine = tiered(registry, rules, channels, RED_AFTER)
    engine.observe([indicator("dalian", "water_level_warning", 0, 4)])
    engine.tick(at(35))
    restarted = tiered(registry, rules, channels, RED_AFTER)
    restarted.load_dict(engine.to_dict())
    assert kinds(restarted.tick(at(95))) == kinds(engine.tick(at(95))) == [("tier_escalated", "red", 90)]


def test_alertmanager_is_not_a_group_channel(rules, channels):
    am = Channel("am", 1, frozenset({"firing"}), "alertmanager")
    group = {"id": "g", "rules": ["hypoxia"], "window": "1d", "channels": ["am"]}
    with pytest.raises(RuleError, match="Alertmanager groups alerts itself"):
        parse_routing({"groups": [group]}, rules, (*channels, am), "routing.yaml")
