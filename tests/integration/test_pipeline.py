"""End to end over real connections: MQTT → ingest → Kafka (Tansu) → faust worker → PostgreSQL."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from schemas.quality import decode
from schemas.registry import load_registry
from streams.qc import QcEngine, Readings, load_qc_config
from tests.support.pipeline import message, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MINUTE_US = 60_000_000
T0 = 1_790_000_000 * 1_000_000  # 2026-09-21T14:13:20Z: in the past, so never "future"


COUNT_STATION = "SELECT count(*) FROM observations WHERE station_id = $1 AND time >= to_timestamp($2 / 1e6)"


async def test_every_published_reading_becomes_exactly_one_row(pipeline, db, publisher) -> None:
    start = T0
    n_messages = 600
    items = (
        (
            "dalian",
            message(
                "dalian",
                start + i * MINUTE_US,
                {"water_level_m": 1.5 + 0.001 * i, "water_temperature_degC": 9.0},
            ),
        )
        for i in range(n_messages)
    )
    publisher.publish_many(items)
    count = await wait_for_count(db, COUNT_STATION, "dalian", start, expected=2 * n_messages)
    assert count == 2 * n_messages
    row = await db.fetchrow(
        "SELECT value, qc_flag, qc_tests, received_at >= time AS received_after FROM observations "
        "WHERE station_id = 'dalian' AND variable = 'water_level_m' AND time = to_timestamp($1 / 1e6)",
        start + 10 * MINUTE_US,
    )
    assert row["value"] == pytest.approx(1.51)
    # QC ran in the stream: a steady series is good, with the flag of every test that judged it.
    assert row["qc_flag"] == 1
    tests = json.loads(row["qc_tests"])
    assert tests["gross_range"] == 1 and tests["spike"] == 1


async def test_refused_messages_become_dead_letters_with_reasons(pipeline, db, publisher) -> None:
    t = T0 + 10_000 * MINUTE_US
    network = pipeline.network
    publisher.publish("yingkou", b"{this is not json")
    publisher.publish("nowhere", message("nowhere", t, {"water_level_m": 1.0}))
    publisher.publish(
        "yingkou", message("yingkou", t, {"water_level_m": 99.0, "water_temperature_degC": 7.5})
    )
    publisher.publish("yingkou", message("yingkou", t + MINUTE_US, {"salinity_psu": 30.0}))
    publisher.publish("yingkou", message("yingkou", t + 2 * MINUTE_US, {"water_level_m": "high"}))
    publisher.publish("yingkou", b'{"station": "yingkou", "time": "2026-01-01T00:00:00", "values": {}}')
    publisher.publish(
        "huludao",
        message("yingkou", t, {"water_level_m": 1.0}),
        topic=f"tidewatch/v1/{network}/huludao/readings",
    )

    expected = {
        "malformed_json",
        "unknown_station",
        "out_of_physical_range",
        "unknown_variable",
        "schema_violation",
        "bad_time",
        "topic_mismatch",
    }
    await wait_for_count(
        db,
        "SELECT count(DISTINCT reason) FROM dead_letters WHERE reason = ANY($1)",
        list(expected),
        expected=len(expected),
    )
    rows = await db.fetch("SELECT reason, station_id, detail, payload FROM dead_letters")
    reasons = {r["reason"] for r in rows}
    assert expected <= reasons
    malformed = next(r for r in rows if r["reason"] == "malformed_json")
    assert malformed["payload"] == b"{this is not json"  # the raw payload, untouched
    out_of_range = next(r for r in rows if r["reason"] == "out_of_physical_range")
    assert "water_level_m=99.0" in out_of_range["detail"]
    # The valid part of a partly refused message is stored; the refused value is not.
    count = await wait_for_count(
        db,
        "SELECT count(*) FROM observations WHERE station_id = 'yingkou' AND time = to_timestamp($1 / 1e6)",
        t,
        expected=1,
    )
    assert count == 1
    assert (
        await db.fetchval(
            "SELECT variable FROM observations "
            "WHERE station_id = 'yingkou' AND time = to_timestamp($1 / 1e6)",
            t,
        )
        == "water_temperature_degC"
    )


async def test_duplicates_and_late_backlog_store_once(pipeline, db, publisher) -> None:
    t = T0 + 20_000 * MINUTE_US
    live = message("huludao", t, {"water_level_m": 2.0})
    for _ in range(3):  # the same message three times (a station retrying)
        publisher.publish("huludao", live)
    backlog = [(t - k * MINUTE_US, {"water_level_m": 2.0 - 0.01 * k}) for k in range(1, 31)]
    late = message("huludao", t + MINUTE_US, {"water_level_m": 2.01}, backlog=backlog)
    publisher.publish("huludao", late)
    publisher.publish("huludao", late)  # the late batch redelivered
    count = await wait_for_count(db, COUNT_STATION, "huludao", t - 30 * MINUTE_US, expected=32)
    assert count == 32
    oldest = await db.fetchval(
        "SELECT value FROM observations WHERE station_id = 'huludao' AND time = to_timestamp($1 / 1e6)",
        t - 30 * MINUTE_US,
    )
    assert oldest == pytest.approx(1.7)


def _tide_with_spikes(n: int) -> list[float]:
    """A 12.42 h tide sampled each minute, with a 1.5 m spike every 211th reading (QC must fail them)."""
    return [3.0 + 2.0 * math.sin(2 * math.pi * i / 745) + (1.5 if i % 211 == 100 else 0.0) for i in range(n)]


async def test_worker_killed_mid_stream_loses_duplicates_and_changes_nothing(pipeline, db, publisher) -> None:
    start = T0 + 40_000 * MINUTE_US
    n = 3000
    levels = _tide_with_spikes(n)
    items = [
        ("dandong", message("dandong", start + i * MINUTE_US, {"water_level_m": level}))
        for i, level in enumerate(levels)
    ]
    publisher.publish_many(items[: n // 2], pace_per_s=1500)
    pipeline.worker.kill()  # SIGKILL: no clean leave, uncommitted offsets are redelivered
    publisher.publish_many(items[n // 2 :], pace_per_s=1500)
    await pipeline.start_worker()
    count = await wait_for_count(db, COUNT_STATION, "dandong", start, expected=n, timeout_s=120)
    assert count == n
    rows = await db.fetch(
        "SELECT time, qc_flag, qc_tests FROM observations "
        "WHERE station_id = 'dandong' AND time >= to_timestamp($1 / 1e6) ORDER BY time",
        start,
    )
    assert len({r["time"] for r in rows}) == n

    # The flags after a hard kill equal one uninterrupted QC pass over the whole series.
    engine = QcEngine(load_qc_config(load_registry(pipeline.settings.registry_path)))
    times = np.array([start + i * MINUTE_US for i in range(n)], dtype=np.int64)
    results = engine.process(Readings(["dandong"] * n, ["water_level_m"] * n, times, np.array(levels)))
    expected = {r.time_us: (r.flag, decode(r.tests)) for r in results}
    stored = {int(r["time"].timestamp() * 1_000_000): (r["qc_flag"], json.loads(r["qc_tests"])) for r in rows}
    assert stored == expected
    assert sum(flag == 4 for flag, _ in stored.values()) == sum(i % 211 == 100 for i in range(n))


async def test_ingest_killed_mid_stream_redelivers_unacknowledged(pipeline, db, publisher) -> None:
    start = T0 + 80_000 * MINUTE_US
    n = 3000
    items = [
        ("bayuquan", message("bayuquan", start + i * MINUTE_US, {"water_level_m": 2.0 + 0.0001 * i}))
        for i in range(n)
    ]
    publisher.publish_many(items[: n // 2], pace_per_s=1500)
    pipeline.ingest.kill()  # its unacknowledged messages stay in the broker session
    publisher.publish_many(items[n // 2 :], pace_per_s=1500)  # queued by the broker meanwhile
    await pipeline.start_ingest()
    count = await wait_for_count(db, COUNT_STATION, "bayuquan", start, expected=n, timeout_s=120)
    assert count == n
