"""The database the HTTP API tests read (tests/integration/test_api_*.py, split by endpoint): readings,
indicators and alerts written through the service's own writer into a fresh database per module (migrated
and with the registry mirrored), the app in-process on it behind httpx's ASGI transport, and the helpers
those modules share.

A module takes the fixtures ``settings`` and ``client`` by importing ``settings_fixture`` and
``client_fixture`` (both: the client asks for the settings): each module gets its own database, so the
tests that write to it (alerts) cannot change what another module reads.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import numpy as np
import pytest

from services.api.app import create_app
from services.config import Settings, load_settings
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, upsert_observations
from streams.indicators.catalogue import INDICATORS
from tests.support.api_series import (
    DAY0_US,
    HOUR_US,
    LEVEL_F,
    LEVEL_T,
    LEVEL_V,
    MINUTE_US,
    MONTH_F,
    MONTH_T,
    MONTH_V,
    iso,
    utc_us,
)

QC_NAMES = {1: "good", 2: "not_evaluated", 3: "suspect", 4: "fail", 9: "missing"}


def observation_rows(now_us: int) -> list[tuple]:
    rows = []
    for t, v, f in zip(LEVEL_T.tolist(), LEVEL_V.tolist(), LEVEL_F.tolist(), strict=True):
        rows.append((t, "dalian", "water_level_m", None if f == 9 else v, f, None, t + 5_000_000))
    for t, v, f in zip(MONTH_T.tolist(), MONTH_V.tolist(), MONTH_F.tolist(), strict=True):
        rows.append((t, "bayuquan", "water_level_m", None if f == 9 else v, f, None, t))
    for k in range(24):  # one day of hourly temperatures at dalian and lushun
        t = DAY0_US + k * HOUR_US
        rows.append((t, "dalian", "water_temperature_degC", 5.0 + k / 10, 1, None, t))
        rows.append((t, "lushun", "water_temperature_degC", 4.0 + k / 10, 1, None, t))
        rows.append((t, "lushun", "water_level_m", 1.0 + k / 100, 1, None, t))
    # Recent readings for relative ranges: six in the last hour before ``now_us``, one three days before.
    # Seeded with the time of the seeding, not of the module's import: with pytest -n (make test) a module
    # can start many minutes after the collection that imported it.
    for k in range(6):
        t = now_us - (k + 1) * 10 * MINUTE_US
        rows.append((t, "lushun", "battery_voltage_v", 12.0 + k / 10, 2, None, t))
    rows.append((now_us - 3 * 24 * HOUR_US, "lushun", "battery_voltage_v", 11.0, 2, None, now_us))
    return [(*row, False) for row in rows]  # first results, not corrections


INDICATOR_ROWS = [(DAY0_US + k * 6 * HOUR_US, "dalian", "msl_daily_m", 1.8 + k / 100, "m") for k in range(8)]
# Daily mean sea level at bayuquan, November 2023 … February 2024, for monthly indicator buckets.
INDICATOR_MONTH_ROWS = [
    (
        utc_us(2023, 11, 1) + k * 86_400_000_000,
        "bayuquan",
        "msl_daily_m",
        round(2.0 + np.sin(k / 9) / 5, 6),
        "m",
    )
    for k in range(121)
]
ALERTS = [
    # alert_id, station, rule, state, severity, opened, updated, resolved, value
    ("dalian/storm_surge_warning/1", "dalian", "storm_surge_warning", "resolved", "blue",
     DAY0_US, DAY0_US + HOUR_US, DAY0_US + HOUR_US, 1.0),
    ("liaodong-bay-buoy/hypoxia/2", "liaodong-bay-buoy", "hypoxia", "firing", "orange",
     DAY0_US + 2 * HOUR_US, DAY0_US + 3 * HOUR_US, None, 1.9),
    ("lushun/battery_low/3", "lushun", "battery_low", "pending", "yellow",
     DAY0_US + 30 * HOUR_US, DAY0_US + 30 * HOUR_US, None, 11.2),
]  # fmt: skip


async def _seed(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        await upsert_observations(conn, observation_rows(time.time_ns() // 1000))
        await conn.executemany(
            "INSERT INTO indicators (time, station_id, indicator, value, unit) "
            "VALUES (timestamptz 'epoch' + $1 * interval '1 microsecond', $2, $3, $4, $5)",
            INDICATOR_ROWS + INDICATOR_MONTH_ROWS,
        )
        ts = "timestamptz 'epoch' + {} * interval '1 microsecond'"
        for a in ALERTS:
            await conn.execute(
                f"INSERT INTO alerts (alert_id, station_id, rule, state, severity, opened_at, updated_at, "
                f"resolved_at, value, message_en, message_zh, last_seq) VALUES ($1, $2, $3, $4, $5, "
                f"{ts.format('$6::bigint')}, {ts.format('$7::bigint')}, {ts.format('$8::bigint')}, $9, "
                "'msg', '消息', 1)",
                *a,
            )
            for seq, kind in enumerate(["opened", "resolved"] if a[3] == "resolved" else ["opened"]):
                await conn.execute(
                    "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value, "
                    f"message_en, message_zh, channels) VALUES ($1, $2, $3, $4, $5, $6, "
                    f"{ts.format('$7::bigint')}, $8, 'msg', '消息', ARRAY['log', 'email'])",
                    a[0], seq, a[1], a[2], kind, a[4], a[5] + seq * HOUR_US, a[8],
                )  # fmt: skip
    finally:
        await conn.close()


@pytest.fixture(scope="module", name="settings")
async def settings_fixture() -> AsyncIterator[Settings]:
    base = load_settings()
    name = f"tidewatch_api_{uuid.uuid4().hex[:8]}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{name}")
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    await _seed(settings.database_url)
    try:
        yield settings
    finally:
        await drop_database(settings.database_url)


@pytest.fixture(scope="module", name="client")
async def client_fixture(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(settings)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://api") as client,
    ):
        client.app = app  # type: ignore[attr-defined]
        yield client


def parse_iso_us(text: str) -> int:
    assert text.endswith("Z"), text
    parsed = dt.datetime.fromisoformat(text)
    return round(parsed.timestamp() * 1e6)


async def get_json(client: httpx.AsyncClient, url: str, status: int = 200) -> dict:
    response = await client.get(url)
    assert response.status_code == status, (url, response.text)
    return response.json()


def level_url(extra: str = "") -> str:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    return f"/api/v1/observations?station=dalian&variable=water_level_m&{span}{extra}"
