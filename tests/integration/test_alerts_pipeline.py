"""Alerts end to end: MQTT readings → ingest → QC worker → observations topic → alert agent →
PostgreSQL (alert_events, alerts), the alert-events topic and MQTT alert topics; QC faults judged on
the final flags (isolated spikes raise nothing, a sensor stuck out of range one alert).

The expected history is what the rule engine gives for the same readings fed directly (event-time
determinism is unit-tested in alerts/); here we check the wiring keeps it: one alert id, each event
once, the same history after a hard worker kill, and the firing state on MQTT.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid

import aiomqtt
import numpy as np
import orjson
import pytest

from alerts import Observation
from alerts.channels import load_channels
from alerts.engine import AlertEngine
from alerts.inputs import reading_observation
from alerts.loader import load_rules
from schemas.registry import load_registry
from services.mqtt_auth import aiomqtt_options
from services.simulate.model import SPIKE_FRACTION_OF_RANGE
from services.stack.pipeline import Pipeline
from streams.qc import QcEngine, Readings, load_qc_config
from tests.support.pipeline import message, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MINUTE_US = 60_000_000
STEP_US = 10 * MINUTE_US  # the buoys' sampling interval
# 2026-11-02: later than the other pipeline modules' readings, still in the past.
T_ALERTS = 1_790_000_000 * 1_000_000 + 60_000 * MINUTE_US
DO = "dissolved_oxygen_mg_l"
# Gentle steps (QC's spike test stays quiet): yellow at 2.5, orange at 1.8, red at 0.9, then recovery;
# the tail of good readings outlasts keep-firing so the recovery resolves it.
EPISODE = [6.0, 6.0, 6.0, 5.0, 4.0, 3.2, 2.5, 1.8, 1.8, 1.8, 0.9, 0.9, 1.8, 2.8, 3.8, 4.8, 5.8]
EPISODE += [6.0] * 8

TICK_S = 1.0  # TIDEWATCH_ALERT_TICK_S of this module's worker (5 s by default)

EVENTS_OF = """
SELECT alert_id, seq, kind, severity, (extract(epoch FROM time) * 1000000)::bigint AS time_us
FROM alert_events WHERE station_id = $1 AND rule = $2 AND time >= to_timestamp($3 / 1e6)
ORDER BY alert_id, seq
"""
COUNT_EVENTS = (
    "SELECT count(*) FROM alert_events WHERE station_id = $1 AND rule = $2 AND time >= to_timestamp($3 / 1e6)"
)


@pytest.fixture(scope="module")
def pipeline_env() -> dict[str, str]:
    """Clock ticks every second: a wait for ticks to come and go is a few seconds, not ten."""
    return {"TIDEWATCH_ALERT_TICK_S": str(TICK_S)}


def readings(station: str, start_us: int, values: list[float]) -> list[tuple[str, bytes]]:
    return [(station, message(station, start_us + i * STEP_US, {DO: v})) for i, v in enumerate(values)]


def expected_history(pipeline: Pipeline, station: str, start_us: int, values: list[float]) -> list[tuple]:
    """The rule engine fed the same readings directly, in time order (QC flags 1 or 3 skip nothing)."""
    observations = [
        Observation(station, "reading", DO, start_us + i * STEP_US, v) for i, v in enumerate(values)
    ]
    return judged(pipeline, observations, "hypoxia")


def judged(pipeline: Pipeline, observations: list[Observation], rule: str) -> list[tuple]:
    """(alert_id, seq, kind, severity, time_us) of what the engine judges of these readings, each on
    arrival: the stream must store exactly these, at the readings' own data times."""
    registry = load_registry(pipeline.settings.registry_path)
    engine = AlertEngine(registry, load_rules(registry), load_channels())
    events = engine.observe(observations)
    return [(e.alert_id, e.seq, e.kind, e.severity or "none", e.time_us) for e in events if e.rule == rule]


def stored(rows: list) -> list[tuple]:
    return [(r["alert_id"], r["seq"], r["kind"], r["severity"], r["time_us"]) for r in rows]


