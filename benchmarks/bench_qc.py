"""Cost of streaming QC per reading, against ioos_qc run once over each whole series.

Run: .venv/bin/python benchmarks/bench_qc.py [--stations 1000] [--batches 30]
A synthetic network of tide gauges (1-min samples of water level, water temperature, salinity, air
pressure, battery voltage; the packaged defaults of schemas/qc.yaml plus a monthly climatology for
every station's water temperature). The engine is first filled past its retention (so every series
carries its full context and drops old readings), then timed on batches in which every series gets
1–3 new readings. The baseline is ioos_qc over each series' whole array, once.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import orjson
import yaml
from ioos_qc import qartod

from schemas.registry import parse_registry
from streams.qc import QcEngine, Readings, parse_qc_config

VARIABLES = (
    "water_level_m",
    "water_temperature_degC",
    "salinity_psu",
    "air_pressure_hpa",
    "battery_voltage_v",
)
START_US = 1_700_000_000_000_000
STEP_US = 60_000_000
QC_YAML = Path(__file__).resolve().parents[1] / "schemas" / "qc.yaml"


def network(stations: int):
    registry = parse_registry(
        {
            "network": "bench",
            "stations": [
                {
                    "id": f"s{i:04d}",
                    "name": f"gauge {i}",
                    "kind": "tide_gauge",
                    "latitude": 39.0 + i * 1e-4,
                    "longitude": 121.0,
                    "datum": {"name": "d", "msl_above_datum_m": 2.0},
                    "sampling_interval_s": 60,
                    "variables": list(VARIABLES),
                }
                for i in range(stations)
            ],
        }
    )
    document = yaml.safe_load(QC_YAML.read_text(encoding="utf-8"))
    monthly = [[m - 3.0, m + 8.0] for m in range(12)]
    document["stations"] = {
        f"s{i:04d}": {"water_temperature_degC": {"climatology": {"monthly": monthly}}}
        for i in range(stations)
    }
    return parse_qc_config(document, registry)


def series(stations: int, minutes: int, rng: np.random.Generator) -> np.ndarray:
    """(stations, variables, minutes) values."""
    t = np.arange(minutes) / 60.0
    phase = rng.uniform(0, 2 * np.pi, (stations, 1))
    shape = (stations, minutes)
    level = 2.0 + 1.5 * np.sin(2 * np.pi * t / 12.42 + phase) + rng.normal(0, 0.01, shape)
    temperature = 12 + 0.5 * np.sin(2 * np.pi * t / 24 + phase) + rng.normal(0, 0.02, shape)
    salinity = 30 + rng.normal(0, 0.05, shape)
    pressure = 1013 + rng.normal(0, 0.1, shape)
    battery = 12.8 + rng.normal(0, 0.01, shape)
    return np.stack([level, temperature, salinity, pressure, battery], axis=1)


def batch(values: np.ndarray, minutes: np.ndarray) -> Readings:
    """Readings of every series at the given minutes per series (ragged)."""
    stations, variables, _ = values.shape
    station_ids, variable_ids, times, vals = [], [], [], []
    for s in range(stations):
        for v in range(variables):
            for m in minutes[s * variables + v]:
                station_ids.append(f"s{s:04d}")
                variable_ids.append(VARIABLES[v])
                times.append(START_US + int(m) * STEP_US)
                vals.append(values[s, v, m])
    return Readings(station_ids, variable_ids, np.array(times, dtype=np.int64), np.array(vals))


def baseline(values: np.ndarray, config, n_series: int) -> tuple[float, int]:
    """ioos_qc over whole arrays: CPU seconds and readings for ``n_series`` series."""
    times = (START_US + np.arange(values.shape[2]) * STEP_US).astype("datetime64[us]")
    count = 0
    t0 = time.process_time()
    for k in range(n_series):
        s, v = divmod(k, len(VARIABLES))
        x = values[s, v]
        c = config.get(f"s{s:04d}", VARIABLES[v])
        qartod.gross_range_test(x, c.gross_range.fail_span, c.gross_range.suspect_span)
        if c.spike:
            qartod.spike_test(x, c.spike.suspect_threshold, c.spike.fail_threshold)
        if c.rate_of_change:
            qartod.rate_of_change_test(x, times, c.rate_of_change.threshold)
        if c.flat_line:
            f = c.flat_line
            qartod.flat_line_test(x, times, f.suspect_threshold, f.fail_threshold, f.tolerance)
        qartod.time_gap_test(times, c.gap.fail_span_s / 3600)
        count += len(x)
    return time.process_time() - t0, count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=1000)
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--warmup-minutes", type=int, default=13 * 60)
    args = parser.parse_args()
    rng = np.random.default_rng(1)
    config = network(args.stations)
    n_series = args.stations * len(VARIABLES)
    total_minutes = args.warmup_minutes + 3 * args.batches + 3
    values = series(args.stations, total_minutes, rng)
    engine = QcEngine(config)

    chunk = 120
    t0 = time.process_time()
    for start in range(0, args.warmup_minutes, chunk):
        span = np.arange(start, min(start + chunk, args.warmup_minutes))
        engine.process(batch(values, [span] * n_series))
    warm = time.process_time() - t0
    print(f"warm-up: {args.warmup_minutes} min of {n_series} series in {warm:.1f} s CPU")

    engine.export_state()  # the warm-up's changelog entries
    cursor = np.full(n_series, args.warmup_minutes)
    cpu, export_cpu, readings, emitted, written, entries = 0.0, 0.0, 0, 0, 0, 0
    for _ in range(args.batches):
        k = rng.integers(1, 4, n_series)
        minutes = [np.arange(c, c + n) for c, n in zip(cursor, k, strict=True)]
        cursor += k
        job = batch(values, minutes)
        t0 = time.process_time()
        results = engine.process(job)
        t1 = time.process_time()
        changes = {key: orjson.dumps(value) for key, value in engine.export_state().items()}
        export_cpu += time.process_time() - t1
        cpu += t1 - t0
        readings += len(job)
        emitted += len(results)
        entries += len(changes)
        written += sum(len(v) for v in changes.values())
    print(
        f"streaming QC: {readings} readings in {args.batches} batches of ~{readings // args.batches}: "
        f"{readings / cpu:,.0f} readings/s, {cpu / readings * 1e6:.1f} µs/reading CPU, "
        f"{emitted / readings:.2f} results per reading"
    )
    print(
        f"changelog per batch: {entries / args.batches:,.0f} entries, "
        f"{written / args.batches / 1e6:.1f} MB JSON; "
        f"export+encode {export_cpu / readings * 1e6:.1f} µs/reading CPU"
    )
    t0 = time.process_time()
    full = engine.export_state([f"s{s:04d}/{v}" for s in range(args.stations) for v in VARIABLES])
    size = sum(len(orjson.dumps(v)) for v in full.values())
    full_cpu = time.process_time() - t0
    kept = sum(len(engine.series_flags(f"s{s:04d}", v)[0]) for s in range(args.stations) for v in VARIABLES)
    print(
        f"full state: {size / n_series / 1024:.1f} KiB JSON per series "
        f"({kept / n_series:.0f} readings kept), "
        f"{full_cpu / n_series * 1e6:.0f} µs per series to export"
    )

    sample = min(n_series, 200)
    base_cpu, base_count = baseline(values, config, sample)
    print(
        f"baseline ioos_qc over whole arrays ({sample} series × {total_minutes} readings): "
        f"{base_count / base_cpu:,.0f} readings/s, {base_cpu / base_count * 1e6:.1f} µs/reading CPU"
    )


if __name__ == "__main__":
    main()
