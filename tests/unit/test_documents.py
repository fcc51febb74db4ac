"""One way to check the YAML files' shape (schemas/documents.py, msgspec structs): a wrong type, a missing
or an unknown field is named with its file, station, rule, channel or test and the field's path."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import msgspec
import pytest
import yaml

from alerts.channels import load_channels
from alerts.loader import RuleError, load_rules
from schemas.documents import ABSENT, Problem, convert, read_yaml
from schemas.registry import RegistryError, default_registry_path, load_registry, parse_registry
from services.report.base import ReportError
from services.report.settings import load_settings as load_report_settings
from streams.qc import QcConfigError, parse_qc_config


class Datum(msgspec.Struct):
    name: str
    msl_above_datum_m: float


class Station(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    datum: Datum
    variables: list[str]
    qc: dict[str, float] | None = None


def _caught(data: object) -> Problem:
    """The Problem that ``convert`` hands to the loader's error builder."""
    with pytest.raises(ValueError) as caught:
        convert(data, Station, lambda p: ValueError(p))
    found = caught.value.args[0]
    assert isinstance(found, Problem)
    return found


def test_a_problem_names_the_path_what_is_wrong_and_the_value():
    good = {"id": "dalian", "datum": {"name": "d", "msl_above_datum_m": 1.9}, "variables": ["water_level_m"]}
    assert convert(good, Station, ValueError).datum.msl_above_datum_m == 1.9
    nested = _caught({**good, "datum": {"name": "d", "msl_above_datum_m": "high"}})
    assert (nested.field, nested.parent, nested.name) == (
        "datum.msl_above_datum_m",
        "datum",
        "msl_above_datum_m",
    )
    assert nested.describe() == "field 'msl_above_datum_m' must be int or float, got 'high'"
    assert nested.complaint() == "expected a number, got 'high'"
    in_list = _caught({**good, "variables": ["water_level_m", 3]})
    assert (in_list.field, in_list.within("station 'dalian'")) == (
        "variables[1]",
        "station 'dalian'.variables[1]",
    )
    assert in_list.complaint() == "expected text, got 3"
    missing = _caught({"id": "dalian", "variables": []})
    assert (missing.kind, missing.field, missing.value) == ("missing", "datum", ABSENT)
    assert missing.describe() == "missing field 'datum'"
    assert missing.complaint() == "expected a mapping, got nothing"
    unknown = _caught({**good, "colour": "red"})
    assert (unknown.kind, unknown.field, unknown.complaint()) == ("unknown", "colour", "unknown field")
    optional = _caught({**good, "qc": 3})
    assert optional.complaint() == "expected a mapping or null, got 3"


def test_an_unreadable_file_names_the_file(tmp_path: Path):
    broken = tmp_path / "broken.yaml"
    broken.write_text("stations: [\n", encoding="utf-8")
    with pytest.raises(RegistryError, match=re.escape(f"registry {broken}: ")):
        load_registry(broken)
    with pytest.raises(ValueError, match=r"gone\.yaml: "):
        read_yaml(tmp_path / "gone.yaml", lambda reason: ValueError(f"gone.yaml: {reason}"))


REGISTRY = yaml.safe_load(default_registry_path().read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s["datum"].update(msl_above_datum_m="high"), "station 'dalian' datum: field "),
        (lambda s: s.update(variables=["water_level_m", 7]), "field 'variables' must be str, got 7"),
        (lambda s: s.update(thresholds=[1, 2]), "field 'thresholds' must be mapping or null, got [1, 2]"),
        (lambda s: s.pop("name"), "station 'dalian': missing field 'name'"),
    ],
)
def test_registry_shape_errors_name_station_and_field(edit, message):
    document = copy.deepcopy(REGISTRY)
    dalian = next(s for s in document["stations"] if s["id"] == "dalian")
    edit(dalian)
    with pytest.raises(RegistryError, match=re.escape(message)):
        parse_registry(document)


RULE = {
    "id": "big_waves",
    "title": {"en": "Big waves", "zh": "大浪"},
    "input": {"kind": "reading", "name": "wave_height_m"},
    "condition": {"above": {"blue": 2.5}},
    "message": {"en": "waves {value} m", "zh": "浪 {value} m"},
}


