"""History in the API (read only): the configuration versions stored rows name; import, reprocess and
manual-QC runs with the configuration digest and code version they judged with, what a run changed (old
and new flags), operators' manual QC judgements and data-status reviews. Written by the worker and
``tidewatch import``/``reprocess``/``qc flag``/``qc verify`` and the console's QC routes
(services/history, services/console/manual_qc.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

import asyncpg
import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from schemas.provenance import KINDS
from services.api.data_status import STATUSES, Review, StatusLookup
from services.api.errors import ApiError
from services.api.params import split_list
from services.api.respond import json_response
from services.api.tables import time_strings
from services.db.provenance import LIST_SQL, list_args, version_record
from services.history import manual, store

router = APIRouter(prefix="/api/v1")

RUNS_SQL = """
SELECT run_id, kind, state, request::text AS request, counts::text AS counts, config_digest, code_version,
       checkpoint_us, started_at, finished_at
FROM history_runs WHERE ($1::text IS NULL OR kind = $1) ORDER BY run_id DESC LIMIT $2
"""
REVISIONS_SQL = """
SELECT station_id, variable, time, old_flag, new_flag, old_tests::text AS old_tests,
       new_tests::text AS new_tests
FROM qc_revisions WHERE run_id = $1 ORDER BY time, station_id, variable LIMIT $2
"""


def _json(text: str | None) -> Any:
    return None if text is None else orjson.loads(text)


@router.get("/history/runs", summary="Import, reprocess and manual-QC runs, newest first")
async def runs(
    request: Request,
    kind: Annotated[str | None, Query(description="import, reprocess or manual_qc")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 100,
) -> Response:
    rows = await request.app.state.db.fetch(RUNS_SQL, (kind, limit))
    started = time_strings([r["started_at"] for r in rows])
    finished = time_strings([r["finished_at"] for r in rows])
    checkpoints = time_strings([r["checkpoint_us"] for r in rows])
    data = [
        {
            "run_id": r["run_id"], "kind": r["kind"], "state": r["state"], "request": _json(r["request"]),
            "counts": _json(r["counts"]), "config_digest": r["config_digest"],
            "code_version": r["code_version"], "checkpoint": c, "started": s, "finished": f,
        }
        for r, s, f, c in zip(rows, started, finished, checkpoints, strict=True)
    ]  # fmt: skip
    return json_response({"data": data})


@router.get(
    "/history/runs/{run_id}/revisions", summary="The stored readings a run changed: old and new flags"
)
async def revisions(
    request: Request,
    run_id: Annotated[int, Path(description="run id (GET /api/v1/history/runs)")],
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    exists = await request.app.state.db.fetch("SELECT 1 FROM history_runs WHERE run_id = $1", (run_id,))
    if not exists:
        raise ApiError(f"no run {run_id}", status=404)
    rows = await request.app.state.db.fetch(REVISIONS_SQL, (run_id, limit))
    times = time_strings([r["time"] for r in rows])
    data = [
        {
            "station_id": r["station_id"], "variable": r["variable"], "time": t, "old_flag": r["old_flag"],
            "new_flag": r["new_flag"], "old_tests": _json(r["old_tests"]), "new_tests": _json(r["new_tests"]),
        }
        for r, t in zip(rows, times, strict=True)
    ]  # fmt: skip
    return json_response({"run_id": run_id, "data": data})


@router.get(
    "/history/runs/{run_id}/alerts",
    summary="A reprocess run's alerts judged again by the current rules: outcome, old and new events",
)
async def reprocessed_alerts(
    request: Request,
    run_id: Annotated[int, Path(description="run id (GET /api/v1/history/runs)")],
    limit: Annotated[int, Query(ge=1, le=100_000)] = 10_000,
) -> Response:
    async with request.app.state.db.snapshot() as conn:
        if not await conn.fetchval("SELECT 1 FROM history_runs WHERE run_id = $1", run_id):
            raise ApiError(f"no run {run_id}", status=404)
        rows = await store.list_reprocessed_alerts(conn, run_id, limit)

    def steps(document: str) -> list[dict[str, Any]]:
        events = orjson.loads(document)
        times = time_strings([t for _, _, t in events])
        return [{"kind": k, "severity": s, "time": t} for (k, s, _), t in zip(events, times, strict=True)]

    data = [
        {
            "alert_id": r["alert_id"], "old_alert_id": r["old_alert_id"], "station_id": r["station_id"],
            "rule": r["rule"],
            "outcome": r["outcome"], "old_peak": r["old_peak"], "new_peak": r["new_peak"],
            "old_events": steps(r["old_events"]), "new_events": steps(r["new_events"]),
        }
        for r in rows
    ]  # fmt: skip
    return json_response({"run_id": run_id, "data": data})


@router.get(
    "/qc/manual-flags", summary="Operators' manual QC judgements of ranges (override automatic flags)"
)
async def manual_flags(
    request: Request, station: Annotated[str | None, Query(description="station id")] = None
) -> Response:
    async with request.app.state.db.snapshot() as conn:
        rows = await store.list_manual_flags(conn, station)
    return json_response({"data": manual.flag_documents(rows)})


@router.get("/qc/reviews", summary="Operators' data-status reviews of ranges (verified or preliminary)")
async def reviews(
    request: Request, station: Annotated[str | None, Query(description="station id")] = None
) -> Response:
    async with request.app.state.db.snapshot() as conn:
        rows = await store.list_reviews(conn, station)
    return json_response({"data": manual.review_documents(rows)})


REVIEWS_IN_SQL = """
SELECT review_id, station_id, variable, time_from, time_to, status, operator, created_at FROM data_reviews
WHERE ($1::text[] IS NULL OR station_id = ANY($1::text[]))
  AND ($2::text[] IS NULL OR variable IS NULL OR variable = ANY($2::text[]))
  AND time_to > $3::timestamptz AND time_from < $4::timestamptz
