"""Time to warn: how many readings and how many seconds after the first qualifying reading an alert
comes out, for every rule kind.

1. Data delay (no I/O): each rule kind gets a series whose condition is first met at a known reading;
   the readings go through the stream's QC engine one at a time (live), ``alert_view`` and the alert
   engine, exactly as the worker runs them. Reported: readings between the first qualifying reading
   and the event, and that delay beyond the rule's own ``for``.
2. Wall clock (real processes: private Mosquitto and Tansu, PostgreSQL, ingest, worker, a local
   webhook receiver): stations publish live (data time = publish time); hazards are injected at
   known publish times; reported: p50/p99/max seconds from publishing the qualifying reading to the
   stored event (``alert_events.recorded_at``) and to the webhook call, with the sample network and
   with many simulated buoys. Goal: 0 readings of delay beyond ``for``; p99 < 2 s.

    python -m benchmarks.bench_time_to_warn [--seconds 60] [--stations 1000] [--skip-wall]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import random
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import numpy as np
import yaml

from alerts import AlertEngine, load_channels, load_rules
from alerts.inputs import INDICATOR, READING, Observation, reading_observation
from benchmarks.pipeline import BUOY_VALUES, bench_qc_config, bench_registry, paho_publisher
from schemas.contract import readings_topic
from schemas.registry import Registry, default_registry_path, load_registry
from services.config import Settings, load_settings
from services.db.connect import drop_database
from services.db.prepare import prepare_database
from services.stack.launcher import start_stack
from services.stack.pipeline import Pipeline
from streams.indicators.catalogue import INDICATORS
from streams.qc import QcEngine, Readings, load_qc_config
from streams.qc.first_flags import alert_view

T0_US = 1_790_000_000_000_000


# -- 1. data delay ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class Case:
    rule: str
    station: str
    variable: str
    values: list[float]
    first_qualifying: int  # index of the first reading that meets the condition (by hand)
    for_readings: int = 0  # the rule's own wait, in readings of this station


def cases(registry: Registry) -> list[Case]:
    dalian = registry.stations["dalian"].thresholds["warning_water_level_m"]
    calm = [1.0 + 0.01 * (i % 3) for i in range(30)]
    level = [
        *calm,
        dalian["blue"] + 0.05,
        dalian["yellow"] + 0.05,
        dalian["red"] + 0.05,
        *[dalian["red"]] * 5,
    ]
    waves = [0.8] * 30 + [2.6, 2.7, 3.6, 4.6, 6.1, 6.0, 6.0]
    oxygen = [6.0 - 0.05 * i for i in range(30)] + [2.9, 2.8, 2.7, 2.6, 2.5, 1.9, 1.9, 1.9, 1.9]
    battery = [12.6] * 30 + [11.7] * 8
    stuck = [1.0 + 0.01 * (i % 3) for i in range(30)] + [20.0] * 5
    return [
        Case("water_level_warning", "dalian", "water_level_m", level, 30),
        Case("wave_warning", "north-yellow-sea-buoy", "wave_height_m", waves, 30),
        # 10-min buoy: hypoxia's `for: 30m` is 3 readings after the first low one.
        Case("hypoxia", "north-yellow-sea-buoy", "dissolved_oxygen_mg_l", oxygen, 30, for_readings=3),
        Case("battery_low", "north-yellow-sea-buoy", "battery_voltage_v", battery, 30, for_readings=3),
        # Three failed readings in a row: the condition is met at the third.
        Case("sensor_repeated_fail", "dalian", "water_level_m", stuck, 32),
    ]


def event_index(case: Case, registry: Registry, rules, channels) -> tuple[int | None, int | None]:
    """Index of the reading whose processing emitted the rule's first event and its firing event."""
    station = registry.stations[case.station]
    step_us = round(station.sampling_interval_s * 1e6)
    quality = QcEngine(load_qc_config(registry))
    engine = AlertEngine(registry, rules, channels)
    first = firing = None
    for i, value in enumerate(case.values):
        t = T0_US + i * step_us
        results = quality.process(
            Readings([case.station], [case.variable], np.array([t], dtype=np.int64), np.array([value]))
        )
        events = engine.observe([reading_observation(r) for r in alert_view(results)], t)
        mine = [e for e in events if e.rule == case.rule]
        if mine and first is None:
            first = i
        if any(e.kind == "firing" for e in mine) and firing is None:
            firing = i
    return first, firing


