"""`/api/v1/alerts` and `/api/v1/alerts/events` against the real PostgreSQL: filters, units, pages, CSV and
the state each event leaves (the seeded database: tests/support/api_seeded.py; two tests store events).
"""

from __future__ import annotations

import csv
import io

import asyncpg
import httpx
import pytest

from services.config import Settings
from services.db.alerts import store_alert_events
from tests.support import api_seeded
from tests.support.alert_io import STATION, at, corrected_evening, new_engine
from tests.support.api_seeded import ALERTS, get_json
from tests.support.api_series import DAY0_US, HOUR_US, iso, utc_us

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


async def test_alert_values_of_rules_over_any_variable_are_null(
    settings: Settings, client: httpx.AsyncClient
) -> None:
    """Issue 14: a resolved station_silent alert listed 12.54 with no unit (the value of whichever
    reading ended the silence): a number of an unnamed variable is listed as null."""
    when = utc_us(2022, 5, 1)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,"
            " message_en, message_zh, channels) VALUES ('huludao/station_silent/1', 0, 'huludao',"
            " 'station_silent', 'resolved', 'yellow', timestamptz 'epoch' + $1 * interval '1 microsecond',"
            " 12.54, 'm', '消息', ARRAY['webhook'])",
            when,
        )
    finally:
        await conn.close()
    body = await get_json(client, f"/api/v1/alerts/events?start={iso(when)}&end={iso(when + HOUR_US)}")
    assert [(e["rule"], e["value"], e["value_unit"]) for e in body["data"]] == [
        ("station_silent", None, None)
    ]
    assert "null for rules over any variable" in body["meta"]["value"]


async def test_alert_events_carry_the_state_they_leave(settings: Settings, client: httpx.AsyncClient) -> None:
    """The engine's own events, stored as the worker stores them: a hypoxia alert fires on a reading QC
    later fails, and the `corrected` event puts it back to pending, which its kind does not say; each
    event is listed with the state it leaves the alert in (JSON and CSV)."""
    events = corrected_evening(new_engine())
    conn = await asyncpg.connect(settings.database_url)
    try:
        await store_alert_events(conn, events)
    finally:
        await conn.close()
    span = f"start={iso(at(0))}&end={iso(at(180))}&station={STATION}"
    listed = (await get_json(client, f"/api/v1/alerts/events?{span}"))["data"]
    assert [(e["kind"], e["state"]) for e in listed] == [
        ("pending", "pending"),
        ("firing", "firing"),
        ("corrected", "pending"),
        ("firing", "firing"),
        ("resolved", "resolved"),
    ]
    rows = list(
        csv.DictReader(io.StringIO((await client.get(f"/api/v1/alerts/events?{span}&format=csv")).text))
    )
    assert [r["state"] for r in rows] == ["pending", "firing", "pending", "firing", "resolved"]
    # An event stored before alert_events kept the state (the seeded ones here) lists it as null.
    old = await get_json(client, f"/api/v1/alerts/events?start={iso(DAY0_US)}&end={iso(DAY0_US + HOUR_US)}")
    assert [(e["kind"], e["state"]) for e in old["data"]] == [("opened", None)]


async def test_alerts_filters_units_and_pages(client: httpx.AsyncClient) -> None:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    data = (await get_json(client, f"/api/v1/alerts?{span}"))["data"]
    assert [a["alert_id"] for a in data] == [a[0] for a in ALERTS]
    hypoxia = data[1]
    assert (hypoxia["state"], hypoxia["value"], hypoxia["value_unit"]) == ("firing", 1.9, "mg L-1")
    assert hypoxia["opened_at"] == iso(DAY0_US + 2 * HOUR_US) and hypoxia["resolved_at"] is None
    firing = (await get_json(client, f"/api/v1/alerts?{span}&state=firing,pending"))["data"]
    assert [a["station_id"] for a in firing] == ["liaodong-bay-buoy", "lushun"]
    # An alert resolved before the range starts is not active in it; open ones still are.
    later = (
        await get_json(
            client, f"/api/v1/alerts?start={iso(DAY0_US + 10 * HOUR_US)}&end={iso(DAY0_US + 40 * HOUR_US)}"
        )
    )["data"]
    assert [a["alert_id"] for a in later] == [ALERTS[1][0], ALERTS[2][0]]
    first = await get_json(client, f"/api/v1/alerts?{span}&limit=2")
    second = await get_json(client, first["next"].replace("http://api", ""))
    assert [a["alert_id"] for a in first["data"] + second["data"]] == [a[0] for a in ALERTS]
    events = (await get_json(client, f"/api/v1/alerts/events?{span}&station=dalian"))["data"]
    assert [(e["kind"], e["seq"]) for e in events] == [("opened", 0), ("resolved", 1)]
    assert events[0]["channels"] == ["log", "email"]
    rows = list(
        csv.DictReader(io.StringIO((await client.get(f"/api/v1/alerts/events?{span}&format=csv")).text))
    )
    assert len(rows) == 4 and rows[0]["channels"] == "log;email"
    await get_json(client, f"/api/v1/alerts?{span}&state=burning", 400)
