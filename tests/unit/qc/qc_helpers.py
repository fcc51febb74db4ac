"""Shared helpers for the QC tests: small registries, feeding the engine, ioos_qc run directly."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pandas as pd
from ioos_qc import qartod

from schemas.quality import MISSING, NOT_EVALUATED, TEST_INDEX, TESTS
from schemas.registry import Registry, parse_registry
from streams.qc import QcConfig, QcEngine, QcResult, Readings, SeriesConfig

KOTZEBUE_CSV = (
    Path(__file__).resolve().parents[2] / "data" / "reference" / "ioos_qc" / "water_level_example.csv"
)
# The configuration the ioos_qc example runs the Kotzebue series with.
KOTZEBUE_QC = {
    "gross_range": {"fail_span": [-10, 10], "suspect_span": [-2, 3]},
    "flat_line": {"suspect_threshold": 10800, "fail_threshold": 21600, "tolerance": 0.001},
    "rate_of_change": {"threshold": 0.001},
    "spike": {"suspect_threshold": 0.8, "fail_threshold": 3},
}


def station(
    station_id: str,
    variables: Sequence[str],
    interval_s: float = 60,
    kind: str = "tide_gauge",
    latitude: float = 39.0,
    longitude: float = 121.5,
    thresholds: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "id": station_id,
        "name": station_id,
        "kind": kind,
        "latitude": latitude,
        "longitude": longitude,
        "datum": {"name": "test datum", "msl_above_datum_m": 0.0},
        "sampling_interval_s": interval_s,
        "variables": list(variables),
        "thresholds": thresholds or {},
    }


def registry_of(*stations: dict[str, Any]) -> Registry:
    return parse_registry({"network": "test", "stations": list(stations)})


def kotzebue() -> tuple[np.ndarray, np.ndarray]:
    """(times_us, water level m) of the ioos_qc example series."""
    frame = pd.read_csv(KOTZEBUE_CSV)
    return frame["timestamp"].to_numpy(np.int64) * 1_000_000, frame[
        "sea_surface_height_above_sea_level"
    ].to_numpy()


def rows(station_id: str, variable: str, times_us: np.ndarray, values: np.ndarray) -> Readings:
    return Readings([station_id] * len(times_us), [variable] * len(times_us), times_us, values)


class Worker:
    """A stream worker as the faust agent runs it: the engine, and a changelog table written after
    every batch with what the engine exported (None deletes an entry)."""

    def __init__(self, config: QcConfig) -> None:
        self.config = config
        self.engine = QcEngine(config)
        self.table: dict[str, Any] = {}

    def process(self, batch: Readings) -> list[QcResult]:
        results = self.engine.process(batch)
        for key, value in self.engine.export_state().items():
            if value is None:
                self.table.pop(key, None)
            else:
                self.table[key] = value
        return results

    def restart(self) -> None:
        """A new engine restored from the table as it would come back from Kafka (JSON bytes)."""
        self.engine = QcEngine(self.config)
        self.engine.import_state(orjson.loads(orjson.dumps(self.table)))


def feed(engine: QcEngine | Worker, batches: Iterable[Readings]) -> dict[tuple[str, str, int], QcResult]:
    """The last result per (station, variable, time) after feeding every batch."""
    last: dict[tuple[str, str, int], QcResult] = {}
    for batch in batches:
        for result in engine.process(batch):
            last[(result.station, result.variable, result.time_us)] = result
    return last


def columns_of(
    last: dict[tuple[str, str, int], QcResult], station_id: str, variable: str, times_us: np.ndarray
):
    """(aggregate flags, (n, tests) per-test flags) of one series from ``feed``'s results."""
    picked = [last[(station_id, variable, int(t))] for t in times_us]
    flags = np.array([r.flag for r in picked])
    tests = np.array([[r.test_flags().get(name, 0) for name in TESTS] for r in picked], dtype=np.uint8)
    return flags, tests


def reference(
    config: SeriesConfig, times_us: np.ndarray, values: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """ioos_qc.qartod over the whole sorted series, test by test; (aggregate, per-test columns)."""
    times = times_us.astype("datetime64[us]")
    out = np.zeros((len(values), len(TESTS)), dtype=np.uint8)

    def put(test: str, flags: Any) -> None:
        out[:, TEST_INDEX[test]] = np.asarray(flags)

    if config.gap:
        put("gap", qartod.time_gap_test(times, fail_span=config.gap.fail_span_s / 3600))
    if config.gross_range:
        put(
            "gross_range",
            qartod.gross_range_test(values, config.gross_range.fail_span, config.gross_range.suspect_span),
        )
    if config.climatology:
        members = qartod.ClimatologyConfig()
        for month, span in enumerate(config.climatology.monthly, start=1):
            if span:
                members.add(
                    tspan=(month, month), vspan=span, fspan=config.climatology.fail_span, period="month"
                )
        put("climatology", qartod.climatology_test(members, values, times, np.full(len(values), np.nan)))
        # The one deliberate difference: ioos_qc 3.0's climatology test says 1 for a missing value in a
        # month it has a span for (see test_ioos_qc_climatology_quirk); the engine says 9, as every
        # other ioos_qc test does.
        out[np.isnan(values), TEST_INDEX["climatology"]] = MISSING
    if config.spike:
        s = config.spike
        put("spike", qartod.spike_test(values, s.suspect_threshold, s.fail_threshold, s.method))
    if config.rate_of_change:
        r = config.rate_of_change
        put("rate_of_change", qartod.rate_of_change_test(values, times, r.threshold, r.fail_threshold))
    if config.flat_line:
        f = config.flat_line
        put(
            "flat_line",
            qartod.flat_line_test(values, times, f.suspect_threshold, f.fail_threshold, f.tolerance),
        )
    if config.attenuated_signal:
        a = config.attenuated_signal
        put(
            "attenuated_signal",
            qartod.attenuated_signal_test(
                values,
                times,
                a.suspect_threshold,
                a.fail_threshold,
                a.test_period,
                a.min_obs,
                check_type=a.check_type,
            ),
        )
    if out.any():
        flags = np.asarray(qartod.qartod_compare(list(out[:, out.any(axis=0)].T)), dtype=np.uint8)
    else:
        flags = np.full(len(values), NOT_EVALUATED, dtype=np.uint8)
    flags[np.isnan(values)] = MISSING
    return flags, out


def late_batches(n: int, rng: np.random.Generator, block: int = 16, parts: int = 4) -> list[np.ndarray]:
    """Indices 0..n-1 in shuffled batches: each block of readings is permuted and cut into parts, and
    now and then a part is held back and delivered after the next block (a buffered late batch)."""
    batches: list[np.ndarray] = []
    held: list[np.ndarray] = []
    for start in range(0, n, block):
        order = rng.permutation(np.arange(start, min(start + block, n)))
        parts_now = [p for p in np.array_split(order, parts) if len(p)]
        batches.extend(parts_now[:-1])
        batches.extend(held)
        held = []
        if rng.random() < 0.3:
            held.append(parts_now[-1])
        else:
            batches.append(parts_now[-1])
    batches.extend(held)
    return batches


def max_lateness_us(times_us: np.ndarray, batches: list[np.ndarray]) -> int:
    """How far behind the newest earlier-delivered reading the latest delivered reading was."""
    newest, worst = None, 0
    for batch in batches:
        if newest is not None:
            worst = max(worst, int(newest - times_us[batch].min()))
        top = int(times_us[batch].max())
        newest = top if newest is None else max(newest, top)
    return worst
