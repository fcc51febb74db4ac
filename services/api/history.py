"""History in the API (read only): import, reprocess and manual-QC runs with the configuration digest
and code version they judged with, what a run changed (old and new flags), and operators' manual QC
judgements. Written by ``tidewatch import``/``reprocess``/``qc flag`` (services/history)."""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Path, Query, Request, Response

from services.api.errors import ApiError
from services.api.respond import json_response
from services.api.tables import time_strings

router = APIRouter(prefix="/api/v1")
FLAG_NAMES = {1: "good", 3: "suspect", 4: "bad"}

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
MANUAL_SQL = """
SELECT flag_id, station_id, variable, time_from, time_to, flag, reason, operator, created_at, run_id
FROM manual_flags WHERE ($1::text IS NULL OR station_id = $1) ORDER BY flag_id
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
    "/qc/manual-flags", summary="Operators' manual QC judgements of ranges (override automatic flags)"
)
async def manual_flags(
    request: Request, station: Annotated[str | None, Query(description="station id")] = None
) -> Response:
    rows = await request.app.state.db.fetch(MANUAL_SQL, (station,))
    columns = {name: time_strings([r[name] for r in rows]) for name in ("time_from", "time_to", "created_at")}
    data = [
        {
            "flag_id": r["flag_id"], "station_id": r["station_id"], "variable": r["variable"],
            "start": columns["time_from"][i], "end": columns["time_to"][i], "flag": r["flag"],
            "flag_name": FLAG_NAMES[r["flag"]], "reason": r["reason"], "operator": r["operator"],
            "created": columns["created_at"][i], "run_id": r["run_id"],
        }
        for i, r in enumerate(rows)
    ]  # fmt: skip
    return json_response({"data": data})
