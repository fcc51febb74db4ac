"""Sea-level indicator costs on one core: tide fit per bin size, prediction, stream update, batch.

Run: ``.venv/bin/python -m benchmarks.bench_sealevel``. Prints a markdown table; nothing is asserted.
The one-reading update is measured twice in the same run: with the incremental high/low-water search
and with the whole-window search it replaced (``_FullSearch``), and the refit per gauge (robust fit of a
candidate, scored against the current model on the held-back day) on a month and on a year.
The series is a synthetic 1-minute tide (M2, S2, N2, K1, O1 cosines, 2 cm noise); as the cosines carry
no nodal modulation, the fitted M2 reads 1/f = 1.036 m (f = 0.965 in March 2024), whatever the bins.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np
import orjson

from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.extrema import Extremum, find_extrema
from streams.indicators.sealevel.refit import refit, refit_window
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import US_PER_DAY, fit_tide

US_PER_MIN = 60_000_000
T0_US = int(np.datetime64("2024-03-01", "us").astype(np.int64))
PERIODS_H = {"M2": 12.4206012, "S2": 12.0, "N2": 12.65834751, "K1": 23.93447213, "O1": 25.81934171}
AMPLITUDES_M = {"M2": 1.0, "S2": 0.3, "N2": 0.2, "K1": 0.3, "O1": 0.25}


def series(days: int) -> tuple[np.ndarray, np.ndarray]:
    times = T0_US + np.arange(days * 1440, dtype=np.int64) * US_PER_MIN
    hours = (times - T0_US) / 3.6e9
    level = 1.8 + sum(a * np.cos(2 * np.pi * hours / PERIODS_H[n]) for n, a in AMPLITUDES_M.items())
    return times, level + 0.02 * np.random.default_rng(0).standard_normal(times.size)


def timed(work: Callable[[], object], repeat: int = 1) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        start = time.perf_counter()
        result = work()
        best = min(best, time.perf_counter() - start)
    return best, result


class _FullSearch(SeaLevelState):
    """The state as it was: every update reruns find_extrema over the whole 48-h window."""

    def _search(
        self, times: np.ndarray, levels: np.ndarray, changed: tuple[int, int] | None
    ) -> list[Extremum]:
        return super()._search(times, levels, None)


def one_reading_updates(
    cls: type[SeaLevelState], cfg: SeaLevelConfig, model: object, times: np.ndarray, levels: np.ndarray
) -> tuple[float, float]:
    """(µs per one-reading update, µs of it in the high/low-water search) with a full 48-h window."""
    state = cls(cfg, [model])  # type: ignore[list-item]
    state.update("water_level_m", times[: 3 * 1440], levels[: 3 * 1440])
    searched = 0.0
    original = state._search

    def search(*args: object) -> list[Extremum]:
        nonlocal searched
        start = time.perf_counter()
        out = original(*args)  # type: ignore[arg-type]
        searched += time.perf_counter() - start
        return out

    state._search = search  # type: ignore[method-assign]
    n = 600
    start = time.perf_counter()
    for i in range(3 * 1440, 3 * 1440 + n):
        state.update("water_level_m", times[i : i + 1], levels[i : i + 1])
    return (time.perf_counter() - start) / n * 1e6, searched / n * 1e6


def refit_seconds(days: int) -> tuple[float, str]:
    """One daily refit of a gauge with ``days`` of 1-min history and a current model from the day before."""
    times, levels = series(days)
    previous = times <= times[-1] - 2 * US_PER_DAY
    current = fit_tide(times[previous], levels[previous], 38.9, effective_from_us=int(times[-1]) - US_PER_DAY)
    window = refit_window(int(times[-1]), int(times[0]), current)
    assert window is not None
    seconds, outcome = timed(lambda: refit(times, levels, 38.9, window, current))
    return seconds, f"{outcome.reason}, {outcome.candidate.n_fit_points} fit points"  # type: ignore[union-attr]


def main() -> None:
    rows: list[tuple[str, str]] = []
    times, levels = series(40)
    month = times < T0_US + 30 * 1440 * US_PER_MIN
    for bin_s in (60, 360, 3600):
        seconds, model = timed(lambda b=bin_s: fit_tide(times[month], levels[month], 38.9, bin_s=b))
        m2 = model.amplitude_phase()["M2"][0]
        rows.append(
            (
                f"fit 30 d of 1-min data, {bin_s}-s bins ({model.n_fit_points} points)",
                f"{seconds:.2f} s, M2 {m2:.4f} m",
            )
        )
    model = fit_tide(times[month], levels[month], 38.9)
    day = times[~month][:1440]
    seconds, _ = timed(lambda: model.predict(day))
    rows.append(("predict 1 day (one utide call on the 6-min grid, cold)", f"{seconds * 1e3:.1f} ms"))
    seconds, _ = timed(lambda: model.predict(day), repeat=5)
    rows.append(("predict 1 day of 1-min readings (cached grid)", f"{seconds * 1e3:.2f} ms"))
    rows.append(("tide model JSON", f"{len(model.to_json()) / 1024:.1f} KiB"))

    cfg = SeaLevelConfig("bench", 60.0)
    later = times[~month]
    state = SeaLevelState(cfg, [model])
    state.update("water_level_m", later[: 3 * 1440], levels[~month][: 3 * 1440])  # fill the 48-h window
    batches = np.array_split(np.arange(3 * 1440, later.size), (later.size - 3 * 1440) // 10)
    start = time.perf_counter()
    for chunk in batches:
        state.update("water_level_m", later[chunk], levels[~month][chunk])
    per_update = (time.perf_counter() - start) / len(batches)
    rows.append(("stream update, 10 readings (48-h window full)", f"{per_update * 1e3:.2f} ms"))
    for label, cls in (("whole-window search (before)", _FullSearch), ("incremental search", SeaLevelState)):
        total, search = one_reading_updates(cls, cfg, model, later, levels[~month])
        rows.append((f"one-reading update, {label}", f"{total:.0f} µs (search {search:.0f} µs)"))
        if cls is _FullSearch:
            before_total, before_search = total, search
    rows.append(
        (
            "one-reading update, incremental / before",
            f"{total / before_total:.2f} of the update, {search / before_search:.3f} of the search",
        )
    )
    window_t, window_um = later[: 2 * 1440], np.rint(levels[~month][: 2 * 1440] * 1e6).astype(np.int64)
    seconds, _ = timed(lambda: find_extrema(window_t, window_um), repeat=5)
    last = int(window_t[-1])
    reach = cfg.extrema.reach_us
    range_s, _ = timed(lambda: find_extrema(window_t, window_um, None, last - reach, last + reach), repeat=5)
    rows.append(
        (
            "find_extrema over 48 h / over the reach of one reading",
            f"{seconds * 1e6:.0f} / {range_s * 1e6:.0f} µs",
        )
    )
    for days in (30, 366):
        seconds, what = refit_seconds(days)
        rows.append((f"refit per gauge, {days} d of 1-min history ({what})", f"{seconds:.2f} s"))
    pieces = orjson.loads(orjson.dumps(state.export(full=True)))
    size = len(orjson.dumps(pieces))
    rows.append(("stream state, all pieces (48 h of 1-min readings + 1 model)", f"{size / 1024:.0f} KiB"))
    seconds, _ = timed(lambda: SeaLevelState.from_pieces(cfg, pieces).export(full=True), repeat=3)
    rows.append(("state restore + export of every piece", f"{seconds * 1e3:.1f} ms"))
    seconds, records = timed(lambda: compute_indicators(cfg, later, levels[~month], [model]))
    rows.append((f"batch, 10 d of 1-min readings ({len(records)} records)", f"{seconds:.2f} s"))

    print("| measure | figure |\n|---|---|")
    for name, figure in rows:
        print(f"| {name} | {figure} |")


if __name__ == "__main__":
    main()
