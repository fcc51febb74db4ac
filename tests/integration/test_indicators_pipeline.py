"""Indicators in the running pipeline equal the batch computation over the stored QC-good readings."""

from __future__ import annotations

import asyncio
import math

import asyncpg
import numpy as np
import pytest

from schemas.records import Sample
from schemas.registry import default_registry_path, load_registry
from streams.indicators.ecology import compute_batch, params_for_station
from streams.indicators.ecology.climatology import load_climatology_csv
from streams.indicators.sealevel import SeaLevelConfig
from streams.indicators.sealevel.compute import compute_indicators
from tests.support.pipeline import message, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

MINUTE_US = 60_000_000
DAY_US = 86_400 * 1_000_000
CYCLE_INDICATORS = {"high_water_m", "low_water_m", "water_level_warning", "surge_max_cycle_m"}
MANUAL_QC_REFRESH_S = 1.0
T0 = 1_780_000_000 * 1_000_000 // DAY_US * DAY_US  # a UTC midnight in 2026, in the past


@pytest.fixture(scope="module")
def pipeline_env() -> dict[str, str]:
    return {"TIDEWATCH_MANUAL_QC_REFRESH_S": str(MANUAL_QC_REFRESH_S)}


async def _stored(conn: asyncpg.Connection, station: str) -> dict[tuple[str, int], float]:
    rows = await conn.fetch(
        "SELECT indicator, (extract(epoch FROM time) * 1000000)::bigint AS t, value FROM indicators "
        "WHERE station_id = $1",
        station,
    )
    return {(r["indicator"], r["t"]): r["value"] for r in rows}


async def _good(conn: asyncpg.Connection, station: str, variable: str) -> tuple[np.ndarray, np.ndarray]:
    rows = await conn.fetch(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint AS t, value FROM observations "
        "WHERE station_id = $1 AND variable = $2 AND qc_flag = 1 ORDER BY time",
        station,
        variable,
    )
    return np.array([r["t"] for r in rows], dtype=np.int64), np.array([r["value"] for r in rows])


async def test_sea_level_indicators_equal_batch_over_good_readings(pipeline, publisher, db) -> None:
    conn = db
    n = 2 * 1440  # two days of 1-minute water levels at Yingkou, with spikes QC must reject
    levels = [
        2.0
        + 1.4 * math.sin(2 * math.pi * i / 745)
        + 0.4 * math.sin(2 * math.pi * i / 1436)
        + (1.2 if i % 307 == 150 else 0.0)
        for i in range(n)
    ]
    publisher.publish_many(
        (
            ("yingkou", message("yingkou", T0 + i * MINUTE_US, {"water_level_m": v}))
            for i, v in enumerate(levels)
        ),
        pace_per_s=2000,
    )
    await wait_for_count(conn, "SELECT count(*) FROM observations WHERE station_id = 'yingkou'", expected=n)
    await wait_for_count(
        conn,
        "SELECT count(*) FROM indicators WHERE station_id = 'yingkou' AND indicator = 'msl_daily_m'",
        expected=2,
        settle_s=3,
    )
    times, good = await _good(conn, "yingkou", "water_level_m")
    assert len(good) < n  # the spikes were flagged and left out
    registry = load_registry(pipeline.settings.registry_path)
    cfg = SeaLevelConfig.from_station(registry.stations["yingkou"])
    # The stream names a high or low water only once the newest reading is past its search window;
    # the batch over the same series sees the end of the record as final.
    settled = times[-1] - cfg.extrema.reach_us
    expected = {
        (i.indicator, i.time_us): i.value
        for i in compute_indicators(cfg, times, good)
        if i.value is not None and not (i.indicator in CYCLE_INDICATORS and i.time_us > settled)
    }
    stored = await _stored(conn, "yingkou")
    # Without a tide model yet (it needs 15 days of history) there is no surge; every other indicator
    # the stream stored matches the batch, and the batch has nothing the stream lacks.
    assert set(stored) == set(expected)
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value, abs=1e-9), key
    assert {k[0] for k in stored} >= {
        "msl_hourly_m",
        "msl_daily_m",
        "high_water_m",
        "low_water_m",
        "water_level_warning",
    }


async def test_dissolved_oxygen_indicators_equal_batch(pipeline, publisher, db) -> None:
    conn = db
    station = "changhai-seagrass"
    n = 144 * 2  # two days at 10 minutes, with a hypoxic night
    readings = []
    for i in range(n):
        hour = (i * 10 / 60) % 24
        do = 1.5 if 1 <= hour < 4 and i < 144 else 7.0 + 1.0 * math.sin(2 * math.pi * i / 144)
        readings.append({"dissolved_oxygen_mg_l": do, "water_temperature_degC": 18.0, "salinity_psu": 31.0})
    publisher.publish_many(
        ((station, message(station, T0 + i * 10 * MINUTE_US, v)) for i, v in enumerate(readings)),
        pace_per_s=1000,
    )
    await wait_for_count(
        conn, "SELECT count(DISTINCT time) FROM observations WHERE station_id = $1", station, expected=n
    )
    await wait_for_count(
        conn,
        "SELECT count(*) FROM indicators WHERE station_id = $1 AND indicator = 'do_hours_below_3_mg_l'",
        station,
        expected=2,
        settle_s=3,
    )
    rows = await conn.fetch(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint AS t, variable, value FROM observations "
        "WHERE station_id = $1 AND qc_flag = 1 ORDER BY time",
        station,
    )
    by_time: dict[int, dict[str, float]] = {}
    for r in rows:
        by_time.setdefault(r["t"], {})[r["variable"]] = r["value"]
    registry = load_registry(pipeline.settings.registry_path)
    expected = compute_batch(
        station,
        [Sample(t, v) for t, v in sorted(by_time.items())],
        params_for_station(registry.stations[station]),
        load_climatology_csv(default_registry_path().parent / "climatology" / f"{station}.csv"),
    )
    stored = await _stored(conn, station)
    assert set(stored) == set(expected)
    for key, value in expected.items():
        assert stored[key] == pytest.approx(value, abs=1e-9), key
    # By hand: good readings at or under 3 mg/L on the first day, 10 minutes each (QC marks the steep
    # edges of the hypoxic spell suspect, so they do not count).
    low = sum(1 for t, v in by_time.items() if t < T0 + DAY_US and v.get("dissolved_oxygen_mg_l", 9) <= 3.0)
    assert 12 <= low <= 18
    assert stored["do_hours_below_3_mg_l", T0] == pytest.approx(low * 10 / 60)