ORDER BY review_id
"""
META_REVIEWS = 1000


async def reviews_in(
    conn: Any, stations: Sequence[str] | None, variables: Sequence[str] | None, start_us: int, end_us: int
) -> list[asyncpg.Record]:
    """The reviews reaching into [start, end) of the stations and variables (None: all), oldest first;
    ``conn`` is the API's Database or one of its connections (times as µs)."""
    args = (None if stations is None else list(stations), None if variables is None else list(variables))
    if isinstance(conn, asyncpg.Connection):
        return await conn.fetch(REVIEWS_IN_SQL, *args, start_us, end_us)
    return await conn.fetch(REVIEWS_IN_SQL, (*args, start_us, end_us))


def status_lookup(rows: Sequence[asyncpg.Record]) -> StatusLookup:
    return StatusLookup(
        [Review(r["review_id"], r["station_id"], r["variable"], r["time_from"], r["time_to"], r["status"])
         for r in rows]
    )  # fmt: skip


def data_status_meta(rows: Sequence[asyncpg.Record]) -> dict[str, Any]:
    """``meta.data_status`` of an observations response: the reviews reaching into the range (the first
    1,000), which decide each reading's ``data_status`` and say which ranges a bucket covers."""
    columns = {name: time_strings([r[name] for r in rows]) for name in ("time_from", "time_to", "created_at")}
    reviews = [
        {
            "review_id": r["review_id"], "station_id": r["station_id"], "variable": r["variable"],
            "start": columns["time_from"][i], "end": columns["time_to"][i], "status": r["status"],
            "operator": r["operator"], "created": columns["created_at"][i],
        }
        for i, r in enumerate(rows[:META_REVIEWS])
    ]  # fmt: skip
    return {
        "values": list(STATUSES),
        "rule": "a reading is verified when the newest review covering it says verified, else preliminary",
        "reviews": reviews,
        "more_reviews": len(rows) > META_REVIEWS,
    }


@router.get("/config-versions", summary="Configuration versions that produced stored QC flags and indicators")
async def config_versions(
    request: Request,
    kind: Annotated[str | None, Query(description="qc or indicators")] = None,
    station: Annotated[list[str] | None, Query(description="station ids")] = None,
    limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
) -> Response:
    if kind is not None and kind not in KINDS:
        raise ApiError(f"kind: {kind!r} is not one of {', '.join(KINDS)}")
    stations = split_list(station) or None
    rows = await request.app.state.db.fetch(LIST_SQL, list_args(kind, stations, limit=limit))
    return json_response({"data": _versions(rows)})


@router.get("/config-versions/{version_id}", summary="One configuration version with its whole document")
async def config_version(
    request: Request,
    version_id: Annotated[int, Path(description="version id (a row's qc_version or version)")],
) -> Response:
    rows = await request.app.state.db.fetch(LIST_SQL, list_args(ids=[version_id], with_documents=True))
    if not rows:
        raise ApiError(f"no config version {version_id}", status=404)
    return json_response(_versions(rows)[0])


def _versions(rows: Sequence[Any]) -> list[dict[str, Any]]:
    records = [version_record(r) for r in rows]
    for record, first in zip(records, time_strings([r["first_used"] for r in records]), strict=True):
        record["first_used"] = first
    return records