def indicator_delay(registry: Registry, rules, channels) -> int:
    """An indicator rule (storm_surge_warning on the graded high water) fires on the record that
    carries the first qualifying value: readings of delay 0 by construction, checked here."""
    engine = AlertEngine(registry, rules, channels)
    events = engine.observe([Observation("dalian", INDICATOR, "water_level_warning", T0_US, 2.0)], T0_US)
    return 0 if any(e.rule == "storm_surge_warning" and e.kind == "firing" for e in events) else -1


def silent_delay_s(registry: Registry, rules, channels, tick_s: float) -> float:
    """Station silent: seconds of data time from the due time to the event, ticks every `tick_s`."""
    engine = AlertEngine(registry, rules, channels)
    interval_s = registry.stations["dalian"].sampling_interval_s
    engine.observe([Observation("dalian", READING, "water_level_m", T0_US, 1.0, 1)], T0_US)
    due_us = T0_US + round(3 * interval_s * 1e6)
    wall = T0_US
    while True:
        wall += round(tick_s * 1e6)
        events = [e for e in engine.tick(wall) if e.rule == "station_silent"]
        if events:
            return (wall - due_us) / 1e6


def data_delay_table(tick_s: float) -> list[str]:
    registry = load_registry()
    rules, channels = load_rules(registry), load_channels()
    lines = [
        "| rule | first qualifying reading | first event at reading | firing at reading | "
        "rule's `for` (readings) | delay beyond `for` (readings) |",
        "|---|---|---|---|---|---|",
    ]
    for case in cases(registry):
        first, firing = event_index(case, registry, rules, channels)
        beyond = None if firing is None else firing - case.first_qualifying - case.for_readings
        lines.append(
            f"| {case.rule} | {case.first_qualifying} | {first} | {firing} | {case.for_readings} | {beyond} |"
        )
    surge = indicator_delay(registry, rules, channels)
    lines.append(f"| storm_surge_warning (indicator) | record 0 | 0 | 0 | 0 | {surge} |")
    lines.append(
        f"| station_silent (timer) | due time | tick | tick | 3 intervals | "
        f"{silent_delay_s(registry, rules, channels, tick_s):.1f} s after due (tick {tick_s:g} s) |"
    )
    return lines


# -- 2. wall clock ---------------------------------------------------------------------------------
def network_registry(path: Path, network: str, n_buoys: int) -> Path:
    """The sample network (renamed), or `n_buoys` simulated buoys with wave warning levels."""
    if n_buoys == 0:
        document = yaml.safe_load(default_registry_path().read_text())
        document["network"] = network
    else:
        return bench_registry(path, network, n_buoys)
    path.write_text(yaml.safe_dump(document, allow_unicode=True))
    return path


def live_values(station, hazard: bool) -> dict[str, float] | None:
    """What a station sends each round; `hazard`: its warning variable at red."""
    if not can_warn(station):
        return None
    if station.kind == "tide_gauge":
        red = station.thresholds["warning_water_level_m"]["red"]
        return {"water_level_m": red + 0.2 if hazard else 1.0}
    if station.kind == "buoy":
        values = {k: v for k, v in BUOY_VALUES.items() if k in station.variables}
        if hazard:
            values["wave_height_m"] = station.thresholds["wave_height_m"]["red"] + 0.5
        return values
    return None


def can_warn(station) -> bool:
    """Stations with an observed-value warning level (tide gauges, buoys with wave levels)."""
    if station.kind == "tide_gauge":
        return "warning_water_level_m" in station.thresholds
    if station.kind == "buoy":
        return "wave_height_m" in station.thresholds and "wave_height_m" in station.variables
    return False
    return None