async def test_every_stored_flag_and_indicator_names_the_workers_config_version(
    pipeline, publisher, db
) -> None:
    """The worker numbers its stations' QC and indicator versions and stores them with every row."""
    from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
    from streams.indicators.provenance import indicator_version
    from streams.qc import load_qc_config
    from streams.qc.provenance import qc_version

    conn, station, n = db, "dalian", 3 * 60  # three hours of 1-minute levels
    start = T0 + 10 * DAY_US
    publisher.publish_many(
        (
            (station, message(station, start + i * MINUTE_US, {"water_level_m": 2.0 + 0.01 * i}))
            for i in range(n)
        ),
        pace_per_s=2000,
    )
    await wait_for_count(conn, "SELECT count(*) FROM observations WHERE station_id = $1", station, expected=n)
    await wait_for_count(
        conn,
        "SELECT count(*) FROM indicators WHERE station_id = $1 AND indicator = 'msl_hourly_m'",
        station,
        expected=2,
    )
    settings = pipeline.settings
    registry = load_registry(settings.registry_path)
    climatology = climatologies_in(settings.climatology_dir or PACKAGED_DIR, registry.stations).get(station)
    expected = {
        "qc": qc_version(load_qc_config(registry, settings.qc_config_path), station).digest,
        "indicators": indicator_version(registry.stations[station], climatology).digest,
    }
    # The session's database is shared by every pipeline module (each with a registry of its own):
    # look the versions up by digest and the rows up by this test's times.
    versions = await conn.fetch(
        "SELECT kind, version_id FROM config_versions WHERE station_id = $1 AND digest = ANY($2::text[])",
        station,
        list(expected.values()),
    )
    ids = {r["kind"]: r["version_id"] for r in versions}
    assert set(ids) == {"qc", "indicators"}
    span = (station, start, start + n * MINUTE_US)
    in_span = "station_id = $1 AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)"
    flags = await conn.fetch(f"SELECT DISTINCT qc_version FROM observations WHERE {in_span}", *span)
    assert [r["qc_version"] for r in flags] == [ids["qc"]]
    values = await conn.fetch(f"SELECT DISTINCT version FROM indicators WHERE {in_span}", *span)
    assert [r["version"] for r in values] == [ids["indicators"]]


async def test_readings_inside_a_judged_range_reach_the_indicators_with_the_operators_flag(
    pipeline, publisher, db
) -> None:
    """An operator judged a gauge bad from now on (a fouled sensor); readings that arrive afterwards
    must not feed its indicators, though automatic QC calls them good."""
    from services.db.alerts import create_operator
    from services.history.manual import flag_range

    conn, station = db, "huludao"
    start = T0 + 20 * DAY_US
    registry = load_registry(pipeline.settings.registry_path)
    await create_operator(conn, "zhao", "Zhao Lei", "a long passphrase", "operator")
    judged_from, judged_to = start + 2 * 3_600_000_000, start + 4 * 3_600_000_000
    await flag_range(
        conn, registry, station, "water_level_m", judged_from, judged_to, "bad", "fouled sensor", "zhao"
    )
    await asyncio.sleep(2 * MANUAL_QC_REFRESH_S)  # the worker takes up new judgements within this
    n = 6 * 60  # six hours of 1-minute levels, hours 2 and 3 judged bad
    publisher.publish_many(
        (
            (station, message(station, start + i * MINUTE_US, {"water_level_m": 2.0 + 0.001 * i}))
            for i in range(n)
        ),
        pace_per_s=2000,
    )
    await wait_for_count(conn, "SELECT count(*) FROM observations WHERE station_id = $1", station, expected=n)
    # The hour after the judged range has its mean: the readings before it were all processed.
    await wait_for_count(
        conn,
        "SELECT count(*) FROM indicators WHERE station_id = $1 AND indicator = 'msl_hourly_m' "
        "AND time = to_timestamp($2 / 1e6)",
        station,
        judged_to,
        expected=1,
        settle_s=3,
    )
    hours = await conn.fetch(
        "SELECT (extract(epoch FROM time) * 1000000)::bigint AS t FROM indicators "
        "WHERE station_id = $1 AND indicator = 'msl_hourly_m' ORDER BY time",
        station,
    )
    stored = [r["t"] for r in hours]
    assert not [t for t in stored if judged_from <= t < judged_to], stored
    flags = await conn.fetch(
        "SELECT DISTINCT qc_flag FROM observations WHERE station_id = $1 AND time >= to_timestamp($2 / 1e6) "
        "AND time < to_timestamp($3 / 1e6)",
        station,
        judged_from,
        judged_to,
    )
    assert [r["qc_flag"] for r in flags] == [4]
