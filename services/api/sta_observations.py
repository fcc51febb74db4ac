"""SQL for SensorThings Observations: a ``$filter`` tree and ``$orderby`` over ``observations``.

Pure: no I/O. Only these properties reach SQL, each with the literal type it needs (anything else is a
400 naming it): ``phenomenonTime`` and ``resultTime`` (the reading's time; unquoted ISO 8601 times),
``result`` (a number, or null), ``resultQuality/qc_flag`` (the QARTOD flag number). Values are bind
parameters; identifiers come from the table below.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from services.api.errors import ApiError
from services.api.sql import Binds
from services.api.sta_query import Compare, Literal, Logical, Options, Path, TimeLiteral

COLUMNS = "time, station_id, variable, value, qc_flag, qc_tests"
# property path → (column, literal kind)
PROPERTIES = {
    "phenomenonTime": ("time", "time"),
    "resultTime": ("time", "time"),
    "result": ("value", "number"),
    "resultQuality/qc_flag": ("qc_flag", "flag"),
}
SQL_OPS = {"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}
MIRRORED = {"eq": "eq", "ne": "ne", "gt": "lt", "ge": "le", "lt": "gt", "le": "ge"}


@dataclass(frozen=True, slots=True)
class Scope:
    """Which readings a path selects: all, one Datastream's, one station's, or one reading."""

    station: str | None = None
    variable: str | None = None
    time_us: int | None = None


def _property(path: Path) -> tuple[str, str]:
    found = PROPERTIES.get(path.text)
    if not found:
        raise ApiError(f"$filter: Observations filter on {', '.join(PROPERTIES)}; not on {path.text!r}")
    return found


def _bind_literal(literal: Any, kind: str, binds: Binds, path: str) -> str:
    if kind == "time":
        if not isinstance(literal, TimeLiteral):
            raise ApiError(f"$filter: {path} compares with an ISO 8601 time such as 2024-03-01T00:00:00Z")
        return binds.bind(literal.us, "timestamptz")
    value = literal.value if isinstance(literal, Literal) else None
    if not isinstance(value, float) or isinstance(value, bool):
        raise ApiError(f"$filter: {path} compares with a number")
    if kind == "flag":
        if not value.is_integer():
            raise ApiError(f"$filter: {path} is a whole QC flag number (1, 2, 3, 4, 9)")
        return binds.bind(int(value), "integer")
    return binds.bind(value, "float8")


def _compare(tree: Compare, binds: Binds) -> str:
    left, right, op = tree.left, tree.right, tree.op
    if not isinstance(left, Path) and isinstance(right, Path):
        left, right, op = right, left, MIRRORED[op]
    if not isinstance(left, Path) or isinstance(right, Path):
        raise ApiError("$filter: on Observations compare one property with one literal")
    column, kind = _property(left)
    if isinstance(right, Literal) and right.value is None:
        if op not in ("eq", "ne"):
            raise ApiError("$filter: null compares with eq or ne only")
        return f"{column} IS {'' if op == 'eq' else 'NOT '}NULL"
    return f"{column} {SQL_OPS[op]} {_bind_literal(right, kind, binds, left.text)}"


def filter_sql(tree: Any, binds: Binds) -> str:
    if isinstance(tree, Logical):
        if tree.op == "not":
            return f"NOT ({filter_sql(tree.args[0], binds)})"
        joiner = " AND " if tree.op == "and" else " OR "
        return "(" + joiner.join(filter_sql(a, binds) for a in tree.args) + ")"
    if isinstance(tree, Compare):
        return _compare(tree, binds)
    raise ApiError("$filter: on Observations use comparisons joined by and, or, not (no functions)")


def _conditions(scope: Scope, options: Options, binds: Binds) -> str:
    conditions = []
    if scope.station is not None:
        conditions.append(f"station_id = {binds.bind(scope.station, 'text')}")
    if scope.variable is not None:
        conditions.append(f"variable = {binds.bind(scope.variable, 'text')}")
    if scope.time_us is not None:
        conditions.append(f"time = {binds.bind(scope.time_us, 'timestamptz')}")
    if options.filter is not None:
        conditions.append(filter_sql(options.filter, binds))
    return " AND ".join(conditions) or "true"


def _order(options: Options) -> str:
    terms = []
    for order in options.orderby:
        path = "/".join(order.path)
        found = PROPERTIES.get(path)
        if not found:
            raise ApiError(f"$orderby: Observations sort by {', '.join(PROPERTIES)}; not by {path!r}")
        terms.append(f"{found[0]} {'DESC' if order.descending else 'ASC'}")
    used = {t.split()[0] for t in terms}
    # Then a total order, so pages neither overlap nor skip.
    terms += [f"{c} ASC" for c in ("time", "station_id", "variable") if c not in used]
    return ", ".join(terms)


def observations_sql(scope: Scope, options: Options) -> tuple[str, list[Any]]:
    """One page: ``$top`` + 1 rows (the extra one says there is a next page) after ``$skip``."""
    binds = Binds()
    where = _conditions(scope, options, binds)
    limit = binds.bind(options.top + 1, "bigint")
    offset = binds.bind(options.skip, "bigint")
    sql = f"SELECT {COLUMNS}\nFROM observations\nWHERE {where}\nORDER BY {_order(options)}\n"
    return sql + f"LIMIT {limit} OFFSET {offset}", binds.args


def count_sql(scope: Scope, options: Options) -> tuple[str, list[Any]]:
    binds = Binds()
    return f"SELECT count(*) FROM observations WHERE {_conditions(scope, options, binds)}", binds.args
