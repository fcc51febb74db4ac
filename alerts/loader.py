"""Load and validate the rule files against the station registry, once, at start-up.

A bad rule stops the service with a message naming the file, the rule and the field, instead of an
alert that silently never fires. Per-station thresholds (``above: station:<key>``) are resolved here.
"""

from __future__ import annotations

import itertools
import os
import re
from collections.abc import Callable, Iterable, Mapping
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import msgspec

from alerts.inputs import INDICATORS, QC, QC_FLAGS, QC_TESTS, READING, RULE_INPUT_KINDS
from alerts.rules import (
    ANY_NAME,
    Band,
    Condition,
    LevelCondition,
    QcCondition,
    Rule,
    SilentCondition,
    ThresholdCondition,
)
from alerts.severity import SEVERITIES, rank
from alerts.templates import render, sample_fields
from schemas import durations
from schemas.documents import convert, read_yaml
from schemas.registry import STATION_KINDS, Registry, Station

T = TypeVar("T")

CONDITION_TYPES = ("above", "below", "levels", "qc", "silent")
_ID = re.compile(r"^[a-z][a-z0-9_]*$")
STATION_PREFIX = "station:"


class RuleError(ValueError):
    """A rule file is invalid; the message names the file, the rule and the field."""


class _StationSelection(msgspec.Struct, forbid_unknown_fields=True):
    ids: list[str] = []
    kinds: list[str] = []
    areas: list[str] = []


class _InputSpec(msgspec.Struct):
    kind: str
    name: str


class _RuleSpec(msgspec.Struct, forbid_unknown_fields=True, rename={"for_": "for"}):
    """A rule as written in its file; what a type cannot say is checked by the readers below."""

    id: str
    title: dict[str, Any]
    input: _InputSpec
    condition: dict[str, Any]
    message: dict[str, Any]
    stations: _StationSelection | None = None
    for_: str | float = 0
    keep_firing: str | float = 0
    renotify: str | float = 0
    skip_qc: list[int] | None = None


class _BandSpec(msgspec.Struct):
    enter: float
    exit: float | None = None


class _QcSpec(msgspec.Struct):
    severity: str
    flag_at_least: int = 4
    tests: list[str] = []
    consecutive: int = 1


class _SilentSpec(msgspec.Struct):
    intervals: float
    severity: str


class _Where:
    """Builds error messages that point at one field of one rule of one file."""

    def __init__(self, source: str, rule_id: str | None = None) -> None:
        self.source = source
        self.rule_id = rule_id

    def error(self, field: str, message: str) -> RuleError:
        rule = f" rule {self.rule_id!r}" if self.rule_id else ""
        return RuleError(f"{self.source}:{rule} field {field!r}: {message}")

    def convert(self, value: Any, into: type[T], field: str = "") -> T:
        """``value`` (the rule's ``field``) as an ``into``; a wrong shape names the field inside it."""

        return convert(value, into, lambda problem: self.error(problem.within(field), problem.complaint()))


def parse_duration_us(value: Any, where: _Where, field: str) -> int:
    """'90s', '30m', '6h', '2d' (schemas/durations.py) or a number of seconds → µs; never negative."""
    try:
        return durations.parse_duration_us(value, m_is_minutes=True)
    except durations.DurationError as exc:
        if exc.reason == durations.NEGATIVE:
            raise where.error(field, f"must not be negative, got {value!r}") from None
        if isinstance(value, bool):
            raise where.error(field, f"expected a duration like '30m', got {value!r}") from None
        raise where.error(field, f"expected a duration like '30m', '6h' or seconds, got {value!r}") from None


