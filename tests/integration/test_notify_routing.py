"""Escalation tiers and incident groups through the real notifier, a fresh PostgreSQL database and
local HTTP receivers (no Kafka: the engine is fed directly, as the alert agent would feed it)."""

from __future__ import annotations

import aiohttp
import asyncpg
import pytest
from test_alert_io_notify import FAST, WebhookReceiver

from alerts import AlertEngine, AlertEvent, Observation, Silence, load_rules
from alerts.channels import Channel
from alerts.routing import Escalation, GroupSpec, Routing, Tier
from schemas.registry import load_registry
from services.console import create_console
from services.console.serve import serve_console
from services.db.alerts import store_alert_events
from services.notify import Notifier, NotifyConfig
from services.notify.groups import Grouping, recent_groups
from services.notify.senders import WebhookSender
from tests.support.alert_io import (
    MINUTE_US,
    at,
    database,  # noqa: F401  (fixture)
)

pytestmark = pytest.mark.integration

ALL = frozenset({"firing", "escalated", "deescalated", "renotify", "resolved", "acknowledged"})
DUTY = Channel("duty_chat", 1, ALL, "webhook")
HEAD = Channel("head_chat", 1, frozenset(), "webhook")
GAUGES = ("dalian", "zhuanghe", "dandong", "yingkou")  # four tide gauges along the coast


def engine(routing: Routing) -> AlertEngine:
    registry = load_registry()
    return AlertEngine(registry, load_rules(registry), (DUTY, HEAD), routing=routing)


async def store(pool: asyncpg.Pool, events: list[AlertEvent]) -> int:
    async with pool.acquire() as conn:
        return await store_alert_events(conn, events)


def surge(station: str, minutes: float, level: int) -> Observation:
    return Observation(station, "indicator", "water_level_warning", at(minutes), float(level))


async def test_an_unacknowledged_red_alert_reaches_tier_2_and_stops_when_acknowledged(database):  # noqa: F811
    routing = Routing(
        escalation=Escalation((Tier(2, "head of centre", ("head_chat",)),), {4: (30 * MINUTE_US,)})
    )

    def run(e: AlertEngine) -> list[AlertEvent]:
        events = e.observe([surge("dalian", 0, 4)])
        events += e.tick(at(20))
        events += e.tick(at(35))  # tier 2 due at 30 min of data time
        events += e.acknowledge(events[0].alert_id, actor="wang", time_us=at(40))
        return events + e.tick(at(240))  # acknowledged: no tier 3, no reminders

    events = run(engine(routing))
    assert [(e.kind, e.channels) for e in events] == [
        ("firing", ("duty_chat",)),
        ("tier_escalated", ("head_chat",)),
        ("acknowledged", ("duty_chat", "head_chat")),
    ]
    assert events[1].time_us == at(30)
    async with (
        WebhookReceiver(failures=0) as duty,
        WebhookReceiver(failures=0) as head,
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
    ):
        senders = {"duty_chat": WebhookSender(duty.url, 5.0), "head_chat": WebhookSender(head.url, 5.0)}
        async with Notifier(
            pool, NotifyConfig(retry=FAST), channels=(DUTY, HEAD), senders=senders
        ) as notifier:
            assert await store(pool, events) == 3
            await notifier.deliver(events)
            replayed = run(engine(routing))  # the same log judged again: the same events
            assert replayed == events
            assert await store(pool, replayed) == 0
            again = await notifier.deliver(replayed)
        assert again.sent == 0 and again.already_claimed == 4  # (event, channel) pairs
        assert [p["kind"] for p, _ in duty.requests] == ["firing", "acknowledged"]
        assert [(p["kind"], p["comment"]) for p, _ in head.requests] == [
            ("tier_escalated", "tier 2 (head of centre): unacknowledged for 30 min"),
            ("acknowledged", ""),
        ]
        async with pool.acquire() as conn:
            stored = await conn.fetch("SELECT kind FROM alert_events ORDER BY seq")
        assert [r["kind"] for r in stored] == ["firing", "tier_escalated", "acknowledged"]


def storm(e: AlertEngine) -> tuple[list[AlertEvent], list[AlertEvent], list[AlertEvent]]:
    """A surge along the coast: all four gauges yellow within the hour, two of them red later, then
    every one resolved."""
    opened = [ev for i, g in enumerate(GAUGES) for ev in e.observe([surge(g, 10 * i, 2)])]
    worse = [ev for g in GAUGES[:2] for ev in e.observe([surge(g, 200, 4)])]
    over = [ev for g in GAUGES for ev in e.observe([surge(g, 900, 0)])]
    return opened, worse, over


