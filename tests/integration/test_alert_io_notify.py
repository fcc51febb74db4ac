"""Notifications against real local servers: an aiohttp webhook receiver that fails first, an aiosmtpd
SMTP server, and the machine's Mosquitto (127.0.0.1:1883) for alert topics. No mocks."""

from __future__ import annotations

import asyncio
import socket
import uuid
from email import message_from_bytes, policy

import aiomqtt
import asyncpg
import msgspec
import orjson
import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from alerts import AlertEvent
from services.config import Settings, load_settings
from services.db.alerts import store_alert_events, unclaimed_events
from services.notify import Notifier, NotifyConfig, RetryPolicy, alert_topic, publish_alert_events
from services.notify.config import parse_smtp_url
from tests.support.alert_io import (
    corrected_evening,
    database,  # noqa: F401  (fixture)
    do_reading,
    hypoxic_evening,
    new_engine,
)

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=4, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5.0)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class WebhookReceiver:
    """A real HTTP server answering `status` to the first `failures` requests, then 200."""

    def __init__(self, failures: int, status: int = 503) -> None:
        self.failures, self.status = failures, status
        self.requests: list[tuple[dict, str]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((orjson.loads(await request.read()), request.headers["Idempotency-Key"]))
        if len(self.requests) <= self.failures:
            return web.Response(status=self.status, text="not now")
        return web.Response(status=200, text="ok")

    async def __aenter__(self) -> WebhookReceiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}/hook"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.runner is not None
        await self.runner.cleanup()


class Mailbox:
    async def handle_DATA(self, server, session, envelope):
        self.messages.append((envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default)))
        return "250 OK"

    def __init__(self) -> None:
        self.messages: list = []


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield mailbox, f"smtp://127.0.0.1:{controller.port}"
    finally:
        controller.stop()


def lifecycle():
    """Pending yellow, firing yellow (webhook), orange (webhook + e-mail), then recovery → resolved."""
    engine = new_engine()
    events = hypoxic_evening(engine)
    for minutes in range(100, 170, 10):
        events += engine.observe([do_reading(minutes, 3.6)])
    return events


async def notifications(url: str) -> list[tuple]:
    conn = await asyncpg.connect(url)
    try:
        rows = await conn.fetch(
            "SELECT seq, channel, status, attempts, last_error FROM notifications ORDER BY 1, 2"
        )
        return [tuple(r) for r in rows]
    finally:
        await conn.close()


async def test_webhook_retries_then_sends_once(database):  # noqa: F811
    events = hypoxic_evening(new_engine())
    async with (
        WebhookReceiver(failures=2) as receiver,
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
    ):
        async with Notifier(pool, NotifyConfig(webhook_url=receiver.url, retry=FAST)) as notifier:
            report = await notifier.deliver(events)
            again = await notifier.deliver(events)  # a replayed batch
        # Firing and escalated go to the webhook (pending is never notified); the first two tries fail.
        assert (report.sent, report.dead, report.unconfigured) == (2, 0, 1)  # e-mail not configured
        assert (again.sent, again.already_claimed) == (0, 2)
        keys = [key for _, key in receiver.requests]
        assert keys == [f"{events[1].alert_id}#1"] * 3 + [f"{events[2].alert_id}#2"]
        assert AlertEvent.from_dict(receiver.requests[-1][0]) == events[2]
    assert await notifications(database.url) == [
        (1, "webhook", "sent", 3, None),
        (2, "webhook", "sent", 1, None),
    ]


async def test_webhook_dead_letter_after_the_last_attempt(database):  # noqa: F811
    (_, firing, _) = hypoxic_evening(new_engine())
    async with (
        WebhookReceiver(failures=99) as receiver,
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, NotifyConfig(webhook_url=receiver.url, retry=FAST)) as notifier,
    ):
        report = await notifier.deliver([firing])
        assert len(receiver.requests) == 4
    assert (report.sent, report.dead) == (0, 1)
    assert await notifications(database.url) == [(1, "webhook", "dead", 4, "HTTP 503: not now")]


async def test_a_refused_request_is_not_retried(database):  # noqa: F811
    (_, firing, _) = hypoxic_evening(new_engine())
    async with (
        WebhookReceiver(failures=99, status=404) as receiver,
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, NotifyConfig(webhook_url=receiver.url, retry=FAST)) as notifier,
    ):
        await notifier.deliver([firing])
        assert len(receiver.requests) == 1
    assert await notifications(database.url) == [(1, "webhook", "dead", 1, "HTTP 404: not now")]


