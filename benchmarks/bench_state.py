"""State written per batch at steady size: the whole state (as every batch wrote it before) vs the pieces
the batch changed (what the agents write now), in the same run.

Run: ``.venv/bin/python -m benchmarks.bench_state [--days 400]``. Prints a markdown table; nothing is
asserted. Each state is first brought to its steady size (a buoy's and a wetland station's ecology
state with a year of closed days behind them; a 1-minute tide gauge's 48-h sea-level window with a
model), then fed its next readings one message at a time, as the stream delivers them. Per message:
encoded bytes written and CPU µs to build and encode them, the whole state beside the changed pieces.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import orjson

from benchmarks.bench_ecology import buoy, wetland
from benchmarks.bench_sealevel import series
from streams.indicators.ecology import Climatology, EcologyParams, EcologyState
from streams.indicators.sealevel.compute import SeaLevelConfig
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import fit_tide


def _bytes(pieces: dict) -> int:
    return sum(len(orjson.dumps(v, option=orjson.OPT_NON_STR_KEYS)) for v in pieces.values() if v is not None)


def measure(update: Callable[[int], int], export: Callable[[bool], dict], steps: int) -> tuple[float, ...]:
    """(readings, whole bytes, whole µs, pieces bytes, pieces µs) per message, averaged over `steps`."""
    readings = whole_b = piece_b = 0
    whole_s = piece_s = 0.0
    for step in range(steps):
        readings += update(step)
        t0 = time.process_time()
        piece_b += _bytes(export(False))  # first: a whole export also clears what changed
        t1 = time.process_time()
        whole_b += _bytes(export(True))
        whole_s += time.process_time() - t1
        piece_s += t1 - t0
    return readings / steps, whole_b / steps, 1e6 * whole_s / steps, piece_b / steps, 1e6 * piece_s / steps


def ecology_case(samples: list, params: EcologyParams, steps: int) -> tuple[float, ...]:
    clim = Climatology(np.full(366, 14.0), np.full(366, 16.5), "flat benchmark climatology")
    state = EcologyState("bench", params, clim)
    warm = len(samples) - steps
    for k in range(0, warm, 144):
        state.update(samples[k : min(k + 144, warm)])
    state.export()

    def update(step: int) -> int:
        sample = samples[warm + step]
        state.update([sample])
        return len(sample.values)

    return measure(update, lambda full: state.export(full), steps)


def sealevel_case(steps: int) -> tuple[float, ...]:
    times, levels = series(35)
    model = fit_tide(times[: 30 * 1440], levels[: 30 * 1440], 38.9)
    state = SeaLevelState(SeaLevelConfig("bench", 60.0), [model])
    warm = times.size - steps
    for k in range(30 * 1440, warm, 60):
        end = min(k + 60, warm)
        state.update("water_level_m", times[k:end], levels[k:end])
    state.export()

    def update(step: int) -> int:
        i = warm + step
        state.update("water_level_m", times[i : i + 1], levels[i : i + 1])
        return 1

    return measure(update, lambda full: state.export(full), steps)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--days", type=int, default=400, help="history behind the ecology states")
    parser.add_argument("--steps", type=int, default=300, help="messages measured at steady size")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    cases = {
        "buoy, ecology (10-min, 5 variables)": ecology_case(
            buoy(args.days, rng), EcologyParams(sampling_interval_s=600), args.steps
        ),
        "wetland, ecology (30-min, 4 variables)": ecology_case(
            wetland(args.days, rng), EcologyParams(sampling_interval_s=1800, marsh_platform_m=1.4), args.steps
        ),
        "tide gauge, sea level (1-min, 48 h window)": sealevel_case(args.steps),
    }
    print("| state | readings / message | whole state B / message | changed pieces B / message | × |", end="")
    print(" whole µs | pieces µs | × |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name, (n, whole_b, whole_us, piece_b, piece_us) in cases.items():
        print(
            f"| {name} | {n:.0f} | {whole_b:,.0f} | {piece_b:,.0f} | {piece_b / whole_b:.3f} | "
            f"{whole_us:,.0f} | {piece_us:,.0f} | {piece_us / whole_us:.3f} |"
        )


if __name__ == "__main__":
    main()
