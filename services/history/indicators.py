"""``tidewatch reprocess --what indicators``: a station's indicators of a range computed again.

The stream's indicator states promise that the last value they emit per key equals the batch
computation over the whole QC-good series (``compute_indicators``, ``compute_batch``). So the
indicators of [from, to) are the batch over the stored QC-good readings of the range and of enough
context around it (``context``: the whole months around it for the sea level's monthly means, high
and low waters and cycles; 400 days before and 60 after for the ecological baselines, the year's
carbon and episodes or heatwaves running across its edges), kept where their time lies in the range.
Rows of the range that the batch no longer gives are deleted. Nothing outside [from, to) is written:
a monthly mean keyed before the range, a carbon sum of later days that the range feeds, stay as
they are (counted as ``indicators_outside``, "reprocess a wider range to refresh them").

Alerts are not judged again here: the alert engine keeps the events it raised from the values it saw.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

import asyncpg
import numpy as np
import orjson

from schemas.indicators import Indicator
from schemas.records import Sample
from schemas.registry import Station
from services.db.indicators import write_indicators
from services.db.provenance import register_versions
from services.db.timestamps import ts, us
from services.history import store
from services.history.judge import Columns
from streams.indicators.ecology import CATALOGUE as ECOLOGY
from streams.indicators.ecology import INPUT_VARIABLES, Climatology, compute_batch, params_for_station
from streams.indicators.provenance import indicator_version
from streams.indicators.sealevel import CATALOGUE as SEA_LEVEL
from streams.indicators.sealevel import SeaLevelConfig, TideModel, compute_indicators
from streams.indicators.sealevel import catalogue as sl
from streams.indicators.sealevel.compute import sealevel_station

DAY_US = 86_400_000_000
ECOLOGY_BEFORE_US = 400 * DAY_US
ECOLOGY_AFTER_US = 60 * DAY_US
# The worker does not compute the sea-level trend (the report does): its rows are not the stream's.
STREAM_SEA_LEVEL = frozenset(SEA_LEVEL) - {sl.TREND, sl.TREND_CI_LOW, sl.TREND_CI_HIGH, sl.TREND_RECORD}
UNITS = {spec.id: spec.unit for spec in (*SEA_LEVEL.values(), *ECOLOGY.values())}


@dataclass(frozen=True, slots=True)
class Recomputed:
    """What a station's range holds after the recomputation, and how it differs from what was stored."""

    upserts: list[Indicator]  # new or changed values
    removals: list[Indicator]  # stored rows the batch no longer gives (value None)
    outside: int  # values of the batch outside the range that differ from the stored ones


def _month_start(t_us: int, months: int = 0) -> int:
    month = np.datetime64(int(t_us), "us").astype("datetime64[M]") + months
    return int(month.astype("datetime64[us]").astype(np.int64))


def context(station: Station, from_us: int, to_us: int) -> tuple[int, int]:
    """[lo, hi) of the readings the batch needs for the indicators of [from, to)."""
    lo, hi = from_us, to_us
    if sealevel_station(station):
        lo, hi = min(lo, _month_start(from_us - 2 * DAY_US)), max(hi, _month_start(to_us + 2 * DAY_US, 1))
    return min(lo, from_us - ECOLOGY_BEFORE_US), max(hi, to_us + ECOLOGY_AFTER_US)


def batch_indicators(
    station: Station,
    stored: Columns,
    models: list[TideModel],
    climatology: Climatology | None,
) -> list[Indicator]:
    """Every indicator the stream computes for the station, over its QC-good stored readings. Pure."""
    assert stored.flag is not None
    good = (stored.flag == 1) & np.isfinite(stored.value)
    out: list[Indicator] = []
    if sealevel_station(station):
        # As the stream: a tide gauge's water levels and any station's wave heights.
        level = good & (stored.variable == "water_level_m") & (station.kind == "tide_gauge")
        wave = good & (stored.variable == "wave_height_m")
        out += compute_indicators(
            SeaLevelConfig.from_station(station),
            stored.time_us[level],
            stored.value[level],
            models,
            stored.time_us[wave],
            stored.value[wave],
        )
    by_time: dict[int, dict[str, float | None]] = defaultdict(dict)
    for variable, t, value in zip(
        stored.variable[good].tolist(),
        stored.time_us[good].tolist(),
        stored.value[good].tolist(),
        strict=True,
    ):
        if variable in INPUT_VARIABLES:
            by_time[t][variable] = value
    if by_time:
        samples = [Sample(t, values) for t, values in sorted(by_time.items())]
        values = compute_batch(station.id, samples, params_for_station(station), climatology)
        out += [
            Indicator(station.id, indicator, t, value, ECOLOGY[indicator].unit)
            for (indicator, t), value in values.items()
        ]
    return out