@pytest.mark.parametrize(
    ("change", "field", "words"),
    [
        ({"input": None}, "input", "expected a mapping, got nothing"),
        ({"input": {"kind": "reading", "name": 3}}, "input.name", "expected text, got 3"),
        ({"stations": {"ids": ["dalian"], "zones": ["x"]}}, "stations.zones", "unknown field"),
        (
            {"condition": {"above": {"blue": "high"}}},
            "condition.above.blue",
            "expected a number or a mapping",
        ),
        ({"condition": {"above": {"blue": {"exit": 2}}}}, "condition.above.blue.enter", "got nothing"),
        ({"skip_qc": "4"}, "skip_qc", "expected a list or null, got '4'"),
        ({"renotify": [1]}, "renotify", "expected a number or text, got [1]"),
    ],
)
def test_rule_shape_errors_name_file_rule_and_field(tmp_path: Path, change, field, words):
    rule = {**RULE, **change}
    rule = {k: v for k, v in rule.items() if v is not None}
    path = tmp_path / "rules.yaml"
    path.write_text(yaml.safe_dump({"rules": [rule]}, allow_unicode=True), encoding="utf-8")
    with pytest.raises(RuleError) as caught:
        load_rules(load_registry(), [path])
    assert str(caught.value).startswith(f"{path}: rule 'big_waves' field {field!r}: ")
    assert words in str(caught.value)


def test_channel_shape_errors_name_the_channel_and_field(tmp_path: Path):
    path = tmp_path / "channels.yaml"
    path.write_text(
        "channels:\n  duty: {type: dingtalk, min_severity: red, events: firing}\n", encoding="utf-8"
    )
    with pytest.raises(
        RuleError, match=re.escape("channel 'duty' field 'events': expected a list, got 'firing'")
    ):
        load_channels(path)
    path.write_text("channels:\n  duty: {type: dingtalk, events: [firing]}\n", encoding="utf-8")
    with pytest.raises(
        RuleError, match=re.escape("channel 'duty' field 'min_severity': expected text, got nothing")
    ):
        load_channels(path)


@pytest.mark.parametrize(
    ("document", "message"),
    [
        (
            {"defaults": {"water_level_m": {"spike": {"suspect_threshold": "x", "fail_threshold": 1}}}},
            "variable 'water_level_m': spike.suspect_threshold must be a finite number, got 'x'",
        ),
        (
            {"defaults": {"water_level_m": {"gross_range": {"fail_span": [-1, "9"]}}}},
            "variable 'water_level_m': gross_range.fail_span[1] must be a finite number, got '9'",
        ),
        (
            {"defaults": {"water_level_m": {"spike": [0.3, 1.0]}}},
            "defaults variable 'water_level_m'.spike must be a mapping or null, got [0.3, 1.0]",
        ),
        ({"stations": ["dalian"]}, "qc config.stations must be a mapping or null, got ['dalian']"),
        (
            {"location": {"bbox": [117, 36, 125], "radius_km": 3}},
            "location: unknown field(s) ['radius_km']; allowed: ['bbox', 'fail_distance_km', 'suspect_",
        ),
    ],
)
def test_qc_shape_errors_name_station_variable_and_field(document, message):
    with pytest.raises(QcConfigError, match=re.escape(message)):
        parse_qc_config(document, load_registry())


def test_report_settings_shape_errors_name_the_file_and_field(tmp_path: Path):
    path = tmp_path / "report.yaml"
    path.write_text("outage: {min_gap_s: soon}\n", encoding="utf-8")
    with pytest.raises(
        ReportError, match=re.escape(f"{path}: outage.min_gap_s: expected a number, got 'soon'")
    ):
        load_report_settings(path)
    path.write_text("grading:\n  uptime: [{grade: good, min: high}]\n", encoding="utf-8")
    with pytest.raises(
        ReportError, match=re.escape("grading.uptime[0].min: expected a number or null, got 'high'")
    ):
        load_report_settings(path)
