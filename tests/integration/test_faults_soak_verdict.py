"""The soak's verdict (benchmarks/soak.py) on a real database: a loss the broker kill may cause is
counted apart from a loss by tidewatch, and only the second (or a broker loss above its allowance)
fails the soak."""

from __future__ import annotations

import datetime as dt

import asyncpg
import numpy as np
import pytest

from benchmarks.load import LoadPlan, LoadReport
from benchmarks.pipeline import READINGS_PER_MESSAGE
from benchmarks.soak import Fault, SoakResult, account, passed
from tests.support.database import fresh_database

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

T0_US = 1_790_000_000 * 1_000_000
PLAN = LoadPlan("mqtt://127.0.0.1:1883", "verdict", 4, 10.0, 60.0, T0_US)  # 10 msg/s for 60 s
MESSAGES = 600
KILL = Fault("mosquitto", started_s=30.0, recovered_s=30.1)
JUST_BEFORE_KILL, EARLIER = 295, 100  # published at 29.5 s and 10.0 s


def _message(k: int) -> tuple[str, int]:
    return PLAN.station(k % PLAN.stations), int(PLAN.times_us(np.array([k]))[0])


async def _verdict(url: str, missing: set[int], not_in_kafka: set[int]) -> SoakResult:
    """Store every message but ``missing``; Kafka holds every message but ``not_in_kafka``."""
    conn = await asyncpg.connect(url)
    try:
        await conn.execute("TRUNCATE observations")
        epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        rows = []
        for k in range(MESSAGES):
            if k in missing:
                continue
            station, time_us = _message(k)
            at = epoch + dt.timedelta(microseconds=time_us)
            rows += [(at, station, f"v{i}", 1.0, at) for i in range(READINGS_PER_MESSAGE)]
        await conn.copy_records_to_table(
            "observations", records=rows, columns=["time", "station_id", "variable", "value", "received_at"]
        )
        await conn.execute(
            "CREATE TEMP TABLE soak_observation_writes AS SELECT station_id, variable, time FROM observations"
        )
        ingested = {_message(k) for k in range(MESSAGES) if k not in not_in_kafka}
        result = SoakResult(LoadReport(max_lag_s=0.1), [Fault("worker", 15.0, 20.0), KILL])
        await account(conn, PLAN, np.ones(MESSAGES, dtype=bool), ingested, result, save_period_s=2.0)
        return result
    finally:
        await conn.close()


async def test_a_message_lost_with_the_broker_is_counted_apart_and_allowed() -> None:
    async with fresh_database("verdict") as settings:
        result = await _verdict(settings.database_url, {JUST_BEFORE_KILL}, {JUST_BEFORE_KILL})
    assert result.lost_readings == result.lost_at_broker_kill == READINGS_PER_MESSAGE
    assert result.lost_by_tidewatch == 0
    assert result.broker_kill_bound == READINGS_PER_MESSAGE * 21  # 10 msg/s × (2 s between saves + 0.1 s lag)
    assert passed(result)


async def test_a_message_that_reached_ingest_or_was_lost_away_from_the_kill_fails_the_soak() -> None:
    async with fresh_database("verdict") as settings:
        # In Kafka but not stored (tidewatch's loss, even at the kill), and never ingested long before it.
        result = await _verdict(settings.database_url, {JUST_BEFORE_KILL, EARLIER}, {EARLIER})
    assert result.lost_by_tidewatch == 2 * READINGS_PER_MESSAGE
    assert result.lost_at_broker_kill == 0
    assert not passed(result)