def publish_live(url: str, registry_path: str, seconds: float, period_s: float, out: str, seed: int) -> None:
    """Child process: every station publishes each `period_s` (data time = publish time); each
    warning station gets one hazard reading at a random moment of the middle of the run."""
    registry = load_registry(registry_path)
    client = paho_publisher(url, "ttw-pub")
    stations = [s for s in registry.stations.values() if can_warn(s)]
    rng = random.Random(seed)
    hazard_round = {
        s.id: rng.randint(int(0.3 * seconds / period_s), int(0.7 * seconds / period_s)) for s in stations
    }
    injected: list[dict] = []
    started = time.monotonic()
    rounds = int(seconds / period_s)
    for k in range(rounds):
        for j, station in enumerate(stations):
            due = started + k * period_s + j * period_s / len(stations)
            ahead = due - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
            hazard = hazard_round[station.id] == k
            now_us = time.time_ns() // 1000
            seconds_, micros = divmod(now_us, 1_000_000)
            stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds_)) + f".{micros:06d}Z"
            payload = json.dumps(
                {"station": station.id, "time": stamp, "values": live_values(station, hazard)}
            )
            client.publish(readings_topic(registry.network, station.id), payload.encode(), qos=1)
            if hazard:
                injected.append({"station": station.id, "time_us": now_us})
    client.loop_stop()
    client.disconnect()
    Path(out).write_text(json.dumps(injected))


class WebhookReceiver:
    """A bare HTTP server that records when each alert event arrived."""

    def __init__(self) -> None:
        self.arrivals: dict[tuple[str, int], float] = {}
        self.server: asyncio.AbstractServer | None = None

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/hook"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                body = await reader.readexactly(length)
                arrived = time.time()
                event = json.loads(body)
                self.arrivals.setdefault((event["alert_id"], event["seq"]), arrived)
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, KeyError):
            pass
        finally:
            writer.close()


def percentiles(values: list[float]) -> str:
    """``p50 | p95 | p99 | max | n`` (nearest rank) of seconds, for a table row."""
    if not values:
        return "– | – | – | – | 0"
    ordered = sorted(values)
    p95, p99 = (ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] for q in (0.95, 0.99))
    return f"{statistics.median(ordered):.3f} | {p95:.3f} | {p99:.3f} | {ordered[-1]:.3f} | {len(ordered)}"


