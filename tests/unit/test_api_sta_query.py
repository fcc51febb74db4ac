"""SensorThings query options and their SQL, tested directly: the parser, the Python evaluation over
entity documents, and the Observations filter as SQL with bound values."""

from __future__ import annotations

import datetime as dt

import pytest

from services.api.cf import iso_duration
from services.api.errors import ApiError
from services.api.sta_observations import Scope, count_sql, observations_sql
from services.api.sta_query import (
    Compare,
    Literal,
    Logical,
    Path,
    TimeLiteral,
    evaluate,
    parse_expand,
    parse_filter,
    parse_options,
    parse_orderby,
)

DOC = {"name": "Dalian", "properties": {"kind": "tide_gauge", "depth": 3.0}, "@iot.id": "dalian"}


def _resolve(segments: tuple[str, ...]) -> object:
    value: object = DOC
    for segment in segments:
        value = value.get(segment) if isinstance(value, dict) else None
    return value


def test_filter_precedence_and_literals() -> None:
    tree = parse_filter("name eq 'it''s' or not properties/depth gt 2 and result lt -1.5e0")
    assert tree == Logical(
        "or",
        (
            Compare("eq", Path(("name",)), Literal("it's")),
            Logical(
                "and",
                (
                    Logical("not", (Compare("gt", Path(("properties", "depth")), Literal(2.0)),)),
                    Compare("lt", Path(("result",)), Literal(-1.5)),
                ),
            ),
        ),
    )
    when = parse_filter("phenomenonTime ge 2024-03-01T06:00:00+02:00")
    expected_us = int(dt.datetime(2024, 3, 1, 4, tzinfo=dt.UTC).timestamp()) * 1_000_000
    assert when == Compare("ge", Path(("phenomenonTime",)), TimeLiteral(expected_us))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("properties/kind eq 'tide_gauge'", True),
        ("properties/kind ne 'tide_gauge'", False),
        ("properties/depth ge 3 and name eq 'Dalian'", True),
        ("(name eq 'x' or name eq 'Dalian') and not (properties/depth lt 1)", True),
        ("startswith(name, 'Dal') and endswith(@iot.id, 'lian')", True),
        ("substringof('ali', name) and contains(name, 'ali')", True),
        ("tolower(name) eq 'dalian' and length(name) eq 6", True),
        ("properties/missing eq null", True),
        ("properties/missing gt 1", False),
        ("toupper(name) eq 'dalian'", False),
    ],
)
def test_evaluate_over_a_document(text: str, expected: bool) -> None:
    assert evaluate(parse_filter(text), _resolve) is expected


@pytest.mark.parametrize(
    "text",
    ["name eq", "name eq 'open", "frobnicate(name)", "startswith(name)", "name eq 'a')", "name ~ 'a'"],
)
def test_unreadable_filters_are_refused(text: str) -> None:
    with pytest.raises(ApiError) as refused:
        parse_filter(text)
    assert refused.value.status == 400 and "$filter" in refused.value.message


def test_orderby_expand_and_options() -> None:
    assert [(o.path, o.descending) for o in parse_orderby("phenomenonTime desc, result")] == [
        (("phenomenonTime",), True),
        (("result",), False),
    ]
    (things,) = parse_expand("Thing/Locations($top=1)")
    assert things.name == "Thing" and things.options.expand[0].name == "Locations"
    assert things.options.expand[0].options.top == 1
    expand = parse_expand("Datastreams($filter=name eq 'a;b';$expand=Observations($top=2;$skip=1)),Sensor")
    assert [e.name for e in expand] == ["Datastreams", "Sensor"]
    inner = expand[0].options
    assert inner.filter == Compare("eq", Path(("name",)), Literal("a;b"))
    assert (inner.expand[0].options.top, inner.expand[0].options.skip) == (2, 1)
    options = parse_options({"$top": "5", "$skip": "10", "$count": "true", "$select": "name, description"})
    assert (options.top, options.skip, options.count, options.select) == (
        5,
        10,
        True,
        ("name", "description"),
    )
    for named, word in (
        ({"$top": "-1"}, "$top"),
        ({"$top": "10001"}, "$top"),
        ({"$count": "yes"}, "$count"),
        ({"$orderby": "name sideways"}, "$orderby"),
        ({"$expand": "Datastreams($colour=red)"}, "$colour"),
        ({"$expand": "Datastreams($top=1"}, "unbalanced"),
    ):
        with pytest.raises(ApiError) as refused:
            parse_options(named)
        assert word in refused.value.message


def test_observation_filters_bind_every_value() -> None:
    options = parse_options(
        {
            "$filter": "phenomenonTime ge 2024-03-01T00:00:00Z and (result gt 2 or result eq null) "
            "and not resultQuality/qc_flag eq 4",
            "$orderby": "result desc",
            "$top": "10",
            "$skip": "20",
        }
    )
    sql, args = observations_sql(Scope("dalian", "water_level_m"), options)
    assert "station_id = $1::text AND variable = $2::text" in sql
    assert (
        "((time >= $3::timestamptz AND (value > $4::float8 OR value IS NULL)) "
        "AND NOT (qc_flag = $5::integer))" in sql
    )
    assert sql.endswith(
        "ORDER BY value DESC, time ASC, station_id ASC, variable ASC\nLIMIT $6::bigint OFFSET $7::bigint"
    )
    start_us = int(dt.datetime(2024, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
    assert args == ["dalian", "water_level_m", start_us, 2.0, 4, 11, 20]
    count, count_args = count_sql(Scope(), parse_options({"$filter": "2.5 lt result"}))
    assert count == "SELECT count(*) FROM observations WHERE value > $1::float8" and count_args == [2.5]
    for text, word in (
        ("name eq 'x'", "not on 'name'"),
        ("phenomenonTime gt 5", "ISO 8601"),
        ("result gt 'high'", "number"),
        ("resultQuality/qc_flag eq 1.5", "whole"),
        ("startswith(result, '1')", "no functions"),
        ("result gt null", "null"),
        ("result eq result", "one literal"),
    ):
        with pytest.raises(ApiError) as refused:
            observations_sql(Scope(), parse_options({"$filter": text}))
        assert word in refused.value.message, (text, refused.value.message)


@pytest.mark.parametrize(
    ("span_s", "text"), [(0, "P0D"), (90, "PT1M30S"), (86_400, "P1D"), (86_400 + 6 * 3600, "P1DT6H")]
)
def test_iso_duration(span_s: int, text: str) -> None:
    assert iso_duration(span_s * 1_000_000) == text
