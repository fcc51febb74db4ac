"""Configuration versions in the database: numbered once each, listed for the API and the CLI."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg
import orjson

from schemas.provenance import ConfigVersion

REGISTER = """
WITH given AS (
    SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
        AS g(kind, station_id, digest, code_version, document)
), added AS (
    INSERT INTO config_versions (kind, station_id, digest, code_version, document)
    SELECT kind, station_id, digest, code_version, document::jsonb FROM given
    ON CONFLICT (kind, station_id, digest) DO NOTHING
    RETURNING kind, station_id, version_id
)
SELECT kind, station_id, version_id FROM added
UNION ALL
SELECT v.kind, v.station_id, v.version_id
FROM config_versions v JOIN given g USING (kind, station_id, digest)
"""


async def register_versions(conn: asyncpg.Connection, versions: Sequence[ConfigVersion]) -> dict[str, int]:
    """Number the versions not yet stored; returns station → version id (one kind per call)."""
    if not versions:
        return {}
    kinds = {v.kind for v in versions}
    if len(kinds) != 1:
        raise ValueError(f"one kind of version per call, got {sorted(kinds)}")
    args = (
        [v.kind for v in versions],
        [v.station for v in versions],
        [v.digest for v in versions],
        [v.code_version for v in versions],
        [orjson.dumps(v.document, option=orjson.OPT_SORT_KEYS).decode() for v in versions],
    )
    ids: dict[str, int] = {}
    # A version another worker inserts meanwhile is skipped by the insert and not yet visible to the
    # statement's snapshot: the next statement sees it.
    for _ in range(3):
        ids = {r["station_id"]: r["version_id"] for r in await conn.fetch(REGISTER, *args)}
        if len(ids) == len({v.station for v in versions}):
            return ids
    missing = sorted({v.station for v in versions} - set(ids))
    raise RuntimeError(f"config versions not registered for {missing}")


LIST_SQL = """
SELECT version_id, kind, station_id, digest, code_version, first_used_at,
       CASE WHEN $4 THEN document::text END AS document
FROM config_versions
WHERE ($1::text IS NULL OR kind = $1) AND ($2::text[] IS NULL OR station_id = ANY($2))
  AND ($3::int[] IS NULL OR version_id = ANY($3))
ORDER BY version_id DESC
LIMIT $5
"""


def list_args(
    kind: str | None = None,
    stations: Sequence[str] | None = None,
    ids: Sequence[int] | None = None,
    with_documents: bool = False,
    limit: int = 1000,
) -> tuple[Any, ...]:
    """The parameters of ``LIST_SQL`` (newest first; ``None`` filters nothing)."""
    return (kind, None if stations is None else list(stations), None if ids is None else list(ids),
            with_documents, limit)  # fmt: skip


def version_record(row: Any) -> dict[str, Any]:
    """A ``LIST_SQL`` row as the API and the CLI show it (the document only when asked for)."""
    record = {
        "version_id": row["version_id"],
        "kind": row["kind"],
        "station_id": row["station_id"],
        "digest": row["digest"],
        "code_version": row["code_version"],
        "first_used": row["first_used_at"],
    }
    if row["document"] is not None:
        record["document"] = orjson.loads(row["document"])
    return record