def _severity(value: Any, where: _Where, field: str) -> int:
    if value not in SEVERITIES:
        raise where.error(field, f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")
    return rank(value)


def select_stations(spec: _StationSelection | None, registry: Registry, where: _Where) -> list[Station]:
    """Stations named by id, or matching every given kind/area filter; all stations when omitted."""
    if spec is None:
        return list(registry.stations.values())
    ids, kinds, areas = spec.ids, spec.kinds, spec.areas
    for station_id in ids:
        if station_id not in registry.stations:
            raise where.error("stations.ids", f"no station {station_id!r} in the registry")
    for kind in kinds:
        if kind not in STATION_KINDS:
            raise where.error("stations.kinds", f"unknown station kind {kind!r}")
    known_areas = {s.area for s in registry.stations.values()}
    for area in areas:
        if area not in known_areas:
            raise where.error("stations.areas", f"no station in area {area!r}")
    selected = [
        s
        for s in registry.stations.values()
        if s.id in ids
        or ((kinds or areas) and (not kinds or s.kind in kinds) and (not areas or s.area in areas))
    ]
    if not selected and (ids or areas):
        raise where.error("stations", "selects no station")
    # Kinds alone may select nothing: a network without tide gauges simply has no surge rule at work.
    return selected


def _bands_from(spec: Any, hysteresis: float, direction: str, where: _Where, field: str) -> list[Band]:
    sign = -1.0 if direction == "above" else 1.0
    bands = []
    for severity, band in where.convert(spec, dict[Any, Any], field).items():
        band_field = f"{field}.{severity}"
        given = where.convert(band, cast("type[float | _BandSpec]", float | _BandSpec), band_field)
        if isinstance(given, _BandSpec):
            enter = given.enter
            exit_ = enter if given.exit is None else given.exit
        else:
            enter = given
            exit_ = enter + sign * hysteresis
        if (exit_ - enter) * sign < 0:
            side = "at or below" if direction == "above" else "at or above"
            raise where.error(
                band_field, f"hysteresis on the wrong side: exit {exit_} must be {side} enter {enter}"
            )
        bands.append(Band(_severity(severity, where, band_field), enter, exit_))
    bands.sort(key=lambda b: b.severity)
    if not bands:
        raise where.error(field, "needs at least one severity band")
    for low, high in itertools.pairwise(bands):
        if (high.enter - low.enter) * sign >= 0:
            order = "higher" if direction == "above" else "lower"
            raise where.error(
                field, f"a more severe band must enter at a {order} value than a less severe one"
            )
    return bands


def _threshold_conditions(
    spec: Mapping[str, Any], stations: list[Station], where: _Where
) -> dict[str, Condition]:
    direction = "above" if "above" in spec else "below"
    hysteresis = where.convert(spec.get("hysteresis", 0.0), float, "condition.hysteresis")
    if hysteresis < 0:
        raise where.error("condition.hysteresis", f"hysteresis on the wrong side: {hysteresis} < 0")
    source = spec[direction]
    field = f"condition.{direction}"
    if isinstance(source, str) and source.startswith(STATION_PREFIX):
        key = source.removeprefix(STATION_PREFIX)
        conditions: dict[str, Condition] = {}
        for station in stations:
            if key not in station.thresholds:
                raise where.error(field, f"station {station.id!r} has no threshold {key!r} in the registry")
            bands = _bands_from(
                station.thresholds[key], hysteresis, direction, where, f"{field} ({station.id})"
            )
            conditions[station.id] = ThresholdCondition(direction, tuple(bands))
        return conditions
    condition = ThresholdCondition(direction, tuple(_bands_from(source, hysteresis, direction, where, field)))
    return {station.id: condition for station in stations}


def _level_condition(spec: Any, input_name: str, where: _Where) -> LevelCondition:
    indicator = INDICATORS.get(input_name)
    if indicator is None or indicator.max_level is None:
        raise where.error("condition.levels", f"input {input_name!r} is not an ordinal indicator")
    severities: dict[int, int] = {}
    for level, severity in where.convert(spec, dict[Any, Any], "condition.levels").items():
        if isinstance(level, bool) or not isinstance(level, int) or not 1 <= level <= indicator.max_level:
            raise where.error("condition.levels", f"level {level!r} outside 1..{indicator.max_level}")
        severities[level] = _severity(severity, where, f"condition.levels.{level}")
    if not severities:
        raise where.error("condition.levels", "maps no level to a severity")
    ordered = [severities[level] for level in sorted(severities)]
    if ordered != sorted(ordered):
        raise where.error("condition.levels", "a higher level must not map to a lower severity")
    return LevelCondition(severities)


def _qc_condition(spec: Any, where: _Where) -> QcCondition:
    qc = where.convert(spec, _QcSpec, "condition.qc")
    if qc.flag_at_least not in QC_FLAGS or qc.flag_at_least in (1, 9):
        raise where.error("condition.qc.flag_at_least", f"must be 2, 3 or 4, got {qc.flag_at_least!r}")
    for test in qc.tests:
        if test not in QC_TESTS:
            raise where.error("condition.qc.tests", f"unknown QC test {test!r}")
    if qc.consecutive < 1:
        raise where.error("condition.qc.consecutive", f"must be a positive integer, got {qc.consecutive!r}")
    severity = _severity(qc.severity, where, "condition.qc.severity")
    return QcCondition(qc.flag_at_least, frozenset(qc.tests), qc.consecutive, severity)


def _silent_condition(spec: Any, where: _Where) -> SilentCondition:
    silent = where.convert(spec, _SilentSpec, "condition.silent")
    if silent.intervals <= 0:
        raise where.error("condition.silent.intervals", f"must be positive, got {silent.intervals}")
    return SilentCondition(silent.intervals, _severity(silent.severity, where, "condition.silent.severity"))


def _input(spec: _InputSpec, registry: Registry, where: _Where) -> tuple[str, str]:
    kind, input_name = spec.kind, spec.name
    if kind not in RULE_INPUT_KINDS:
        raise where.error(
            "input.kind", f"unknown input kind {kind!r}; use one of {', '.join(RULE_INPUT_KINDS)}"
        )
    known = INDICATORS if kind == "indicator" else registry.variables
    if input_name != ANY_NAME and input_name not in known:
        what = "indicator" if kind == "indicator" else "variable"
        raise where.error("input.name", f"unknown {what} {input_name!r}")
    return kind, input_name


def _bilingual(spec: Mapping[str, Any], where: _Where, field: str, check_template: bool) -> tuple[str, str]:
    texts = []
    for language in ("en", "zh"):
        text = spec.get(language)
        if not isinstance(text, str) or not text.strip():
            raise where.error(f"{field}.{language}", "missing text")
        if check_template:
            try:
                render(text, sample_fields())
            except (KeyError, ValueError, IndexError) as exc:
                raise where.error(f"{field}.{language}", f"bad template placeholder: {exc}") from exc
        texts.append(text)
    return texts[0], texts[1]


def _conditions(
    spec: Mapping[str, Any], kind: str, input_name: str, stations: list[Station], where: _Where
) -> dict[str, Condition]:
    types = [t for t in CONDITION_TYPES if t in spec]
    if len(types) != 1:
        raise where.error(
            "condition", f"needs exactly one of {', '.join(CONDITION_TYPES)}, got {sorted(spec)}"
        )
    allowed = {"above": {"hysteresis"}, "below": {"hysteresis"}}.get(types[0], set()) | {types[0]}
    if set(spec) - allowed:
        raise where.error("condition", f"unknown keys {sorted(set(spec) - allowed)}")
    if types[0] in ("above", "below"):
        if kind == QC:
            raise where.error("condition", "a QC input takes a 'qc' condition")
        return _threshold_conditions(spec, stations, where)
    if types[0] == "levels":
        if kind != "indicator":
            raise where.error("condition.levels", "levels apply to indicator inputs only")
        condition: Condition = _level_condition(spec["levels"], input_name, where)
    elif types[0] == "qc":
        if kind != QC:
            raise where.error("condition.qc", "a 'qc' condition needs input kind 'qc'")
        condition = _qc_condition(spec["qc"], where)
    else:
        if kind != READING:
            raise where.error("condition.silent", "a 'silent' condition watches input kind 'reading'")
        condition = _silent_condition(spec["silent"], where)
    return {station.id: condition for station in stations}


def parse_rule(spec: Any, registry: Registry, source: str) -> Rule | None:
    """One rule mapping → Rule (None when the network has no station it could apply to), or RuleError."""
    where = _Where(source)
    raw = where.convert(spec, dict[str, Any], "rules[]")
    rule_id = raw.get("id")
    if not isinstance(rule_id, str) or not _ID.match(rule_id):
        raise where.error("id", f"expected a lower-case identifier, got {rule_id!r}")
    where = _Where(source, rule_id)
    rule = where.convert(raw, _RuleSpec)
    kind, input_name = _input(rule.input, registry, where)
    stations = select_stations(rule.stations, registry, where)
    if not stations:
        return None  # this network has no station of the rule's kinds: nothing to judge
    if kind in (READING, QC) and input_name != ANY_NAME:
        stations = [s for s in stations if input_name in s.variables]
        if not stations:
            raise where.error("stations", f"no selected station measures {input_name!r}")
    conditions = _conditions(rule.condition, kind, input_name, stations, where)
    silent = isinstance(next(iter(conditions.values())), SilentCondition)
    if input_name == ANY_NAME and kind != QC and not silent:
        raise where.error("input.name", "only QC and silent-station rules may watch every variable ('*')")
    for timing, given in (("for", rule.for_), ("keep_firing", rule.keep_firing)):
        if silent and given:
            raise where.error(timing, "a silent-station rule already waits its intervals; leave it out")
    skip = rule.skip_qc if rule.skip_qc is not None else ([4, 9] if kind != QC else [])
    if any(flag not in QC_FLAGS for flag in skip):
        raise where.error("skip_qc", f"expected a list of QC flags from {QC_FLAGS}, got {skip!r}")
    title_en, title_zh = _bilingual(rule.title, where, "title", check_template=False)
    message_en, message_zh = _bilingual(rule.message, where, "message", check_template=True)
    return Rule(
        id=rule_id,
        source=source,
        title_en=title_en,
        title_zh=title_zh,
        input_kind=kind,
        input_name=input_name,
        for_us=parse_duration_us(rule.for_, where, "for"),
        keep_firing_us=parse_duration_us(rule.keep_firing, where, "keep_firing"),
        renotify_us=parse_duration_us(rule.renotify, where, "renotify"),
        message_en=message_en,
        message_zh=message_zh,
        skip_qc_flags=frozenset(skip),
        conditions=conditions,
    )


def parse_rule_document(document: Any, registry: Registry, source: str) -> list[Rule]:
    if not isinstance(document, Mapping) or not isinstance(document.get("rules"), list):
        raise RuleError(f"{source}: expected a mapping with a 'rules' list")
    rules = (parse_rule(spec, registry, source) for spec in document["rules"])
    return [rule for rule in rules if rule is not None]


def default_rule_paths() -> list[Path]:
    folder = Path(str(resources.files("alerts").joinpath("rules")))
    return sorted(folder.glob("*.yaml"))


def _file_error(path: Path) -> Callable[[str], RuleError]:
    """The error of a rule file that cannot be read or parsed."""
    return lambda reason: RuleError(f"{path}: {reason}")


def defined_rule_ids(paths: Iterable[str | os.PathLike[str]] | None = None) -> set[str]:
    """The ids of every rule in the files, also those no station of this registry takes (a routing
    file names rules of the whole service; a network of buoys alone still starts with it)."""
    ids: set[str] = set()
    for path in [Path(p) for p in paths] if paths is not None else default_rule_paths():
        document = read_yaml(path, _file_error(path))
        for spec in document.get("rules", []) if isinstance(document, Mapping) else []:
            if isinstance(spec, Mapping) and isinstance(spec.get("id"), str):
                ids.add(spec["id"])
    return ids


def load_rules(registry: Registry, paths: Iterable[str | os.PathLike[str]] | None = None) -> dict[str, Rule]:
    """Every rule of the given files (default: the shipped ``alerts/rules/*.yaml``), by rule id."""
    rules: dict[str, Rule] = {}
    for path in [Path(p) for p in paths] if paths is not None else default_rule_paths():
        document = read_yaml(path, _file_error(path))
        for rule in parse_rule_document(document, registry, str(path)):
            if rule.id in rules:
                raise RuleError(
                    f"{path}: rule {rule.id!r} field 'id': already defined in {rules[rule.id].source}"
                )
            rules[rule.id] = rule
    if not rules:
        raise RuleError("no alert rules loaded")
    return rules