async def test_unreachable_webhook_ends_as_dead_letter(database):  # noqa: F811
    (_, firing, _) = hypoxic_evening(new_engine())
    url = f"http://127.0.0.1:{free_port()}/nobody-listens"
    policy_ = RetryPolicy(attempts=2, backoff_s=0.01, timeout_s=2.0)
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, NotifyConfig(webhook_url=url, retry=policy_)) as notifier,
    ):
        report = await notifier.deliver([firing])
    assert report.dead == 1
    ((seq, channel, status, attempts, error),) = await notifications(database.url)
    assert (seq, channel, status, attempts) == (1, "webhook", "dead", 2)
    assert "ClientConnectorError" in error


async def test_email_by_severity_and_resolved_exactly_once(database, smtp_server):  # noqa: F811
    mailbox, smtp_url = smtp_server
    events = lifecycle()
    assert [e.kind for e in events] == ["pending", "firing", "escalated", "resolved"]
    config = NotifyConfig(
        webhook_url=None, smtp=parse_smtp_url(smtp_url), email_to=("duty@example.org",), retry=FAST
    )
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
        Notifier(pool, config) as notifier,
    ):
        conn = await pool.acquire()
        await store_alert_events(conn, events)
        await pool.release(conn)
        first = await notifier.deliver(events)
        replay = await notifier.deliver(events[2:])  # the worker restarted and replays the tail
    # channels.yaml: e-mail takes orange and above; the resolved notice follows the peak (orange).
    subjects = [m["Subject"] for _, m in mailbox.messages]
    assert subjects == [
        "[tidewatch] " + events[2].message_en,
        "[tidewatch] " + events[3].message_en,
    ]
    resolved = "[tidewatch] resolved: Low dissolved oxygen ended (peak orange) at Changhai"
    assert subjects[1].startswith(resolved)
    assert (first.sent, replay.sent, replay.already_claimed) == (2, 0, 2)
    recipients, message = mailbox.messages[0]
    assert recipients == ["duty@example.org"]
    body = message.get_content()
    assert events[2].message_zh in body and events[2].alert_id in body
    assert message["X-Tidewatch-Alert"] == f"{events[2].alert_id}#2"
    rows = await notifications(database.url)
    assert [(seq, ch, st) for seq, ch, st, *_ in rows] == [(2, "email", "sent"), (3, "email", "sent")]


async def test_a_claim_left_by_a_crash_is_sent_later(database, smtp_server):  # noqa: F811
    mailbox, smtp_url = smtp_server
    events = hypoxic_evening(new_engine())
    config = NotifyConfig(smtp=parse_smtp_url(smtp_url), email_to=("duty@example.org",), retry=FAST)
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, config) as notifier,
    ):
        async with pool.acquire() as conn:
            await store_alert_events(conn, events)
            # The claim a notifier made before it died, ten minutes ago.
            await conn.execute(
                "INSERT INTO notifications (alert_id, seq, channel, status, updated_at) "
                "VALUES ($1, 2, 'email', 'pending', now() - interval '10 minutes')",
                events[2].alert_id,
            )
        assert (await notifier.deliver(events)).already_claimed == 1
        assert mailbox.messages == []
        report = await notifier.retry_stale(older_than_s=300)
        assert report.sent == 1
        assert (await notifier.retry_stale(older_than_s=300)).sent == 0
    assert [m["X-Tidewatch-Alert"] for _, m in mailbox.messages] == [f"{events[2].alert_id}#2"]
    # Taken over from the crashed sender as stored: with the state it leaves and the value's unit.
    body = mailbox.messages[0][1].get_content()
    assert "event:    escalated, now firing, severity orange" in body
    assert f"value:    {events[2].value:.4g} mg/L" in body


def test_configuration_from_the_environment():
    config = NotifyConfig.from_settings(
        load_settings(
            {
                "TIDEWATCH_WEBHOOK_URL": "http://hooks.internal/tidewatch",
                "TIDEWATCH_SMTP_URL": "smtp://ops%40coast:s3cret@mail.internal:2525",
                "TIDEWATCH_ALERT_EMAIL_TO": "duty@coast.cn, chief@coast.cn",
                "TIDEWATCH_NOTIFY_ATTEMPTS": "7",
            }
        )
    )
    assert config.webhook_url == "http://hooks.internal/tidewatch"
    assert config.smtp is not None
    assert (config.smtp.host, config.smtp.port, config.smtp.username, config.smtp.password) == (
        "mail.internal",
        2525,
        "ops@coast",
        "s3cret",
    )
    assert config.email_to == ("duty@coast.cn", "chief@coast.cn")
    assert (config.retry.attempts, config.retry.delay_s(1), config.retry.delay_s(3)) == (7, 1.0, 4.0)
    assert NotifyConfig.from_settings(load_settings({})).smtp is None
    with pytest.raises(ValueError, match="TIDEWATCH_ALERT_EMAIL_TO"):
        NotifyConfig.from_settings(load_settings({"TIDEWATCH_SMTP_URL": "smtp://mail.internal:25"}))


