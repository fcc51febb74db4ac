"""Database reads for the annual report: one query per table, returning the pure inputs of assemble.py."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

import asyncpg
import numpy as np

from alerts.loader import default_rule_paths
from schemas.datums import parse_levellings
from schemas.documents import read_yaml
from schemas.registry import default_registry_path
from services.db.timestamps import us
from services.report import summary
from services.report.assemble import MonthlyMsl, ReadingSpan, ReportInputs
from services.report.base import ReportError, StationInfo, date_us, year_bounds_us
from services.report.dead_letters import PAYLOAD_PREFIX_BYTES, count_by_reason
from services.report.ecology import CARBON_VARS, GAPFILL_VARS, report_indicator_ids
from services.report.episodes import outage_gap_us
from services.report.settings import ReportSettings, load_settings
from services.report.warnings import AlertEventRow, alert_rows
from streams.indicators.sealevel import catalogue as sl


def config_versions(
    registry_path: str | None, report_settings: ReportSettings | None = None
) -> dict[str, str]:
    """The package version, the registry file's hash and report.yaml's: same inputs, same stamp."""
    out = {"tidewatch": metadata.version("tidewatch")}
    path = Path(registry_path) if registry_path else default_registry_path()
    if path.is_file():
        out["registry_sha256"] = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    out["report_settings_sha256"] = (report_settings or load_settings()).sha256
    return out


def rule_titles() -> dict[str, tuple[str, str]]:
    """Each shipped alert rule's title (zh, en) by rule id, for the report's alert tables."""
    out = {}
    for path in default_rule_paths():

        def error(reason: str, path: object = path) -> ReportError:
            return ReportError(f"{path}: {reason}")

        document = read_yaml(path, error)
        for spec in document.get("rules", []) if isinstance(document, dict) else []:
            title = spec.get("title") if isinstance(spec, dict) else None
            if isinstance(title, dict) and isinstance(spec.get("id"), str):
                out[spec["id"]] = (str(title.get("zh", spec["id"])), str(title.get("en", spec["id"])))
    return out


def _json(value: object) -> object:
    return json.loads(value) if isinstance(value, str) else value


def _station(r: asyncpg.Record) -> StationInfo:
    levellings = parse_levellings(_json(r["datum_levellings"]), lambda why: ReportError(f"{r['id']}: {why}"))
    return StationInfo(r["id"], r["name"], r["name_zh"], r["kind"], r["area"], tuple(r["variables"]),
                       float(r["sampling_interval_s"]), dict(_json(r["thresholds"]) or {}),  # type: ignore[call-overload]
                       levellings)  # fmt: skip


async def load_inputs(
    conn: asyncpg.Connection,
    year: int,
    *,
    station: str | None = None,
    area: str | None = None,
    generated_at: str,
    versions: dict[str, str],
    baseline_years: tuple[int, int] | None = None,
    settings: ReportSettings | None = None,
    lang: str = "zh",
) -> ReportInputs:
    start_us, end_us = year_bounds_us(year)
    settings = settings or load_settings()
    baseline_years = baseline_years or settings.msl_baseline_years
    rows = await conn.fetch(
        """SELECT id, name, name_zh, kind, area, variables, sampling_interval_s, thresholds, datum_levellings
           FROM stations ORDER BY id"""
    )
    stations = [_station(r) for r in rows]
    if station is not None:
        stations = [s for s in stations if s.id == station]
        if not stations:
            raise ReportError(f"unknown station {station!r}")
    if area is not None:
        stations = [s for s in stations if s.area == area]
        if not stations:
            raise ReportError(f"unknown area {area!r}")
    ids = [s.id for s in stations]
    msl_rows = await conn.fetch(
        f"""SELECT m.station_id, {us("m.time")} AS t, m.value, c.value AS pct
            FROM indicators m LEFT JOIN indicators c
              ON c.station_id = m.station_id AND c.time = m.time AND c.indicator = $3
            WHERE m.indicator = $2 AND m.station_id = ANY($1) AND m.time < to_timestamp($4 / 1e6)
            ORDER BY m.station_id, m.time""",
        ids,
        sl.MSL_MONTHLY,
        sl.MSL_MONTHLY_COMPLETENESS,
        end_us,
    )
    msl: dict[str, MonthlyMsl] = {}
    for sid in ids:
        mine = [r for r in msl_rows if r["station_id"] == sid]
        if mine:
            msl[sid] = MonthlyMsl(
                np.array([r["t"] for r in mine], dtype=np.int64),
                np.array([np.nan if r["value"] is None else r["value"] for r in mine], dtype=float),
                np.array([0.0 if r["pct"] is None else r["pct"] for r in mine], dtype=float),
            )
    # every event of the alerts opened from a month before the year (a pending alert may fire later)
    event_rows = await conn.fetch(
        f"""SELECT e.alert_id, a.station_id, a.rule, e.seq, e.kind, e.state, e.severity,
                   {us("e.time")} AS t, {us("a.acknowledged_at")} AS ack
            FROM alerts a JOIN alert_events e ON e.alert_id = a.alert_id
            WHERE a.station_id = ANY($1) AND a.opened_at >= to_timestamp($2 / 1e6) - interval '31 days'
              AND a.opened_at < to_timestamp($3 / 1e6) ORDER BY e.alert_id, e.seq""",
        ids,
        start_us,
        end_us,
    )
    events = [AlertEventRow(r["alert_id"], r["station_id"], r["rule"], r["seq"], r["kind"], r["state"],
                            r["severity"], r["t"], r["ack"]) for r in event_rows]  # fmt: skip
    alerts = alert_rows(events, year)
    await summary.refresh(conn)  # the days whose observations changed since the last refresh
    qc = await summary.qc_counts(conn, ids, start_us, end_us)
    # the network's report counts every letter of the year (also those naming no station, or one not in
    # the registry); a station's or an area's only the letters naming its stations. A letter counts in
    # the year of the reading it carries (never after it was received), so only letters received from
    # the year's start on can count in it.
    letters = await conn.fetch(
        f"""SELECT reason, substring(payload FROM 1 FOR {PAYLOAD_PREFIX_BYTES}) AS head,
                  {us("received_at")} AS t FROM dead_letters
           WHERE ($3 OR station_id = ANY($1)) AND received_at >= to_timestamp($2 / 1e6)""",
        ids,
        start_us,
        station is None and area is None,
    )
    dead, dead_by_receipt = count_by_reason(
        [(r["reason"], r["head"], r["t"]) for r in letters], start_us, end_us
    )
    as_of = await summary.newest_us(conn, ids, start_us, end_us)
    series_rows = await conn.fetch(
        f"""SELECT station_id, indicator, {us("time")} AS t, value FROM indicators
            WHERE station_id = ANY($1) AND indicator = ANY($4) AND time >= to_timestamp($2 / 1e6)
              AND time < to_timestamp($3 / 1e6) ORDER BY station_id, indicator, time""",
        ids, date_us(year - 2, 12, 1), end_us, HAZARD_INDICATORS + report_indicator_ids(),
    )  # fmt: skip
    series = _arrays(series_rows, ("station_id", "indicator"))
    wave_rows = await summary.daily_max(conn, ids, "wave_height_m", 1, start_us, end_us)
    waves = {k[0]: v for k, v in _arrays(wave_rows, ("station_id",)).items()}
    series_ids = sorted({(r["station_id"], r["variable"]) for r in qc})
    readings = await _reading_spans(conn, series_ids, start_us, end_us, settings)
    flux_rows = await conn.fetch(
        f"""SELECT station_id, variable, {us("time")} AS t, value FROM observations
            WHERE station_id = ANY($1) AND variable = ANY($4) AND qc_flag = 1
              AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)
            ORDER BY station_id, variable, time""",
        [s.id for s in stations if s.measures(*CARBON_VARS)], start_us, end_us, list(GAPFILL_VARS),
    )  # fmt: skip
    scope = f"station {station}" if station else f"area {area}" if area else "network"
    return ReportInputs(
        year=year,
        scope=scope,
        stations=stations,
        msl=msl,
        alerts=alerts,
        qc_counts=[(r["station_id"], r["variable"], r["qc_flag"], r["n"]) for r in qc],
        dead_letters=dead,
        dead_letters_by_receipt=dead_by_receipt,
        as_of_us=as_of,
        generated_at=generated_at,
        config_versions=versions,
        baseline_years=baseline_years,
        series=series,
        wave_daily_max_m=waves,
        readings=readings,
        settings=settings,
        lang=lang,
        flux_half_hours=_arrays(flux_rows, ("station_id", "variable")),
        rule_titles=rule_titles(),
    )


async def _reading_spans(
    conn: asyncpg.Connection,
    series_ids: list[tuple[str, str]],
    start_us: int,
    end_us: int,
    settings: ReportSettings,
) -> dict[str, ReadingSpan]:
    """First and last stored reading (any variable, any flag) of the year per station, and the gaps
    between readings longer than the shortest outage rule (the station's own rule is applied later),
    from the daily summary; a rule shorter than the gaps it keeps scans the observations instead."""
    ids = sorted({sid for sid, _ in series_ids})
    min_gap_us = outage_gap_us(0.0, settings)
    if min_gap_us >= summary.GAP_FLOOR_S * 1e6:
        spans = await summary.spans(conn, ids, start_us, end_us, min_gap_us)
        return {sid: ReadingSpan(a, b, gaps) for sid, (a, b, gaps) in spans.items()}
    return await _scanned_spans(conn, series_ids, start_us, end_us, min_gap_us)


async def _scanned_spans(
    conn: asyncpg.Connection, series_ids: list[tuple[str, str]], start_us: int, end_us: int, min_gap_us: int
) -> dict[str, ReadingSpan]:
    """``_reading_spans`` from the observation rows (first and last of each series from the primary-key
    index, the gaps from a scan of the year's reading times)."""
    ids = sorted({sid for sid, _ in series_ids})
    bounds = await conn.fetch(
        f"""SELECT p.station_id, {us("min(f.time)")} AS a, {us("max(l.time)")} AS b
            FROM unnest($1::text[], $2::text[]) AS p(station_id, variable)
            CROSS JOIN LATERAL (SELECT time FROM observations o WHERE o.station_id = p.station_id
                AND o.variable = p.variable AND o.time >= to_timestamp($3 / 1e6)
                AND o.time < to_timestamp($4 / 1e6) ORDER BY o.time LIMIT 1) f
            CROSS JOIN LATERAL (SELECT time FROM observations o WHERE o.station_id = p.station_id
                AND o.variable = p.variable AND o.time >= to_timestamp($3 / 1e6)
                AND o.time < to_timestamp($4 / 1e6) ORDER BY o.time DESC LIMIT 1) l
            GROUP BY 1""",
        [sid for sid, _ in series_ids], [v for _, v in series_ids], start_us, end_us,
    )  # fmt: skip
    gaps = await conn.fetch(
        f"""WITH t AS (SELECT DISTINCT station_id, time FROM observations WHERE station_id = ANY($1)
                         AND time >= to_timestamp($2 / 1e6) AND time < to_timestamp($3 / 1e6)),
                 g AS (SELECT station_id, time, lag(time) OVER (PARTITION BY station_id ORDER BY time) AS prev
                         FROM t)
            SELECT station_id, {us("prev")} AS a, {us("time")} AS b FROM g
            WHERE time - prev > make_interval(secs => $4) ORDER BY station_id, time""",
        ids, start_us, end_us, min_gap_us / 1e6,
    )  # fmt: skip
    out = {r["station_id"]: ReadingSpan(r["a"], r["b"], []) for r in bounds}
    for r in gaps:
        out[r["station_id"]].gaps.append((r["a"], r["b"]))
    return out


HAZARD_INDICATORS = [sl.WATER_LEVEL_WARNING, sl.WAVE_WARNING, sl.SURGE_MAX_CYCLE]


def _arrays(rows: list[asyncpg.Record], key: tuple[str, ...]) -> dict[tuple, tuple[np.ndarray, np.ndarray]]:
    """Rows sorted by ``key`` then time, as (times µs, values) arrays per key (None -> NaN)."""
    out: dict[tuple, tuple[list[int], list[float]]] = {}
    for r in rows:
        times, values = out.setdefault(tuple(r[k] for k in key), ([], []))
        times.append(r["t"])
        values.append(np.nan if r["value"] is None else r["value"])
    return {k: (np.array(t, dtype=np.int64), np.array(v, dtype=float)) for k, (t, v) in out.items()}