def compare(
    station: str,
    computed: list[Indicator],
    stored: Mapping[tuple[str, int], float],
    family: frozenset[str],
    from_us: int,
    to_us: int,
) -> Recomputed:
    """The writes that make the stored rows of [from, to) equal the batch. Pure."""
    inside = {(i.indicator, i.time_us): i for i in computed if from_us <= i.time_us < to_us}
    upserts = [i for key, i in sorted(inside.items()) if stored.get(key) != i.value]
    removals = [
        Indicator(station, name, t, None, UNITS[name])
        for (name, t) in sorted(stored)
        if name in family and from_us <= t < to_us and (name, t) not in inside
    ]
    outside = sum(
        1
        for i in computed
        if not from_us <= i.time_us < to_us
        and (i.indicator, i.time_us) in stored
        and stored[i.indicator, i.time_us] != i.value
    )
    return Recomputed(upserts, removals, outside)


async def _models(conn: asyncpg.Connection, station: str) -> list[TideModel]:
    rows = await conn.fetch(
        "SELECT model::text AS model FROM tide_models WHERE station_id = $1 ORDER BY effective_from", station
    )
    return [TideModel.from_dict(orjson.loads(r["model"])) for r in rows]


async def _stored_values(
    conn: asyncpg.Connection, station: str, family: frozenset[str], lo: int, hi: int
) -> dict[tuple[str, int], float]:
    rows = await conn.fetch(
        f"""
        SELECT indicator, {us("time")} AS t, value FROM indicators
        WHERE station_id = $1 AND indicator = ANY($2::text[])
          AND time >= {ts("$3::bigint")} AND time < {ts("$4::bigint")}
        """,
        station,
        sorted(family),
        lo,
        hi,
    )
    return {(r["indicator"], r["t"]): r["value"] for r in rows}


def family_of(station: Station) -> frozenset[str]:
    """The indicator ids the stream computes for a station."""
    return frozenset(ECOLOGY) | (STREAM_SEA_LEVEL if sealevel_station(station) else frozenset())


async def reprocess_indicators(
    conn: asyncpg.Connection,
    station: Station,
    from_us: int,
    to_us: int,
    climatology: Climatology | None,
) -> dict[str, int]:
    """Recompute and write one station's indicators of [from, to); returns the counts."""
    lo, hi = context(station, from_us, to_us)
    inputs = sorted(INPUT_VARIABLES | {"water_level_m", "wave_height_m"})
    stored = await store.fetch_stored(conn, station.id, lo, hi - 1, inputs)
    computed = batch_indicators(station, stored, await _models(conn, station.id), climatology)
    family = family_of(station)
    existing = await _stored_values(conn, station.id, family, lo, hi)
    result = compare(station.id, computed, existing, family, from_us, to_us)
    versions = await register_versions(conn, [indicator_version(station, climatology)])
    written = await write_indicators(conn, [*result.upserts, *result.removals], versions)
    # Values the recomputation left as they were are now that version's too.
    await conn.execute(
        f"""
        UPDATE indicators SET version = $5 WHERE station_id = $1 AND indicator = ANY($2::text[])
          AND time >= {ts("$3::bigint")} AND time < {ts("$4::bigint")} AND version IS DISTINCT FROM $5
        """,
        station.id,
        sorted(family),
        from_us,
        to_us,
        versions[station.id],
    )
    return {
        "indicators_written": len(result.upserts),
        "indicators_removed": len(result.removals),
        "indicators_changed_rows": written,
        "indicators_outside": result.outside,
    }