async def retained(topic_filter: str, wait_s: float = 0.5) -> dict[str, bytes]:
    """What a field system that connects now receives at once: the retained messages."""
    got: dict[str, bytes] = {}
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"field-{uuid.uuid4().hex[:8]}") as client:
        await client.subscribe(topic_filter, qos=1)
        try:
            async with asyncio.timeout(wait_s):
                async for message in client.messages:
                    got[str(message.topic)] = bytes(message.payload)
        except TimeoutError:
            pass
    return got


async def test_mqtt_alert_topics_retain_the_open_state():
    network = f"it-{uuid.uuid4().hex[:8]}"
    events = lifecycle()
    topic = alert_topic(network, "changhai-seagrass", "hypoxia")
    assert topic == f"tidewatch/v1/alerts/{network}/changhai-seagrass/hypoxia"
    async with aiomqtt.Client("127.0.0.1", 1883, identifier=f"live-{network}") as live:
        await live.subscribe(f"tidewatch/v1/alerts/{network}/#", qos=1)
        assert await publish_alert_events(live, events[:3], network=network) == 3
        state = orjson.loads((await retained(f"tidewatch/v1/alerts/{network}/#"))[topic])
        assert state.pop("network") == network
        assert AlertEvent.from_dict(state) == events[2]
        # The Settings form connects for the call (the machine's Mosquitto, as above).
        await publish_alert_events(Settings(), events[3:], network=network)
        payloads = []
        async with asyncio.timeout(5):
            async for message in live.messages:
                payloads.append(bytes(message.payload))
                if len(payloads) == 5:
                    break
    kinds = [orjson.loads(p)["kind"] if p else "" for p in payloads]
    assert kinds == ["pending", "firing", "escalated", "resolved", ""]  # "" clears the retained state
    assert [orjson.loads(p)["state"] for p in payloads if p] == ["pending", "firing", "firing", "resolved"]
    assert await retained(f"tidewatch/v1/alerts/{network}/#") == {}


async def test_mqtt_keeps_an_alert_corrected_back_to_pending_open():
    """QC withdrew the reading that made the alert fire: `corrected` leaves it pending, still open, so
    it stays the retained state (with its state); the event that leaves it resolved clears it."""
    network = f"it-{uuid.uuid4().hex[:8]}"
    events = corrected_evening(new_engine())
    topic = alert_topic(network, "changhai-seagrass", "hypoxia")
    await publish_alert_events(Settings(), events[:3], network=network)
    state = orjson.loads((await retained(f"tidewatch/v1/alerts/{network}/#"))[topic])
    assert (state["kind"], state["state"], state["seq"]) == ("corrected", "pending", 2)
    await publish_alert_events(Settings(), events[3:], network=network)
    assert await retained(f"tidewatch/v1/alerts/{network}/#") == {}


async def test_stored_events_nobody_sent_are_swept_and_sent_once(database):  # noqa: F811
    # Stored, but never handed to the notifier (its queue was full, or the worker died in between): the
    # notifier's sweep of the stored events (the outbox) finds them and sends each once.
    def shifted(event: AlertEvent) -> AlertEvent:  # an alert of its own in this module's database
        station_rule, opened = event.alert_id.rsplit("/", 1)
        return msgspec.structs.replace(event, alert_id=f"{station_rule}/{int(opened) + 7}")

    events = [shifted(e) for e in hypoxic_evening(new_engine())]
    mine = events[0].alert_id
    async with (
        WebhookReceiver(failures=0) as receiver,
        asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool,
    ):
        async with pool.acquire() as conn:
            await store_alert_events(conn, events)
            # Older than the sweep's 5 s grace (it leaves the live hand-over alone).
            await conn.execute(
                "UPDATE alert_events SET recorded_at = now() - interval '1 minute' WHERE alert_id = $1", mine
            )
        async with Notifier(pool, NotifyConfig(webhook_url=receiver.url, retry=FAST)) as notifier:
            channels = sorted(notifier.senders)
            async with pool.acquire() as conn:
                missed = [e for e in await unclaimed_events(conn, 86_400, channels) if e.alert_id == mine]
            # Firing and escalated were routed to the webhook; e-mail is routed too but has no sender here,
            # so nothing is swept for it (it would be found again at every sweep).
            assert missed == [e for e in events if "webhook" in e.channels] and len(missed) == 2
            report = await notifier.deliver(missed)
            assert report.sent == 2
            async with pool.acquire() as conn:
                again = [e for e in await unclaimed_events(conn, 86_400, channels) if e.alert_id == mine]
            assert again == []
        assert [AlertEvent.from_dict(body) for body, _ in receiver.requests] == missed
