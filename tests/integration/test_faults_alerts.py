"""A worker killed (SIGKILL) after it stored alert events and before any notice went out (issue 19).

Real worker and ingest processes, private Mosquitto, Tansu, PostgreSQL and a local webhook receiver.
The fault is placed exactly: the test holds a lock on ``notifications`` so the worker's notifier
blocks on its first claim while the alert agent stores the whole lifecycle; the worker is killed
there. Nothing durable says a notice was sent. Two cases: killed at once, the restarted worker
re-reads the alert inputs it had not committed and hands the re-made events over again (the claim
keeps it to one notice each); killed after its offsets were committed, nothing is re-read and only
the outbox sweep of the stored events (``streams/agents/alerts.py`` ``_sweep``) can deliver them.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from test_alert_io_notify import WebhookReceiver
from test_alerts_pipeline import DO, EPISODE, STEP_US, T_ALERTS, readings

from alerts import AlertEvent, Observation
from alerts.channels import load_channels
from alerts.engine import AlertEngine
from alerts.loader import load_rules
from schemas.records import ALERT_INPUTS_TOPIC
from schemas.registry import load_registry
from services.stack.pipeline import Pipeline
from tests.support.pipeline import Publisher, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

SWEEP_S = 1.0  # TIDEWATCH_NOTIFY_SWEEP_S for this worker (30 s by default)
STATION = "liaodong-bay-buoy"
DAY_US = 86_400_000_000
COUNT_EVENTS = (
    "SELECT count(*) FROM alert_events WHERE station_id = $1 AND rule = 'hypoxia'"
    " AND time >= to_timestamp($2 / 1e6)"
)
BLOCKED_CLAIMS = """
SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.relation = 'notifications'::regclass AND NOT l.granted AND a.datname = current_database()
"""


@pytest.fixture(scope="module")
async def receiver() -> WebhookReceiver:
    async with WebhookReceiver(failures=0) as server:
        yield server


@pytest.fixture(scope="module")
def pipeline_env(receiver: WebhookReceiver) -> dict[str, str]:
    """The worker's webhook channel points at the receiver; its outbox sweep runs every second."""
    return {"TIDEWATCH_WEBHOOK_URL": receiver.url, "TIDEWATCH_NOTIFY_SWEEP_S": str(SWEEP_S)}


def episode_events(pipeline: Pipeline, start_us: int) -> list[AlertEvent]:
    """The hypoxia events the rule engine gives for the episode's readings fed directly."""
    registry = load_registry(pipeline.settings.registry_path)
    engine = AlertEngine(registry, load_rules(registry), load_channels())
    observations = [
        Observation(STATION, "reading", DO, start_us + i * STEP_US, v) for i, v in enumerate(EPISODE)
    ]
    return [e for e in engine.observe(observations) if e.rule == "hypoxia"]


async def _inputs_committed(pipeline: Pipeline, timeout_s: float = 60) -> bool:
    """Wait until the worker's committed offsets on the alert inputs reach today's ends."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=pipeline.settings.kafka_bootstrap,
        group_id=pipeline.settings.worker_id,
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        await consumer.topics()
        parts = [
            TopicPartition(ALERT_INPUTS_TOPIC, p) for p in consumer.partitions_for_topic(ALERT_INPUTS_TOPIC)
        ]
        ends = await consumer.end_offsets(parts)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            committed = [await consumer.committed(tp) or 0 for tp in parts]
            if all(offset >= ends[tp] for offset, tp in zip(committed, parts, strict=True)):
                return True
            await asyncio.sleep(0.5)
        return False
    finally:
        await consumer.stop()


@pytest.mark.parametrize("inputs", ["replayed", "committed"])
async def test_worker_killed_between_storing_and_notifying_sends_each_notice_once(
    pipeline: Pipeline, db: asyncpg.Connection, publisher: Publisher, receiver: WebhookReceiver, inputs: str
) -> None:
    start = T_ALERTS + (DAY_US if inputs == "committed" else 0)  # one alert of its own per case
    receiver.requests.clear()
    events = episode_events(pipeline, start)
    routed = [(e.alert_id, e.seq) for e in events if "webhook" in e.channels]
    expected_events = len(events)
    assert len(routed) >= 3  # firing, escalations, resolved

    holder = await asyncpg.connect(pipeline.settings.database_url)  # holds the lock
    try:
        lock = holder.transaction()
        await lock.start()
        await holder.execute("LOCK TABLE notifications IN ACCESS EXCLUSIVE MODE")
        publisher.publish_many(readings(STATION, start, EPISODE), pace_per_s=200)
        stored = await wait_for_count(
            db, COUNT_EVENTS, STATION, start, expected=expected_events, timeout_s=120
        )
        assert stored == expected_events
        deadline = time.monotonic() + 30
        while not await db.fetchval(BLOCKED_CLAIMS) and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        assert await db.fetchval(BLOCKED_CLAIMS) >= 1, "the notifier never reached its first claim"
        if inputs == "committed":  # nothing of the episode is read again after the restart
            assert await _inputs_committed(pipeline)
        assert pipeline.worker is not None
        pipeline.worker.kill()  # SIGKILL: events stored, no claim committed, no notice sent
        await lock.rollback()
        assert receiver.requests == []
        mine = sorted({alert_id for alert_id, _ in routed})
        claims = "SELECT count(*) FROM notifications WHERE alert_id = ANY($1::text[])"
        assert await db.fetchval(claims, mine) == 0
        log_offset = pipeline.worker.log_path.stat().st_size

        await pipeline.start_worker()
        await _wait_for_notices(receiver, set(routed), timeout_s=120)
        # Several sweeps past the sweep's grace (events 5 s old: services/db/alerts.py UNCLAIMED) on the
        # newest of these events, and never fewer than those sweeps after the notices: catch any second
        # send. (The events were stored before the kill, so most of the grace is over by now.)
        grace_left_s = await db.fetchval(
            "SELECT extract(epoch FROM max(recorded_at) + interval '5 seconds' - now())::float8"
            " FROM alert_events WHERE alert_id = ANY($1::text[])",
            mine,
        )
        await asyncio.sleep(max(grace_left_s, 0.0) + 3 * SWEEP_S + 1)
        rows = await db.fetch(
            "SELECT alert_id, seq, status, attempts FROM notifications WHERE channel = 'webhook'"
            " AND alert_id = ANY($1::text[]) ORDER BY alert_id, seq",
            mine,
        )
        with open(pipeline.worker.log_path, "rb") as log:
            log.seek(log_offset)
            swept = b"never handed over" in log.read()
    finally:
        await holder.close()
    # This episode's notices (the day-long gap before the second case also raises station_silent).
    counts = Counter(
        (body["alert_id"], body["seq"]) for body, _ in receiver.requests if body["alert_id"] in mine
    )
    assert sorted(counts) == sorted(routed), "every routed event notified"
    assert set(counts.values()) == {1}, f"notified more than once: {counts}"
    assert [(r["alert_id"], r["seq"], r["status"], r["attempts"]) for r in rows] == [
        (alert_id, seq, "sent", 1) for alert_id, seq in sorted(routed)
    ]
    if inputs == "committed":
        assert swept, "only the outbox sweep can have sent them: the inputs were not read again"


async def _wait_for_notices(
    receiver: WebhookReceiver, notices: set[tuple[str, int]], timeout_s: float
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if notices <= {(body["alert_id"], body["seq"]) for body, _ in receiver.requests}:
            return
        await asyncio.sleep(0.25)
