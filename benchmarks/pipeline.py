"""End-to-end benchmark: MQTT publish → ingest → Kafka → worker → committed rows.

Runs the real processes (a private Mosquitto with tidewatch's broker settings, a fresh Tansu, the
machine's PostgreSQL), with the bare legs measured in the same run as baselines:
- MQTT receive alone: one aiomqtt subscriber draining the same messages (no validation, no Kafka);
- COPY alone: the storage writer inserting the same rows straight into PostgreSQL.
Figures are reported as readings/s and as ratios against those baselines, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import multiprocessing as mp
import os
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import aiomqtt
import asyncpg
import paho.mqtt.client as paho
import psutil
import yaml

from schemas.contract import readings_topic
from schemas.records import Sample, StationReadings
from schemas.registry import default_registry_path
from services.config import Settings
from services.db.prepare import prepare_database
from services.db.writers import prepare_connection, reading_rows, upsert_observations
from services.mqtt_auth import aiomqtt_options, configure_paho, parse_mqtt_url
from services.stack.pipeline import Pipeline
from streams.indicators.catalogue import INDICATORS

BUOY_VALUES = {
    "water_temperature_degC": 12.5,
    "salinity_psu": 31.2,
    "dissolved_oxygen_mg_l": 7.9,
    "ph_total": 8.05,
    "chlorophyll_ug_l": 2.1,
    "turbidity_ntu": 4.0,
    "wave_height_m": 0.8,
    "battery_voltage_v": 12.6,
}
READINGS_PER_MESSAGE = len(BUOY_VALUES)


def bench_registry(path: Path, network: str, n_stations: int, sampling_interval_s: float = 60) -> Path:
    """N buoys, each reporting the eight variables above in one message."""
    stations = [
        {
            "id": f"bench-{i:04d}",
            "name": f"Benchmark buoy {i}",
            "kind": "buoy",
            "latitude": 39.0 + (i % 100) * 0.01,
            "longitude": 121.0 + (i // 100) * 0.01,
            "datum": {"name": "sea surface", "msl_above_datum_m": 0.0},
            "sampling_interval_s": sampling_interval_s,
            "variables": sorted(BUOY_VALUES),
            # the wave warning rule needs every buoy's levels (GB/T wave bands, as in the sample network)
            "thresholds": {"wave_height_m": {"blue": 2.5, "yellow": 3.5, "orange": 4.5, "red": 6.0}},
        }
        for i in range(n_stations)
    ]
    path.write_text(yaml.safe_dump({"network": network, "stations": stations}))
    return path


def bench_qc_config(work: Path) -> Path:
    """The packaged QC defaults without the sample network's per-station overrides."""
    document = yaml.safe_load((default_registry_path().parent / "qc.yaml").read_text())
    document.pop("stations", None)
    path = work / "qc-defaults.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _payload(station: str, time_us: int, k: int) -> bytes:
    seconds, micros = divmod(time_us, 1_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{micros:06d}Z"
    values = {name: value + 0.001 * (k % 100) for name, value in BUOY_VALUES.items()}
    return json.dumps({"station": station, "time": stamp, "values": values}).encode()


def paho_publisher(url: str, prefix: str) -> paho.Client:
    """A started QoS 1 publisher (in-flight window 1,000) on the account of `url`."""
    client = paho.Client(
        paho.CallbackAPIVersion.VERSION2, client_id=f"{prefix}-{uuid.uuid4().hex[:6]}", protocol=paho.MQTTv5
    )
    target = parse_mqtt_url(url)
    configure_paho(client, target)
    client.max_inflight_messages_set(1000)
    client.connect(target.host, target.port)
    client.loop_start()
    return client


def publish_paced(url: str, network: str, n_stations: int, n_messages: int, rate_msg_s: float) -> None:
    """Child process: publish round-robin over stations at a steady rate; sample time = publish time."""
    client = paho_publisher(url, "bench-pub")
    topics = [readings_topic(network, f"bench-{i:04d}") for i in range(n_stations)]
    started = time.monotonic()
    last = None
    for k in range(n_messages):
        station = k % n_stations
        now_us = time.time_ns() // 1000
        last = client.publish(topics[station], _payload(f"bench-{station:04d}", now_us, k), qos=1)
        ahead = (k + 1) / rate_msg_s - (time.monotonic() - started)
        if ahead > 0:
            time.sleep(ahead)
    if last is not None:
        last.wait_for_publish(120)
    client.loop_stop()
    client.disconnect()


def start_publisher(
    settings: Settings, network: str, n_stations: int, n_messages: int, rate_msg_s: float
) -> mp.Process:
    """The publisher runs in its own process, as field stations would, not in the measuring loop."""
    url = settings.mqtt_publish_url or settings.mqtt_url
    process = mp.get_context("spawn").Process(
        target=publish_paced, args=(url, network, n_stations, n_messages, rate_msg_s)
    )
    process.start()
    return process


@dataclass
class Result:
    name: str
    readings: int
    seconds: float
    p50_s: float | None = None
    p99_s: float | None = None
    peak_rss_mb: float | None = None

    @property
    def rate(self) -> float:
        return self.readings / self.seconds if self.seconds else 0.0


async def baseline_mqtt_receive(
    settings: Settings, network: str, n_stations: int, n_messages: int, rate_msg_s: float
) -> Result:
    """The MQTT leg alone: one subscriber, same messages, same broker, nothing else."""
    received = 0
    async with aiomqtt.Client(
        **aiomqtt_options(settings.mqtt_target()),
        identifier=f"bench-sub-{network}",
        protocol=aiomqtt.ProtocolVersion.V5,
    ) as client:
        await client.subscribe(f"tidewatch/v1/{network}/+/readings", qos=1)
        publisher = start_publisher(settings, network, n_stations, n_messages, rate_msg_s)
        started = None
        async for _ in client.messages:
            started = started or time.monotonic()  # from the first message: no process start-up
            received += 1
            if received == n_messages:
                break
        elapsed = time.monotonic() - started
        await asyncio.to_thread(publisher.join)
    return Result("MQTT receive alone", received * READINGS_PER_MESSAGE, elapsed)


async def baseline_copy(settings: Settings, n_stations: int, n_messages: int) -> Result:
    """The storage leg alone: the same rows through the same writer, in 1,000-message batches."""
    conn = await asyncpg.connect(settings.database_url)
    await prepare_connection(conn)
    base = time.time_ns() // 1000 - 10**12
    items = [
        StationReadings(f"copy-{k % n_stations:04d}", base, [Sample(base + k, dict(BUOY_VALUES))])
        for k in range(n_messages)
    ]
    started = time.monotonic()
    for i in range(0, len(items), 1000):
        await upsert_observations(conn, reading_rows(items[i : i + 1000]))
    elapsed = time.monotonic() - started
    await conn.execute("DELETE FROM observations WHERE station_id LIKE 'copy-%'")
    await conn.close()
    return Result("COPY alone", n_messages * READINGS_PER_MESSAGE, elapsed)


async def end_to_end(
    settings: Settings,
    work: Path,
    n_stations: int,
    n_messages: int,
    rate_msg_s: float,
    *,
    qc: bool = True,
    downstream: bool = True,
) -> Result:
    network = f"b{uuid.uuid4().hex[:8]}"
    registry = bench_registry(work / f"registry-{network}.yaml", network, n_stations)
    run_settings = settings.with_(
        registry_path=str(registry), qc_config_path=str(bench_qc_config(work)), worker_id=f"bench-{network}"
    )
    await prepare_database(run_settings, INDICATORS)
    env = {"TIDEWATCH_QC": "on" if qc else "off"}
    if not downstream:
        env["TIDEWATCH_AGENTS"] = "store"  # storage and QC only: what QC itself costs
    pipeline = Pipeline(run_settings, network, work / f"logs-{network}", extra_env=env)
    await pipeline.start_worker()
    await pipeline.start_ingest()
    processes = [psutil.Process(c.process.pid) for c in (pipeline.worker, pipeline.ingest)]
    peak_rss = 0.0
    conn = await asyncpg.connect(run_settings.database_url)
    expected = n_messages * READINGS_PER_MESSAGE
    count_sql = "SELECT count(*) FROM observations WHERE station_id LIKE 'bench-%' AND stored_at >= $1"
    since = await conn.fetchval("SELECT now()")
    try:
        started = time.monotonic()
        publisher = start_publisher(run_settings, network, n_stations, n_messages, rate_msg_s)
        stored = 0
        deadline = started + 10 + 3 * n_messages / rate_msg_s
        while stored < expected and time.monotonic() < deadline:
            await asyncio.sleep(0.25)
            peak_rss = max(peak_rss, sum(p.memory_info().rss for p in processes) / 2**20)
            stored = await conn.fetchval(count_sql, since)
        await asyncio.to_thread(publisher.join)
        # Throughput from the first publish to the last commit, latency per row from its publish
        # (sample time = publish time) to its commit: both read from the rows themselves.
        elapsed, p50, p99 = await conn.fetchrow(
            "SELECT extract(epoch FROM max(stored_at) - min(time)),"
            "       percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - time)),"
            "       percentile_cont(0.99) WITHIN GROUP (ORDER BY extract(epoch FROM stored_at - time))"
            " FROM observations WHERE station_id LIKE 'bench-%' AND stored_at >= $1",
            since,
        )
        await conn.execute("DELETE FROM observations WHERE station_id LIKE 'bench-%'")
    finally:
        await conn.close()
        pipeline.stop()
    name = f"end to end, {n_stations} stations, QC {'on' if qc else 'off'}"
    name += ", indicators + alerts" if downstream else ", storage only"
    if stored < expected:
        name += f" (only {stored} of {expected} rows in time)"
    return Result(name, stored, float(elapsed), p50, p99, peak_rss)


def report(results: list[Result], mqtt: Result, copy: Result) -> str:
    lines = [
        f"# tidewatch pipeline benchmark ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
        f"{os.cpu_count()} cores)",
        "",
        f"{READINGS_PER_MESSAGE} readings per MQTT message. Baselines measured in the same run.",
        "",
        "| run | readings | s | readings/s | × MQTT-alone | × COPY-alone | p50 s | p99 s | peak RSS MB |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in [mqtt, copy, *results]:

        def fmt(value: float | None, spec: str = ".3f") -> str:
            return "" if value is None else format(value, spec)

        lines.append(
            f"| {r.name} | {r.readings:,} | {r.seconds:.1f} | {r.rate:,.0f} | {r.rate / mqtt.rate:.2f} | "
            f"{r.rate / copy.rate:.2f} | {fmt(r.p50_s)} | {fmt(r.p99_s)} | {fmt(r.peak_rss_mb, '.0f')} |"
        )
    return "\n".join(lines)
