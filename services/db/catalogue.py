"""Mirror the station registry and the variable vocabulary into the database.

Scientists query units and station metadata next to the data; the YAML stays the source of truth
and every worker start re-syncs it.
"""

from __future__ import annotations

import json

import asyncpg

from schemas.datums import levellings_document
from schemas.registry import Registry


async def sync_catalogue(conn: asyncpg.Connection, registry: Registry) -> None:
    async with conn.transaction():
        await conn.executemany(
            """
            INSERT INTO variables (id, description, unit, cf_name, physical_min, physical_max, resolution)
            VALUES ($1, $2, $3, $4, $5, $6, $7)
            ON CONFLICT (id) DO UPDATE SET description = EXCLUDED.description, unit = EXCLUDED.unit,
                cf_name = EXCLUDED.cf_name, physical_min = EXCLUDED.physical_min,
                physical_max = EXCLUDED.physical_max, resolution = EXCLUDED.resolution
            """,
            [
                (v.id, v.description, v.unit, v.cf, v.physical_min, v.physical_max, v.resolution)
                for v in registry.variables.values()
            ],
        )
        await conn.executemany(
            """
            INSERT INTO stations (id, name, name_zh, kind, network, area, latitude, longitude, datum_name,
                                  msl_above_datum_m, sampling_interval_s, variables, thresholds, updated_at,
                                  datum_levellings)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13::jsonb, now(), $14::jsonb)
            ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, name_zh = EXCLUDED.name_zh,
                kind = EXCLUDED.kind, network = EXCLUDED.network, area = EXCLUDED.area,
                latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude,
                datum_name = EXCLUDED.datum_name, msl_above_datum_m = EXCLUDED.msl_above_datum_m,
                sampling_interval_s = EXCLUDED.sampling_interval_s, variables = EXCLUDED.variables,
                thresholds = EXCLUDED.thresholds, updated_at = now(),
                datum_levellings = EXCLUDED.datum_levellings
            """,
            [
                (
                    s.id,
                    s.name,
                    s.name_zh,
                    s.kind,
                    s.network,
                    s.area,
                    s.latitude,
                    s.longitude,
                    s.datum.name,
                    s.datum.msl_above_datum_m,
                    s.sampling_interval_s,
                    sorted(s.variables),
                    json.dumps(dict(s.thresholds)),
                    json.dumps(levellings_document(s.datum.history)),
                )
                for s in registry.stations.values()
            ],
        )