async def collect_mqtt(pipeline: Pipeline, into: list[tuple[str, bytes]], ready: asyncio.Event) -> None:
    target = pipeline.settings.mqtt_target("publish")  # any account may read alerts
    async with aiomqtt.Client(
        **aiomqtt_options(target), identifier=f"test-alerts-{uuid.uuid4().hex[:6]}"
    ) as c:
        await c.subscribe(f"tidewatch/v1/alerts/{pipeline.network}/#", qos=1)
        ready.set()
        async for msg in c.messages:
            into.append((str(msg.topic), bytes(msg.payload)))


async def test_hypoxia_raises_one_alert_through_its_lifecycle(pipeline, db, publisher) -> None:
    station, start = "liaodong-bay-buoy", T_ALERTS
    received: list[tuple[str, bytes]] = []
    ready = asyncio.Event()
    listener = asyncio.create_task(collect_mqtt(pipeline, received, ready))
    try:
        await asyncio.wait_for(ready.wait(), 10)
        publisher.publish_many(readings(station, start, EPISODE), pace_per_s=200)
        expected = expected_history(pipeline, station, start, EPISODE)
        assert [k for _, _, k, _, _ in expected][:3] == ["pending", "firing", "escalated"]
        count = await wait_for_count(db, COUNT_EVENTS, station, "hypoxia", start, expected=len(expected))
        assert count == len(expected)
        history = stored(await db.fetch(EVENTS_OF, station, "hypoxia", start))
        assert history == expected
        assert len({alert_id for alert_id, *_ in history}) == 1
        assert [k for _, _, k, _, _ in history].count("resolved") == 1
        assert history[-1][2] == "resolved"
        alert = await db.fetchrow("SELECT state, severity FROM alerts WHERE alert_id = $1", history[0][0])
        assert alert["state"] == "resolved" and alert["severity"] == "red"
        for _ in range(40):  # MQTT delivery runs beside the stream: give it a moment
            if any(p and orjson.loads(p)["kind"] == "resolved" for _, p in received):
                break
            await asyncio.sleep(0.25)
    finally:
        listener.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await listener
    topic = f"tidewatch/v1/alerts/{pipeline.network}/{station}/hypoxia"
    kinds = [orjson.loads(p)["kind"] for t, p in received if t == topic and p]
    assert "firing" in kinds and kinds[-1] == "resolved"


async def test_silent_station_alert_fires_and_resolves(pipeline, db, publisher) -> None:
    station, start = "north-yellow-sea-buoy", T_ALERTS + 1000 * MINUTE_US
    publisher.publish_many(readings(station, start, [6.0] * 4), pace_per_s=200)
    # Dalian's readings go on meanwhile; the buoy's silence shows in its own data: the gap fires the
    # alert at its due time when the next reading comes (clock ticks fire it live; unit-tested).
    last = start + 3 * STEP_US
    beat = [
        ("dalian", message("dalian", last + k * 2 * MINUTE_US, {"water_level_m": 2.0 + 0.001 * k}))
        for k in range(1, 41)
    ]
    publisher.publish_many(beat, pace_per_s=200)
    publisher.publish_many(readings(station, last + 80 * MINUTE_US, [6.0] * 4), pace_per_s=200)
    publisher.publish_many(
        [("dalian", message("dalian", last + 130 * MINUTE_US, {"water_level_m": 2.2}))], pace_per_s=200
    )
    count = await wait_for_count(db, COUNT_EVENTS, station, "station_silent", start, expected=2)
    assert count == 2
    history = stored(await db.fetch(EVENTS_OF, station, "station_silent", start))
    # No reading for more than 3 sampling intervals (30 min): firing at that moment, resolved by the
    # next reading.
    assert [(k, s, t) for _, _, k, s, t in history] == [
        ("firing", "yellow", last + 30 * MINUTE_US),
        ("resolved", "yellow", last + 80 * MINUTE_US),
    ]


