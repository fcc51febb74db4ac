"""Rule files are validated at start-up: every mistake names the file, the rule and the field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from alerts import RuleError, load_channels, load_rules
from alerts.rules import LevelCondition, ThresholdCondition

BASE = {
    "id": "big_waves",
    "title": {"en": "Big waves", "zh": "大浪"},
    "stations": {"kinds": ["buoy"]},
    "input": {"kind": "reading", "name": "wave_height_m"},
    "condition": {"above": "station:wave_height_m", "hysteresis": 0.2},
    "for": "20m",
    "keep_firing": "1h",
    "message": {"en": "{event}: waves {value} m at {station_name}", "zh": "{station_name_zh}浪高 {value} 米"},
}


def write(tmp_path: Path, *rules: dict, name: str = "test.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump({"rules": list(rules)}, allow_unicode=True), encoding="utf-8")
    return path


def variant(**changes) -> dict:
    rule = copy.deepcopy(BASE)
    for key, value in changes.items():
        if value is None:
            rule.pop(key)
        else:
            rule[key] = value
    return rule


def test_shipped_rules_cover_the_issue(registry, rules):
    expected = {
        "water_level_warning",
        "storm_surge_warning",
        "wave_warning",
        "hypoxia",
        "algal_bloom_risk",
        "marine_heatwave",
        "salt_intrusion",
        "sensor_flat_line",
        "sensor_repeated_fail",
        "station_silent",
        "battery_low",
    }
    assert set(rules) == expected
    surge = rules["storm_surge_warning"]
    # Tide gauges only; indicator level 1 is blue and 4 is red.
    assert set(surge.conditions) == {s.id for s in registry.stations.values() if s.kind == "tide_gauge"}
    condition = surge.conditions["dalian"]
    assert isinstance(condition, LevelCondition)
    assert condition.severities == {1: 1, 2: 2, 3: 3, 4: 4}
    # The observed water level warns at each tide gauge's registry levels, 10 cm hysteresis.
    level = rules["water_level_warning"].conditions["dalian"]
    assert isinstance(level, ThresholdCondition) and level.direction == "above"
    dalian = registry.stations["dalian"].thresholds["warning_water_level_m"]
    assert [(b.enter, b.exit) for b in level.bands] == [
        (dalian[c], pytest.approx(dalian[c] - 0.10)) for c in ("blue", "yellow", "orange", "red")
    ]
    assert set(rules["water_level_warning"].conditions) == set(surge.conditions)
    # Hypoxia only where dissolved oxygen is measured.
    measuring = {s.id for s in registry.stations.values() if "dissolved_oxygen_mg_l" in s.variables}
    assert set(rules["hypoxia"].conditions) == measuring


def test_station_thresholds_resolved_per_station(tmp_path, registry):
    rules = load_rules(registry, [write(tmp_path, BASE)])
    condition = rules["big_waves"].conditions["liaodong-bay-buoy"]
    assert isinstance(condition, ThresholdCondition)
    # Registry: blue 2.5, yellow 3.5, orange 4.5, red 6.0; exit 0.2 m lower.
    assert [(b.severity, b.enter, b.exit) for b in condition.bands] == [
        (1, 2.5, pytest.approx(2.3)),
        (2, 3.5, pytest.approx(3.3)),
        (3, 4.5, pytest.approx(4.3)),
        (4, 6.0, pytest.approx(5.8)),
    ]
    # The Jinzhou Bay buoy has no wave sensor, so the rule does not apply there.
    assert set(rules["big_waves"].conditions) == {"liaodong-bay-buoy", "north-yellow-sea-buoy"}
    assert rules["big_waves"].for_us == 20 * 60_000_000


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (variant(stations={"ids": ["dalain"]}), "stations.ids", "no station 'dalain'"),
        (variant(stations={"kinds": ["lighthouse"]}), "stations.kinds", "unknown station kind"),
        (variant(stations={"areas": ["bohai-bay"]}), "stations.areas", "no station in area"),
        (variant(stations={"ids": ["dalian"]}), "stations", "measures 'wave_height_m'"),
        (variant(input={"kind": "reading", "name": "wave_hieght_m"}), "input.name", "unknown variable"),
        (variant(input={"kind": "indicator", "name": "surge_level"}), "input.name", "unknown indicator"),
        (variant(input={"kind": "forecast", "name": "x"}), "input.kind", "unknown input kind"),
        (variant(condition={"above": {"purple": 3.0}}), "condition.above.purple", "unknown severity"),
        (
            variant(condition={"above": {"blue": {"enter": 2.5, "exit": 2.8}}}),
            "condition.above.blue",
            "hysteresis on the wrong side",
        ),
        (
            variant(
                input={"kind": "reading", "name": "dissolved_oxygen_mg_l"},
                condition={"below": {"orange": {"enter": 2.0, "exit": 1.8}}},
            ),
            "condition.below.orange",
            "hysteresis on the wrong side",
        ),
        (
            variant(condition={"above": {"blue": 2.0}, "hysteresis": -0.1}),
            "condition.hysteresis",
            "wrong side",
        ),
        (variant(condition={"above": {"blue": 3.0, "red": 2.0}}), "condition.above", "more severe band"),
        (
            variant(condition={"above": "station:wave_limit_m"}),
            "condition.above",
            "no threshold 'wave_limit_m'",
        ),
        (variant(condition={"levels": {1: "blue"}}), "condition.levels", "indicator inputs only"),
        (variant(condition={"above": {"blue": 2.0}, "below": {"red": 1.0}}), "condition", "exactly one"),
        (variant(message={"en": "waves {value} m"}), "message.zh", "missing text"),
        (variant(message={"en": "waves {height} m", "zh": "浪"}), "message.en", "bad template placeholder"),
        (variant(title=None), "title", "expected a mapping"),
        (variant(**{"for": "soon"}), "for", "expected a duration"),
        (variant(colour="red"), "colour", "unknown field"),
        (variant(skip_qc=[5]), "skip_qc", "QC flags"),
    ],
)
def test_invalid_rule_names_file_rule_and_field(tmp_path, registry, rule, field, words):
    path = write(tmp_path, rule)
    with pytest.raises(RuleError) as caught:
        load_rules(registry, [path])
    message = str(caught.value)
    assert str(path) in message
    assert "'big_waves'" in message
    assert f"field {field!r}" in message
    assert words in message


@pytest.mark.parametrize(
    ("rule", "field", "words"),
    [
        (
            {
                **BASE,
                "input": {"kind": "indicator", "name": "mhw_category"},
                "condition": {"levels": {5: "red"}},
            },
            "condition.levels",
            "outside 1..4",
        ),
        (
            {**BASE, "input": {"kind": "indicator", "name": "surge_m"}, "condition": {"levels": {1: "blue"}}},
            "condition.levels",
            "not an ordinal indicator",
        ),
        (
            {
                **BASE,
                "input": {"kind": "indicator", "name": "wave_warning"},
                "condition": {"levels": {1: "red", 2: "blue"}},
            },
            "condition.levels",
            "lower severity",
        ),
        (
            {
                **BASE,
                "input": {"kind": "qc", "name": "*"},
                "condition": {"qc": {"tests": ["wobble"], "severity": "yellow"}},
            },
            "condition.qc.tests",
            "unknown QC test",
        ),
        (
            {
                **BASE,
                "input": {"kind": "reading", "name": "*"},
                "condition": {"silent": {"intervals": 3, "severity": "yellow"}},
            },
            "for",
            "silent-station rule",
        ),
        (
            {**BASE, "input": {"kind": "reading", "name": "*"}, "condition": {"above": {"red": 1.0}}},
            "input.name",
            "every variable",
        ),
    ],
)
def test_invalid_conditions(tmp_path, registry, rule, field, words):
    with pytest.raises(RuleError, match=words) as caught:
        load_rules(registry, [write(tmp_path, rule)])
    assert f"field {field!r}" in str(caught.value)


def test_duplicate_rule_ids_across_files(tmp_path, registry):
    first, second = write(tmp_path, BASE, name="a.yaml"), write(tmp_path, BASE, name="b.yaml")
    with pytest.raises(
        RuleError, match=r"b\.yaml: rule 'big_waves' field 'id': already defined in .*a\.yaml"
    ):
        load_rules(registry, [first, second])


def test_not_a_rule_file(tmp_path, registry):
    path = tmp_path / "x.yaml"
    path.write_text("- just a list\n", encoding="utf-8")
    with pytest.raises(RuleError, match="expected a mapping with a 'rules' list"):
        load_rules(registry, [path])


def test_channel_file_is_validated(tmp_path):
    path = tmp_path / "channels.yaml"
    path.write_text("channels:\n  sms: {min_severity: crimson, events: [firing]}\n", encoding="utf-8")
    with pytest.raises(RuleError, match="channel 'sms' field 'min_severity'"):
        load_channels(path)
    path.write_text("channels:\n  sms: {min_severity: red, events: [pending]}\n", encoding="utf-8")
    with pytest.raises(RuleError, match="pending alerts are not notified"):
        load_channels(path)
