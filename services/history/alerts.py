"""``reprocess --what alerts``: a station's alerts of [from, to) judged again by the current rules over
its stored inputs, kept beside the live ones as history.

The inputs are what the stream hands the alert engine: every stored reading with its QC result and the
stored values of the indicators rules read (``alerts.inputs.INDICATORS``), from ``warmup_us`` before the
range so that an alert open at its start and the rules' durations have their history. ``alerts.replay``
judges them in data-time order; the outcome per alert (old events, new events, unchanged / changed / new /
gone) goes to ``reprocessed_alerts`` under the run, replacing the station's rows of an earlier attempt of
the same run. Nothing is notified and the live ``alerts``/``alert_events`` are not touched.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import orjson

from alerts.engine import AlertEngine
from alerts.inputs import INDICATORS, Observation, indicator_observations, reading_observation
from alerts.replay import CHANGED, GONE, NEW, UNCHANGED, AlertOutcome, compare, judge_history
from alerts.setup import AlertSetup
from schemas.indicators import Indicator
from schemas.quality import QcResult
from schemas.registry import Registry
from services.config import Settings
from services.db.alerts import station_events
from services.db.timestamps import ts, us
from services.history import store

WARMUP_US = 3 * 86_400 * 1_000_000  # longer than any rule's duration, window or silence timer
OUTCOMES = (UNCHANGED, CHANGED, NEW, GONE)


@dataclass(frozen=True, slots=True)
class EngineFactory:
    """Blank engines with the rules, channels, routing and lateness settings the worker uses; ``digest``
    names the rules and routing they judge with (part of a reprocess run's configuration digest)."""

    setup: AlertSetup
    late_after_s: float
    tick_grace_s: float

    def __call__(self) -> AlertEngine:
        return self.setup.engine(self.late_after_s, self.tick_grace_s)

    @property
    def digest(self) -> str:
        return self.setup.digest


def engine_factory(registry: Registry, settings: Settings) -> EngineFactory:
    setup = AlertSetup.load(registry, settings.channels_path, settings.routing_path)
    return EngineFactory(setup, settings.alert_late_after_s, settings.alert_tick_grace_s)


async def _inputs(conn: asyncpg.Connection, station: str, lo: int, hi: int) -> list[Observation]:
    readings = await store.fetch_stored(conn, station, lo, hi - 1)
    assert readings.flag is not None and readings.code is not None
    observations = [
        reading_observation(QcResult(station, v, int(t), None if x != x else float(x), int(f), int(c), False))
        for v, t, x, f, c in zip(
            readings.variable.tolist(),
            readings.time_us.tolist(),
            readings.value.tolist(),
            readings.flag.tolist(),
            readings.code.tolist(),
            strict=True,
        )
    ]
    rows = await conn.fetch(
        f"SELECT indicator, {us('time')} AS t, value, unit FROM indicators WHERE station_id = $1 "
        f"AND indicator = ANY($2::text[]) AND time >= {ts('$3::bigint')} AND time < {ts('$4::bigint')}",
        station,
        sorted(INDICATORS),
        lo,
        hi,
    )
    observations += indicator_observations(Indicator(station, r[0], r[1], r[2], r[3]) for r in rows)
    return observations


def _row(run_id: int, o: AlertOutcome) -> tuple[Any, ...]:
    return (
        run_id, o.alert_id, o.old_alert_id, o.station, o.rule, o.outcome, o.old_peak, o.new_peak,
        orjson.dumps(o.old).decode(), orjson.dumps(o.new).decode(),
    )  # fmt: skip


async def reprocess_alerts(
    conn: asyncpg.Connection,
    new_engine: Callable[[], AlertEngine],
    run_id: int,
    station: str,
    from_us: int,
    to_us: int,
    warmup_us: int = WARMUP_US,
) -> dict[str, int]:
    """Judge one station's range again and store the outcome per alert; returns counts per outcome."""
    inputs = await _inputs(conn, station, from_us - warmup_us, to_us)
    outcomes = compare(
        await station_events(conn, station, from_us - warmup_us, to_us),
        judge_history(new_engine(), station, inputs, until_us=to_us),
        from_us,
        to_us,
    )
    await conn.execute(
        "DELETE FROM reprocessed_alerts WHERE run_id = $1 AND station_id = $2", run_id, station
    )
    await conn.executemany(
        "INSERT INTO reprocessed_alerts (run_id, alert_id, old_alert_id, station_id, rule, outcome, "
        "old_peak, new_peak, old_events, new_events) "
        "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10::jsonb)",
        [_row(run_id, o) for o in outcomes],
    )
    counts = {f"alerts_{k}": 0 for k in OUTCOMES}
    for o in outcomes:
        counts[f"alerts_{o.outcome}"] += 1
    counts["alert_inputs"] = len(inputs)
    return counts
