"""Rule station selection: a kind-only selection may be empty; a named station or area must exist."""

from __future__ import annotations

import copy

import pytest
import yaml

from alerts.loader import RuleError, load_rules, parse_rule_document
from schemas.registry import default_registry_path, parse_registry

DOCUMENT = yaml.safe_load(default_registry_path().read_text())


def _registry_of(kind: str):  # type: ignore[no-untyped-def]
    document = copy.deepcopy(DOCUMENT)
    document["stations"] = [s for s in document["stations"] if s["kind"] == kind]
    return parse_registry(document)


def test_a_network_of_buoys_loads_the_shipped_rules_with_no_surge_rule_at_work() -> None:
    rules = load_rules(_registry_of("buoy"))
    assert "storm_surge_warning" not in rules  # no tide gauge to judge
    assert rules["hypoxia"].conditions  # buoys measure dissolved oxygen


def test_naming_a_station_that_does_not_exist_is_still_an_error() -> None:
    document = {
        "rules": [
            {
                "id": "x",
                "title": {"en": "x", "zh": "x"},
                "stations": {"ids": ["dalian"]},
                "input": {"kind": "reading", "name": "battery_voltage_v"},
                "condition": {"below": {"yellow": 11.0}, "hysteresis": 0.2},
                "message": {"en": "{station}", "zh": "{station}"},
            }
        ]
    }
    with pytest.raises(RuleError, match="no station 'dalian'"):
        parse_rule_document(document, _registry_of("buoy"), "test.yaml")