async def test_a_storm_across_four_gauges_is_one_group_notice_and_its_updates(database):  # noqa: F811
    spec = GroupSpec(
        "coastal_flooding",
        frozenset({"storm_surge_warning"}),
        ("rule", "network"),
        86_400_000_000,
        frozenset({"duty_chat"}),
    )
    routing = Routing(groups=(spec,))
    opened, worse, over = storm(engine(routing))
    every = opened + worse + over
    told = [e.kind for e in every if e.kind != "renotify"]  # the 3-h reminders ride along
    assert told == ["firing"] * 4 + ["escalated"] * 2 + ["resolved"] * 4
    async with (
        WebhookReceiver(failures=0) as duty,
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
    ):
        senders = {"duty_chat": WebhookSender(duty.url, 5.0)}
        grouping = Grouping(routing, load_registry())
        async with Notifier(
            pool, NotifyConfig(retry=FAST), channels=(DUTY,), senders=senders, grouping=grouping
        ) as notifier:
            await store(pool, every)
            first = await notifier.deliver(opened)  # the four openings in one batch: one notice
            for event in worse + over:  # then one by one, as workers of different partitions hand them
                await notifier.deliver([event])
            replay = await notifier.deliver(every)
            async with pool.acquire() as conn:
                (group,) = await recent_groups(conn)
                # A notifier that crashed while sending notice 3 left its claim pending: sent again.
                await conn.execute(
                    "UPDATE notifications SET status = 'pending', updated_at = now() - interval '1 hour' "
                    "WHERE alert_id = $1 AND seq = 3",
                    group["group_id"],
                )
            retried = await notifier.retry_stale(older_than_s=60)
        *notices, resent = [AlertEvent.from_dict(p) for p, _ in duty.requests]
        assert retried.sent == 1 and resent == notices[3]
        assert (first.sent, first.grouped) == (1, 4)
        assert (replay.sent, replay.grouped) == (0, len(every))
        # One group, its notices numbered 0 … n: opened with four members, then two escalations and
        # four resolutions; no member's own notice reaches the duty chat.
        assert {n.alert_id for n in notices} == {group["group_id"]}
        assert [(n.seq, n.kind, n.severity) for n in notices] == [
            (0, "group_opened", "yellow"),
            (1, "group_updated", "red"),
            (2, "group_updated", "red"),
            (3, "group_updated", "red"),
            (4, "group_updated", "yellow"),
            (5, "group_updated", "yellow"),
            (6, "group_resolved", "red"),
        ]
        assert notices[0].station == ",".join(sorted(GAUGES))
        assert notices[0].message_en.count("\n- firing: Storm surge warning yellow") == 4
        assert "2 of 4 stations open" in notices[4].message_en
        assert group["state"] == "resolved" and len(group["members"]) == 4
        assert {m["kind"] for m in group["members"]} == {"resolved"}
    # The console lists the group with its members (the page expands it).
    running = await serve_console(create_console(database.settings, None, secret=b"test-secret"))
    try:
        async with aiohttp.ClientSession() as http, http.get(running.url + "/api/groups") as response:
            assert response.status == 200
            (shown,) = (await response.json())["groups"]
    finally:
        await running.stop()
    assert (shown["group_id"], shown["spec"], shown["revision"]) == (group["group_id"], "coastal_flooding", 6)
    assert [m["station"] for m in shown["members"]] == sorted(GAUGES)


async def test_a_member_closing_under_a_silence_leaves_the_group_quietly(database):  # noqa: F811
    spec = GroupSpec(
        "coastal_flooding",
        frozenset({"storm_surge_warning"}),
        ("rule",),
        86_400_000_000,
        frozenset({"duty_chat"}),
    )
    routing = Routing(groups=(spec,))
    e = engine(routing)
    opened = [ev for g in ("dalian", "zhuanghe") for ev in e.observe([surge(g, 0, 2)])]
    e.silence(Silence("s", created_us=at(10), ends_us=at(600), actor="ops", station="dalian"))
    (quiet,) = e.observe([surge("dalian", 20, 0)])
    assert (quiet.kind, quiet.channels) == ("resolved", ())
    (last,) = e.observe([surge("zhuanghe", 30, 0)])
    async with (
        WebhookReceiver(failures=0) as duty,
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
    ):
        grouping = Grouping(routing, load_registry())
        senders = {"duty_chat": WebhookSender(duty.url, 5.0)}
        async with Notifier(
            pool, NotifyConfig(retry=FAST), channels=(DUTY,), senders=senders, grouping=grouping
        ) as n:
            await store(pool, [*opened, quiet, last])
            await n.deliver(opened)
            await n.deliver([quiet])  # routed nowhere: the group hears it, nobody is told
            await n.deliver([quiet])  # again: nothing changes
            await n.deliver([last])
            async with pool.acquire() as conn:
                (group,) = await recent_groups(conn)
    assert [(p["seq"], p["kind"]) for p, _ in duty.requests] == [(0, "group_opened"), (1, "group_resolved")]
    assert "0 of 2 stations open" in duty.requests[-1][0]["message_en"]
    assert group["state"] == "resolved"
