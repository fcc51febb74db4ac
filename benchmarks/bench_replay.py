"""One station-year of 1-minute water level replayed at full speed through the stream's QC and
indicators (pure: no broker, no database), as the worker runs them on a backfill or reprocessing.

Run: ``.venv/bin/python -m benchmarks.bench_replay [--days 365] [--batch 10000]``. Prints a markdown
table; nothing is asserted. The gauge is the sample network's Dalian tide gauge with the packaged QC
configuration; the series is a synthetic tide (M2, S2, N2, K1, O1, 2 cm noise) with a model fitted on
its first 30 days. Per batch of readings, as the agents do: QC (``QcEngine.process``), the QC-good
results into the sea-level and ecological states, and the changed state pieces encoded (what the
agents write to their changelog tables). Baseline in the same run: the sea-level batch computation
over the whole year at once (``compute_indicators``), which is what a stream replay must approach.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import orjson

from benchmarks.bench_sealevel import series
from schemas.records import Sample
from schemas.registry import default_registry_path, load_registry
from streams.indicators.ecology import EcologyState, params_for_station
from streams.indicators.sealevel import SeaLevelConfig, SeaLevelState
from streams.indicators.sealevel.compute import compute_indicators
from streams.indicators.sealevel.tide import fit_tide
from streams.qc import GOOD, QcEngine, Readings, load_qc_config

STATION = "dalian"
VARIABLE = "water_level_m"


def _encoded(pieces: dict) -> int:
    return sum(len(orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)) for v in pieces.values() if v is not None)


def replay(days: int, batch: int) -> dict[str, float]:
    registry = load_registry(default_registry_path())
    station = registry.stations[STATION]
    times, levels = series(days)
    model = fit_tide(times[: 30 * 1440], levels[: 30 * 1440], station.latitude)
    qc = QcEngine(load_qc_config(registry))
    sealevel = SeaLevelState(SeaLevelConfig.from_station(station), [model])
    ecology = EcologyState(STATION, params_for_station(station))
    spent = {"qc": 0.0, "sea level": 0.0, "ecology": 0.0, "state pieces": 0.0}
    state_bytes = 0
    for start in range(0, times.size, batch):
        t, v = times[start : start + batch], levels[start : start + batch]
        c0 = time.process_time()
        results = qc.process(Readings([STATION] * t.size, [VARIABLE] * t.size, t, v))
        c1 = time.process_time()
        rt = np.array([r.time_us for r in results], dtype=np.int64)
        rv = np.array([np.nan if r.value is None else r.value for r in results])
        rf = np.array([r.flag for r in results])
        sealevel.update(VARIABLE, rt, rv, rf)
        c2 = time.process_time()
        ecology.update([Sample(r.time_us, {VARIABLE: r.value if r.flag == GOOD else None}) for r in results])
        c3 = time.process_time()
        state_bytes += _encoded(sealevel.export()) + _encoded(ecology.export())
        c4 = time.process_time()
        for name, seconds in zip(spent, (c1 - c0, c2 - c1, c3 - c2, c4 - c3), strict=True):
            spent[name] += seconds
    c0 = time.process_time()
    compute_indicators(SeaLevelConfig.from_station(station), times, levels, [model])
    batch_s = time.process_time() - c0
    total = sum(spent.values())
    return {
        "readings": float(times.size),
        **{f"{name} s": s for name, s in spent.items()},
        "stream readings/s": times.size / total,
        "batch sea level s": batch_s,
        "state bytes/reading": state_bytes / times.size,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--batch", type=int, nargs="+", default=[1_000, 10_000])
    args = parser.parse_args()
    print(
        "| readings per batch | readings | QC s | sea level s | ecology s | state pieces s | readings/s |",
        end="",
    )
    print(" state B / reading | batch sea level s (baseline) | stream sea level × batch |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for batch in args.batch:
        r = replay(args.days, batch)
        print(
            f"| {batch:,} | {r['readings']:,.0f} | {r['qc s']:.1f} | {r['sea level s']:.1f} | "
            f"{r['ecology s']:.1f} | {r['state pieces s']:.1f} | {r['stream readings/s']:,.0f} | "
            f"{r['state bytes/reading']:.1f} | {r['batch sea level s']:.1f} | "
            f"{r['sea level s'] / r['batch sea level s']:.2f} |"
        )


if __name__ == "__main__":
    main()
