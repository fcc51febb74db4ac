"""Shared pieces of the alert I/O and console tests (no tests here): a fresh migrated database and an
engine fed with a hypoxic evening at a seagrass station.

The database is a new uuid-named one on the machine's PostgreSQL (127.0.0.1:5432), dropped at the end.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import pytest

from alerts import AlertEngine, AlertEvent, Observation, Silence, load_channels, load_rules
from schemas.actions import Acknowledge, AlertAction, RemoveSilence, action_document
from schemas.registry import load_registry
from services.config import Settings, load_settings
from services.db.alerts import remove_silence, store_alert_events, store_silence
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from streams.indicators.catalogue import INDICATORS

T0_US = 1_700_000_000_000_000  # 2023-11-14 22:13:20 UTC
MINUTE_US = 60_000_000
STATION = "changhai-seagrass"
DO = "dissolved_oxygen_mg_l"


def at(minutes: float) -> int:
    return T0_US + round(minutes * MINUTE_US)


def do_reading(minutes: float, value_mg_l: float, station: str = STATION) -> Observation:
    return Observation(station, "reading", DO, at(minutes), value_mg_l, 1)


def new_engine() -> AlertEngine:
    registry = load_registry()
    return AlertEngine(registry, load_rules(registry), load_channels())


@dataclass
class Database:
    settings: Settings
    url: str

    async def connect(self) -> asyncpg.Connection:
        return await asyncpg.connect(self.url)


@pytest.fixture
async def database() -> AsyncIterator[Database]:
    """A fresh database migrated with the project's own migrations, dropped afterwards."""
    base = load_settings()
    name = f"tidewatch_alerts_{uuid.uuid4().hex[:10]}"
    url = base.database_url.rsplit("/", 1)[0] + f"/{name}"
    settings = base.with_(database_url=url)
    await ensure_database(url)
    await prepare_database(settings, INDICATORS)
    try:
        yield Database(settings, url)
    finally:
        await drop_database(url)


class EngineActions:
    """The console's `actions` callable for tests: the lead's stream path minus Kafka — the action goes
    through the real AlertEngine and its events through `store_alert_events`."""

    def __init__(self, engine: AlertEngine, url: str) -> None:
        self.engine = engine
        self.url = url
        self.received: list[dict] = []

    async def __call__(self, action: AlertAction) -> None:
        self.received.append(action_document(action))
        conn = await asyncpg.connect(self.url)
        try:
            if isinstance(action, Acknowledge):
                events = self.engine.acknowledge(
                    action.alert_id, actor=action.actor, time_us=action.time_us, comment=action.comment
                )
            elif isinstance(action, RemoveSilence):
                await remove_silence(conn, action.id, action.time_us)
                events = self.engine.remove_silence(action.id, actor=action.actor, time_us=action.time_us)
            else:
                silence = Silence.from_action(action)
                await store_silence(conn, silence)
                events = self.engine.silence(silence)
            await store_alert_events(conn, events)
        finally:
            await conn.close()


def hypoxic_evening(engine: AlertEngine) -> list[AlertEvent]:
    """DO every 10 min falling to 1.9 mg/L: pending yellow at 30 min, firing at 60, orange at 80."""
    values = [5.0, 4.0, 3.2, 2.9, 2.7, 2.5, 2.4, 2.1, 1.9, 1.8]
    events: list[AlertEvent] = []
    for i, value in enumerate(values):
        events += engine.observe([do_reading(10 * i, value)])
    return events


def corrected_evening(engine: AlertEngine) -> list[AlertEvent]:
    """Hypoxia firing on a reading the spike test then fails: `corrected` puts it back to pending (its
    kind alone reads like a change of level); the next low reading fires it again, recovery resolves."""
    events = engine.observe([do_reading(m, 1.8) for m in (0, 10, 20)])
    events += engine.observe([Observation(STATION, "reading", DO, at(30), 1.8, 3, (("rate_of_change", 3),))])
    events += engine.observe([Observation(STATION, "reading", DO, at(30), 1.8, 4, (("spike", 4),), True)])
    events += engine.observe([do_reading(40, 1.8)])
    for minutes in range(50, 130, 10):
        events += engine.observe([do_reading(minutes, 6.0)])
    assert [(e.kind, e.state) for e in events] == [
        ("pending", "pending"),
        ("firing", "firing"),
        ("corrected", "pending"),
        ("firing", "firing"),
        ("resolved", "resolved"),
    ]
    return events
