"""Throughput of the ecological indicator state: readings per second and CPU per update.

Run: .venv/bin/python -m benchmarks.bench_ecology [--days 30] [--steady]
A buoy (10-min samples of T, S, DO, pH, chl) and a wetland flux station (30-min water level,
porewater salinity, CO2 and CH4 flux) fed in time order with several update sizes, plus the batch
computation of the same series and the size of the JSON state (all its pieces).

`--steady` measures what bounds the stream worker: a station's state is first filled with
`--days` days (day-sized updates), then timed over `--updates` updates of 1 and of 12 samples,
each followed by an export (the worker writes the changed pieces after every update): median CPU
per update.
It also reports the memory one station's state holds (tracemalloc: the samples are made and dropped
inside the traced span, as the worker decodes each message into new objects).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
import tracemalloc

import numpy as np

from schemas.records import Sample
from streams.indicators.ecology import Climatology, EcologyParams, EcologyState, compute_batch
from streams.indicators.ecology.calendar import DAY_US

START_US = 19_700 * DAY_US  # 2023-12-07


def buoy(days: int, rng: np.random.Generator) -> list[Sample]:
    n = days * 144
    d = np.arange(n) / 144
    columns = {
        "water_temperature_degC": 14 + 3 * np.sin(d / 9) + rng.normal(0, 0.2, n),
        "salinity_psu": 30 + rng.normal(0, 0.3, n),
        "dissolved_oxygen_mg_l": 6 + 4 * np.sin(2 * np.pi * d) + rng.normal(0, 0.3, n),
        "ph_total": 8.05 + rng.normal(0, 0.02, n),
        "chlorophyll_ug_l": 3 + rng.normal(0, 0.5, n).clip(-2, 2),
    }
    return [
        Sample(START_US + i * 600_000_000, {k: float(v[i]) for k, v in columns.items()}) for i in range(n)
    ]


def wetland(days: int, rng: np.random.Generator) -> list[Sample]:
    n = days * 48
    d = np.arange(n) / 48
    columns = {
        "water_level_m": 1.3 + 0.9 * np.sin(2 * np.pi * d * 1.932),
        "porewater_salinity_psu": 20 + rng.normal(0, 0.5, n),
        "co2_flux_umol_m2_s": -3 * np.sin(2 * np.pi * d).clip(0) + 1 + rng.normal(0, 0.3, n),
        "ch4_flux_nmol_m2_s": 25 + rng.normal(0, 4, n),
    }
    return [
        Sample(START_US + i * 1_800_000_000, {k: float(v[i]) for k, v in columns.items()}) for i in range(n)
    ]


def run(name: str, samples: list[Sample], params: EcologyParams, clim: Climatology, chunk: int) -> None:
    readings = sum(len(s.values) for s in samples)
    state = EcologyState(name, params, clim)
    emitted, updates = 0, 0
    t0 = time.process_time()
    for k in range(0, len(samples), chunk):
        emitted += len(state.update(samples[k : k + chunk]))
        updates += 1
    cpu = time.process_time() - t0
    size = len(json.dumps(state.export(full=True)))
    print(
        f"{name:8s} chunk {chunk:4d} samples: {readings / cpu:9.0f} readings/s, "
        f"{1e3 * cpu / updates:6.2f} ms CPU/update, {emitted / updates:6.1f} records/update, "
        f"state {size / 1024:6.1f} KiB"
    )


def filled(
    name: str, samples: list[Sample], days: int, params: EcologyParams, clim: Climatology
) -> EcologyState:
    per_day = round(86400 / params.sampling_interval_s)
    state = EcologyState(name, params, clim)
    for k in range(0, days * per_day, per_day):
        state.update(samples[k : k + per_day])
        state.export()
    return state


def steady(days: int, updates: int, clim: Climatology) -> None:
    stations = {
        "buoy": (buoy, EcologyParams(sampling_interval_s=600)),
        "wetland": (wetland, EcologyParams(sampling_interval_s=1800, marsh_platform_m=1.4)),
    }
    for name, (make, params) in stations.items():
        per_day = round(86400 / params.sampling_interval_s)
        samples = make(days + updates * 12 // per_day + 2, np.random.default_rng(0))
        for chunk in (1, 12):
            state = filled(name, samples, days, params, clim)
            cpu_ns = []
            for k in range(days * per_day, days * per_day + updates * chunk, chunk):
                t0 = time.process_time_ns()
                state.update(samples[k : k + chunk])
                state.export()
                cpu_ns.append(time.process_time_ns() - t0)
            print(
                f"{name:8s} {days} days of state, updates of {chunk:2d} samples: "
                f"{statistics.median(cpu_ns) / 1e3:7.0f} µs CPU/update (median of {updates}), "
                f"mean {statistics.mean(cpu_ns) / 1e3:7.0f} µs"
            )
        del samples
        gc.collect()
        tracemalloc.start()
        samples = make(days, np.random.default_rng(0))
        state = filled(name, samples, days, params, clim)
        del samples
        gc.collect()
        held, _ = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        size = len(json.dumps(state.export(full=True)))
        kib = f"{held / 1024:6.0f} KiB in memory, {size / 1024:6.0f} KiB as JSON"
        print(f"{name:8s} {days} days of state: {kib}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--steady", action="store_true", help="per-update CPU and memory at steady state")
    parser.add_argument("--updates", type=int, default=600)
    args = parser.parse_args()
    days = args.days
    rng = np.random.default_rng(0)
    clim = Climatology(np.full(366, 14.0), np.full(366, 16.5), "flat benchmark climatology")
    if args.steady:
        steady(days, args.updates, clim)
        return
    series = {
        "buoy": (buoy(days, rng), EcologyParams(sampling_interval_s=600)),
        "wetland": (wetland(days, rng), EcologyParams(sampling_interval_s=1800, marsh_platform_m=1.4)),
    }
    for name, (samples, params) in series.items():
        for chunk in (1, 12, 144):
            # One-sample updates are slow by design: a few thousand show the per-update cost.
            run(name, samples[:2000] if chunk == 1 else samples, params, clim, chunk)
        t0 = time.process_time()
        values = compute_batch(name, samples, params, clim)
        cpu = time.process_time() - t0
        print(f"{name:8s} batch {days} days: {cpu:.2f} s CPU, {len(values)} values")


if __name__ == "__main__":
    main()