async def wall_run(base: Settings, work: Path, n_buoys: int, seconds: float, period_s: float) -> list[str]:
    network = f"w{uuid.uuid4().hex[:8]}"
    database = f"tidewatch_ttw_{network}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{database}")
    stack = await start_stack(settings, work / f"stack-{network}", fresh_kafka=True, private_mqtt=True)
    receiver = WebhookReceiver()
    hook = await receiver.start()
    registry_path = network_registry(work / f"registry-{network}.yaml", network, n_buoys)
    run = stack.settings.with_(registry_path=str(registry_path), worker_id=f"ttw-{network}")
    if n_buoys:  # the packaged QC file tunes the sample network's stations: defaults only
        run = run.with_(qc_config_path=str(bench_qc_config(work)))
    await prepare_database(run, INDICATORS)
    pipeline = Pipeline(run, network, work / f"logs-{network}", extra_env={"TIDEWATCH_WEBHOOK_URL": hook})
    out = work / f"injected-{network}.json"
    try:
        await pipeline.start_worker()
        await pipeline.start_ingest()
        publisher = mp.get_context("spawn").Process(
            target=publish_live,
            args=(run.mqtt_publish_url or run.mqtt_url, str(registry_path), seconds, period_s, str(out), 7),
        )
        publisher.start()
        await asyncio.to_thread(publisher.join)
        await asyncio.sleep(10)  # the last events and notices
        injected = json.loads(out.read_text())
        conn = await asyncpg.connect(run.database_url)
        rows = await conn.fetch(
            "SELECT alert_id, seq, station_id, rule, kind, extract(epoch FROM time) AS data_s, "
            "extract(epoch FROM received) AS received_s, extract(epoch FROM recorded_at) AS stored_s "
            "FROM alert_events "
            "WHERE rule IN ('water_level_warning', 'wave_warning') AND kind = 'firing'"
        )
        # The storage leg of the same run, as a baseline: publish (= data time) → stored reading.
        storage = await conn.fetch("SELECT extract(epoch FROM stored_at - time) AS s FROM observations")
        await conn.close()
    finally:
        pipeline.stop()
        stack.stop()
        if receiver.server is not None:
            receiver.server.close()
        await drop_database(run.database_url)
    by_station = {r["station_id"]: r for r in rows}
    stored, hooked, data, received = [], [], [], []
    missing = 0
    for item in injected:
        row = by_station.get(item["station"])
        if row is None:
            missing += 1
            continue
        published_s = item["time_us"] / 1e6
        data.append(float(row["data_s"]) - published_s)  # 0: the event's time is the reading's
        stored.append(float(row["stored_s"]) - published_s)
        if row["received_s"] is not None:  # the QC result reached the alert engine's input log
            received.append(float(row["received_s"]) - published_s)
        arrived = receiver.arrivals.get((row["alert_id"], row["seq"]))
        if arrived is not None:
            hooked.append(arrived - published_s)
    label = "sample network" if n_buoys == 0 else f"{n_buoys} simulated buoys"
    publishing = [s for s in load_registry(str(registry_path)).stations.values() if live_values(s, False)]
    rate = len(publishing) / period_s
    run_label = f"{label}, ~{rate:.0f} messages/s, {seconds:.0f} s"
    baseline = [float(r["s"]) for r in storage]
    return [
        f"| {run_label} | publish → stored reading (baseline) | {percentiles(baseline)} |",
        f"| {label} | publish → alert input in the log (`received`) | {percentiles(received)} |",
        f"| {label} | publish → stored event | {percentiles(stored)} |",
        f"| {label} | publish → webhook call | {percentiles(hooked)} |",
        f"| {label} | event time − reading time (s) | max {max(data, default=0):.6f} | "
        f"hazards {len(injected)}, no event {missing} | | | |",
    ]


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each live run")
    parser.add_argument("--stations", type=int, default=1000, help="simulated buoys of the large run")
    parser.add_argument("--skip-wall", action="store_true", help="only the data-delay table")
    parser.add_argument("--only-large", action="store_true", help="skip the sample-network run")
    parser.add_argument(
        "--period", type=float, default=2.0, help="seconds between two messages of a buoy in the large run"
    )
    args = parser.parse_args()
    settings = load_settings()
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())  # the machine is shared: say how busy it was
    lines = [
        f"# time to warn ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {os.cpu_count()} cores, "
        f"load average {load} at the start)",
        "",
        "## Data delay: readings from the first qualifying reading to the event",
        "",
        *data_delay_table(settings.alert_tick_s),
    ]
    if not args.skip_wall:
        work = Path(settings.data_dir) / "bench-ttw"
        work.mkdir(parents=True, exist_ok=True)
        lines += [
            "",
            "## Wall clock: seconds from publishing the qualifying reading",
            "",
            "| run | leg | p50 s | p95 s | p99 s | max s | hazards |",
            "|---|---|---|---|---|---|---|",
        ]
        if not args.only_large:
            lines += await wall_run(settings, work, 0, args.seconds, 1.0)
        lines += await wall_run(settings, work, args.stations, args.seconds, args.period)
    lines += ["", f"Load average at the end: {', '.join(f'{x:.1f}' for x in os.getloadavg())}."]
    text = "\n".join(lines)
    print(text)
    results = Path(__file__).parent / "results"
    results.mkdir(exist_ok=True)
    (results / "time_to_warn.md").write_text(text + "\n")


if __name__ == "__main__":
    asyncio.run(main())
