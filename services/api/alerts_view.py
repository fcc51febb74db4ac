"""Alert listings: current alert state and alert transitions, each value with the unit of its input.

An alert's ``value`` is a reading or an indicator value of the rule's input; the unit comes from the
rule set (which input a rule reads) and the database's variable and indicator catalogues. A rule over
any variable (``station_silent``, the QC rules: input ``*``) stores the value of whichever reading moved
it, of a variable the event does not name: such a number has no unit and means nothing alone, so it is
listed as null (``meta.value``).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI

from services.api.db import Database
from services.api.params import CursorKey, format_time
from services.api.respond import Convert
from services.api.sql import INDICATOR_CATALOGUE_SQL, VARIABLES_SQL, AlertQuery, alert_events_sql, alerts_sql
from services.api.tables import Chunk, Column

log = logging.getLogger(__name__)

ALERT_STATES = ("pending", "firing", "resolved")
ALERT_COLUMNS = (
    Column("alert_id", "text"),
    Column("station_id", "text"),
    Column("rule", "text"),
    Column("state", "text"),
    Column("severity", "text"),
    Column("opened_at", "time"),
    Column("updated_at", "time"),
    Column("resolved_at", "time"),
    Column("value", "float"),
    Column("value_unit", "text"),
    Column("message_en", "text"),
    Column("message_zh", "text"),
    Column("acknowledged_by", "text"),
    Column("acknowledged_at", "time"),
    Column("ack_comment", "text"),
    Column("silenced_until", "time"),
)
EVENT_COLUMNS = (
    Column("time", "time"),
    Column("alert_id", "text"),
    Column("seq", "int"),
    Column("station_id", "text"),
    Column("rule", "text"),
    Column("kind", "text"),
    # The alert's state after the event (pending, firing, resolved): a `corrected` event may leave it
    # firing or put it back to pending, which its kind does not say; null for an event stored before
    # alert_events kept it (migration 0008).
    Column("state", "text"),
    Column("severity", "text"),
    Column("value", "float"),
    Column("value_unit", "text"),
    Column("message_en", "text"),
    Column("message_zh", "text"),
    Column("channels", "text_list"),
    Column("actor", "text"),
    Column("comment", "text"),
    Column("received", "time"),  # when the input behind the event reached the alert engine
    Column("late", "bool"),  # received later than the lateness allowance after `time`
)


def _rule_inputs(registry_path: str | None) -> dict[str, tuple[str, str]]:
    """rule id → (input kind, input name) from the shipped rule set; empty when it cannot load."""
    try:
        from alerts.loader import load_rules
        from schemas.registry import load_registry

        rules = load_rules(load_registry(registry_path))
    except Exception as exc:  # the listing still works, only without value units
        log.warning("alert rules not loaded, alert values will carry no unit: %s", exc)
        return {}
    return {rule.id: (rule.input_kind, rule.input_name) for rule in rules.values()}


async def rule_units(app: FastAPI, db: Database) -> dict[str, str | None]:
    if getattr(app.state, "rule_inputs", None) is None:
        app.state.rule_inputs = _rule_inputs(app.state.settings.registry_path)
    units = {
        "reading": {r["id"]: r["unit"] for r in await db.fetch(VARIABLES_SQL)},
        "indicator": {r["id"]: r["unit"] for r in await db.fetch(INDICATOR_CATALOGUE_SQL)},
    }
    return {
        rule: ANY_VARIABLE if name == "*" else units.get(kind, {}).get(name)
        for rule, (kind, name) in app.state.rule_inputs.items()
    }


ANY_VARIABLE = "*"  # rule_units' mark of a rule over any variable: its values are listed as null


def _with_unit(columns: Sequence[Column], value_unit: Mapping[str, str | None], rule_index: int) -> Convert:
    """Rows in SQL order (no value_unit) → chunk with value_unit after value, from the row's rule."""
    names = [c.name for c in columns]
    unit_at, value_at = names.index("value_unit"), names.index("value")

    def convert(rows: Sequence[Any]) -> Chunk:
        cols = [list(c) for c in zip(*rows, strict=True)] if rows else [[] for _ in range(len(columns) - 1)]
        units = [value_unit.get(rule) for rule in cols[rule_index]]
        cols[value_at] = [
            None if u == ANY_VARIABLE else v for v, u in zip(cols[value_at], units, strict=True)
        ]
        cols.insert(unit_at, [None if u == ANY_VARIABLE else u for u in units])
        return Chunk(columns, cols)

    return convert


def _meta(query: AlertQuery, order: str) -> dict[str, Any]:
    return {
        "stations": query.stations,
        "start": format_time(query.span.start_us),
        "end": format_time(query.span.end_us),
        "order": order,
        "times": "UTC ISO 8601",
        "value": "the rule input's value, in value_unit; null for rules over any variable (station_silent, "
        "QC rules), whose stored value is of an unnamed variable",
    }


def alert_plan(query: AlertQuery, value_unit: Mapping[str, str | None]) -> tuple:
    sql, args = alerts_sql(query)

    def key_of(row: Any) -> CursorKey:
        return (row["opened_at"], row["alert_id"])

    return sql, args, _with_unit(ALERT_COLUMNS, value_unit, 2), key_of, _meta(query, "opened_at, alert_id")


def event_plan(query: AlertQuery, value_unit: Mapping[str, str | None]) -> tuple:
    sql, args = alert_events_sql(query)

    def key_of(row: Any) -> CursorKey:
        return (row["time"], row["alert_id"], row["seq"])

    return sql, args, _with_unit(EVENT_COLUMNS, value_unit, 4), key_of, _meta(query, "time, alert_id, seq")
