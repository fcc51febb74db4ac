"""Indicator rows, their catalogue and the tide models behind the sea-level indicators.

Indicators are upserted by (station, indicator, time): a late reading that corrects an earlier value
overwrites it, and a retraction (value None) deletes the row, in the same transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

import asyncpg
import orjson

from schemas.indicators import IndicatorSpec
from services.db.timestamps import ts, us


class IndicatorLike(Protocol):
    """What is stored of an indicator value (read-only: frozen records fit)."""

    @property
    def station(self) -> str: ...
    @property
    def indicator(self) -> str: ...
    @property
    def time_us(self) -> int: ...
    @property
    def value(self) -> float | None: ...
    @property
    def unit(self) -> str: ...


# $6: each station's indicator version (``config_versions``): stored with the value that version gave.
UPSERT = f"""
INSERT INTO indicators (time, station_id, indicator, value, unit, version)
SELECT {ts("u.t")}, u.s, u.i, u.v, u.unit, v.version_id
FROM unnest($1::bigint[], $2::text[], $3::text[], $4::float8[], $5::text[]) AS u(t, s, i, v, unit)
LEFT JOIN unnest($6::text[], $7::integer[]) AS v(station_id, version_id) ON v.station_id = u.s
ON CONFLICT (station_id, indicator, time) DO UPDATE
    SET value = EXCLUDED.value, unit = EXCLUDED.unit, version = EXCLUDED.version, computed_at = now()
    WHERE indicators.value IS DISTINCT FROM EXCLUDED.value
       OR (EXCLUDED.version IS NOT NULL AND indicators.version IS DISTINCT FROM EXCLUDED.version)
"""
DELETE = f"""
DELETE FROM indicators d
USING unnest($1::bigint[], $2::text[], $3::text[]) AS u(t, s, i)
WHERE d.station_id = u.s AND d.indicator = u.i AND d.time = {ts("u.t")}
"""


async def write_indicators(
    conn: asyncpg.Connection, items: Sequence[IndicatorLike], versions: Mapping[str, int] | None = None
) -> int:
    """Apply a batch in order (the last value of a key wins); returns how many rows changed.
    ``versions``: the indicator version id of each station's values (a station not given: NULL)."""
    given = versions or {}
    latest: dict[tuple[str, str, int], IndicatorLike] = {}
    for item in items:
        latest[item.station, item.indicator, item.time_us] = item
    keep = [i for i in latest.values() if i.value is not None]
    drop = [i for i in latest.values() if i.value is None]
    changed = 0
    async with conn.transaction():
        if keep:
            status = await conn.execute(
                UPSERT,
                [i.time_us for i in keep],
                [i.station for i in keep],
                [i.indicator for i in keep],
                [i.value for i in keep],
                [i.unit for i in keep],
                list(given),
                list(given.values()),
            )
            changed += int(status.rsplit(" ", 1)[1])
        if drop:
            status = await conn.execute(
                DELETE, [i.time_us for i in drop], [i.station for i in drop], [i.indicator for i in drop]
            )
            changed += int(status.rsplit(" ", 1)[1])
    return changed


async def sync_indicator_catalogue(conn: asyncpg.Connection, specs: Iterable[IndicatorSpec]) -> None:
    await conn.executemany(
        """
        INSERT INTO indicator_catalogue (id, unit, definition, inputs, parameters, method)
        VALUES ($1, $2, $3, $4, $5, $6)
        ON CONFLICT (id) DO UPDATE SET unit = EXCLUDED.unit, definition = EXCLUDED.definition,
            inputs = EXCLUDED.inputs, parameters = EXCLUDED.parameters, method = EXCLUDED.method
        """,
        [(s.id, s.unit, s.definition, s.inputs, s.parameters, s.method) for s in specs],
    )


async def store_tide_model(
    conn: asyncpg.Connection, station: str, model: dict[str, Any], constituents: Sequence[str]
) -> None:
    await conn.execute(
        f"""
        INSERT INTO tide_models (station_id, effective_from, record_start, record_end, n_readings,
                                 constituents, model)
        VALUES ($1, {ts("$2::bigint")}, {ts("$3::bigint")},
                {ts("$4::bigint")}, $5, $6, $7::jsonb)
        ON CONFLICT (station_id, effective_from) DO NOTHING
        """,
        station,
        model["effective_from_us"],
        model["record_start_us"],
        model["record_end_us"],
        model["n_readings"],
        list(constituents),
        orjson.dumps(model).decode(),
    )


async def latest_tide_model(conn: asyncpg.Connection, station: str) -> dict[str, Any] | None:
    """The stored tide model of a station that takes effect last (its JSON document), or None."""
    doc = await conn.fetchval(
        "SELECT model FROM tide_models WHERE station_id = $1 ORDER BY effective_from DESC LIMIT 1", station
    )
    return None if doc is None else dict(orjson.loads(doc))


async def good_levels(
    conn: asyncpg.Connection, station: str, start_us: int, end_us: int
) -> list[tuple[int, float]]:
    """QC-good water levels of a station in [start, end), as (µs, m), for a tide fit."""
    rows = await conn.fetch(
        f"""
        SELECT {us("time")} AS t, value FROM observations
        WHERE station_id = $1 AND variable = 'water_level_m' AND qc_flag = 1
          AND time >= {ts("$2::bigint")} AND time < {ts("$3::bigint")}
        ORDER BY time
        """,
        station,
        start_us,
        end_us,
    )
    return [(r["t"], r["value"]) for r in rows]


async def first_good_level_us(conn: asyncpg.Connection, station: str) -> int | None:
    return await conn.fetchval(
        f"SELECT {us('min(time)')} FROM observations "
        "WHERE station_id = $1 AND variable = 'water_level_m' AND qc_flag = 1",
        station,
    )