async def test_a_station_an_hour_late_is_judged_and_marked_late(pipeline, db, publisher) -> None:
    # A slow uplink: the buoy's readings reach us an hour (and more) after their data times. They are
    # judged on arrival all the same, the events say when their input arrived and that it was late,
    # and the station's own clock keeps it from being declared silent.
    station = "liaodong-bay-buoy"
    start = (time.time_ns() // 1000 // STEP_US) * STEP_US - 60 * MINUTE_US - len(EPISODE) * STEP_US
    publisher.publish_many(readings(station, start, EPISODE), pace_per_s=50)
    expected = expected_history(pipeline, station, start, EPISODE)
    count = await wait_for_count(db, COUNT_EVENTS, station, "hypoxia", start, expected=len(expected))
    assert count == len(expected)
    assert stored(await db.fetch(EVENTS_OF, station, "hypoxia", start)) == expected
    rows = await db.fetch(
        "SELECT late, extract(epoch FROM received - time) AS delay_s FROM alert_events "
        "WHERE station_id = $1 AND rule = 'hypoxia' AND time >= to_timestamp($2 / 1e6)",
        station,
        start,
    )
    assert all(r["late"] and r["delay_s"] >= 3600 for r in rows), rows
    await asyncio.sleep(2 * TICK_S + 1)  # ticks come and go: still not silent
    # (The month since the first test's readings is a gap in the data: that silence, opened before
    # `start`, is resolved by the first of these readings; no new one opens.)
    opened = await db.fetchval(
        "SELECT count(*) FROM alert_events WHERE station_id = $1 AND rule = 'station_silent' "
        "AND kind = 'firing' AND time >= to_timestamp($2 / 1e6)",
        station,
        start,
    )
    assert opened == 0


async def test_worker_killed_mid_stream_duplicates_no_event(pipeline, db, publisher) -> None:
    station, start = "jinzhou-bay-buoy", T_ALERTS + 2000 * MINUTE_US
    values = EPISODE[:-8] + EPISODE[3:-8] + [6.0] * 8  # two episodes
    items = readings(station, start, values)
    half = len(items) // 2
    publisher.publish_many(items[:half], pace_per_s=200)
    await asyncio.sleep(1.0)  # some of it reaches the alert agent, not necessarily its commit
    pipeline.worker.kill()  # SIGKILL: uncommitted offsets and the table's newest writes are replayed
    publisher.publish_many(items[half:], pace_per_s=200)
    await pipeline.start_worker()
    expected = expected_history(pipeline, station, start, values)
    assert len({a for a, *_ in expected}) == 2
    count = await wait_for_count(
        db, COUNT_EVENTS, station, "hypoxia", start, expected=len(expected), timeout_s=90
    )
    assert count == len(expected)  # (alert_id, seq) is the key: a replay adds no row
    assert stored(await db.fetch(EVENTS_OF, station, "hypoxia", start)) == expected


# -- QC faults: isolated spikes are not a failing sensor, a stuck or erratic one is -----------------------
LEVEL = "water_level_m"
QC_EVENTS = "sensor_repeated_fail"


def tide_minutes(start_us: int, count: int, seed: int) -> tuple[list[int], np.ndarray]:
    """A tide gauge's water level a minute apart, with a centimetre of noise."""
    minutes = np.arange(count)
    noise = np.random.default_rng(seed).normal(0, 0.01, count)
    values = 1.5 + 1.2 * np.sin(2 * np.pi * minutes / (12.42 * 60)) + noise
    return [start_us + int(m) * MINUTE_US for m in minutes], values


def spike_m(pipeline: Pipeline) -> float:
    """The simulator's water-level spike: a fraction of the physical range (3.2 m)."""
    variable = load_registry(pipeline.settings.registry_path).variables[LEVEL]
    return SPIKE_FRACTION_OF_RANGE * (variable.physical_max - variable.physical_min)


def level_messages(station: str, times: list[int], values: np.ndarray) -> list[tuple[str, bytes]]:
    return [
        (station, message(station, t, {LEVEL: v}))
        for t, v in zip(times, np.round(values, 3).tolist(), strict=True)
    ]


def qc_observations(
    pipeline: Pipeline, station: str, times: list[int], values: np.ndarray
) -> list[Observation]:
    """The readings with the flags the QC engine gives them over the whole series (their final flags)."""
    registry = load_registry(pipeline.settings.registry_path)
    readings = Readings([station] * len(times), [LEVEL] * len(times), np.array(times), np.round(values, 3))
    results = QcEngine(load_qc_config(registry)).process(readings)
    return [reading_observation(r) for r in sorted(results, key=lambda r: r.time_us)]


async def qc_history(db, station: str, start_us: int, expected: list[tuple]) -> list[tuple]:
    count = await wait_for_count(db, COUNT_EVENTS, station, QC_EVENTS, start_us, expected=len(expected))
    assert count == len(expected)
    return stored(await db.fetch(EVENTS_OF, station, QC_EVENTS, start_us))


async def test_isolated_spikes_raise_no_qc_alert_a_stuck_sensor_one(pipeline, db, publisher) -> None:
    # Huludao: spikes at 12, 30 and 33 min, then 20 min stuck beyond the sensor span (15 m), then good
    # readings until keep-firing (1 h) has passed. Published in a burst, as the demo
    # replays history: each spike and its neighbours reach QC together and are failed at once.
    station, start = "huludao", T_ALERTS + 3000 * MINUTE_US
    times, values = tide_minutes(start, 160, seed=3)
    spikes, stuck = [12, 30, 33], list(range(60, 80))
    values[spikes] += spike_m(pipeline)
    values[stuck] = 20.0
    publisher.publish_many(level_messages(station, times, values), pace_per_s=2000)
    expected = judged(pipeline, qc_observations(pipeline, station, times, values), QC_EVENTS)
    # By hand: firing at the third stuck reading, resolved 1 h after the last one (at the next reading).
    assert [(k, t) for _, _, k, _, t in expected] == [
        ("firing", times[stuck[2]]),
        ("resolved", times[stuck[-1]] + 61 * MINUTE_US),
    ]
    assert await qc_history(db, station, start, expected) == expected
    # The premise, as stored: each spike failed three readings (itself and both neighbours).
    failed = await db.fetch(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint AS time_us FROM observations "
        "WHERE station_id = $1 AND variable = $2 AND time >= to_timestamp($3 / 1e6) "
        "AND time < to_timestamp($4 / 1e6) AND (qc_tests ->> 'spike')::int = 4 ORDER BY time",
        station,
        LEVEL,
        start,
        times[stuck[0] - 5],
    )
    assert [r["time_us"] for r in failed] == [times[m + d] for m in spikes for d in (-1, 0, 1)]


async def test_an_erratic_sensor_seen_live_raises_one_qc_alert(pipeline, db, publisher) -> None:
    # Yingkou: an isolated spike, then 10 min of a sensor gone erratic (every reading a spike inside
    # the sensor span), sent one reading at a time: the spike test can flag a reading only once the
    # next one is in, so the alert needs QC's corrections.
    station, start = "yingkou", T_ALERTS + 3500 * MINUTE_US
    times, values = tide_minutes(start, 110, seed=4)
    erratic = list(range(20, 30))
    values[5] += spike_m(pipeline)
    values[erratic] += spike_m(pipeline) * (-1.0) ** np.arange(len(erratic))
    items = level_messages(station, times, values)
    publisher.publish_many(items[:18], pace_per_s=2000)
    publisher.publish_many(items[18:32], pace_per_s=4)
    publisher.publish_many(items[32:], pace_per_s=2000)
    expected = judged(pipeline, qc_observations(pipeline, station, times, values), QC_EVENTS)
    # By hand: seven spike fails in a row (from the reading before the erratic ones) need three bad
    # values: firing at 25 min; resolved 1 h after the last fail (the reading after the last spike).
    assert [(k, t) for _, _, k, _, t in expected] == [
        ("firing", times[erratic[0] + 5]),
        ("resolved", times[erratic[-1] + 1] + 61 * MINUTE_US),
    ]
    assert await qc_history(db, station, start, expected) == expected
