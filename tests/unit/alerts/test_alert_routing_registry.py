"""The shipped routing file starts with any registry, also one without tide gauges.

The routing file names the water-level rules; a network of buoys alone takes no such rule, and its
worker refused to start ("no rule 'water_level_warning'", seen with the 1,000-buoy benchmark network).
"""

from __future__ import annotations

import pytest

from alerts import load_channels, load_rules
from alerts.loader import RuleError, defined_rule_ids
from alerts.routing import load_routing
from benchmarks.pipeline import bench_registry
from schemas.registry import load_registry


def buoys_only(tmp_path):
    """The benchmark's network: buoys only (benchmarks/pipeline.py)."""
    return load_registry(bench_registry(tmp_path / "registry.yaml", "bench", 3, sampling_interval_s=600.0))


def test_a_network_of_buoys_loads_the_shipped_routing(tmp_path) -> None:
    rules = load_rules(buoys_only(tmp_path))
    assert "water_level_warning" not in rules and "water_level_warning" in defined_rule_ids()
    routing = load_routing({*rules, *defined_rule_ids()}, load_channels())
    assert routing.hazards  # the coastal-flooding levels are kept; they simply never fire here
    with pytest.raises(RuleError, match="no rule 'water_level_warning'"):
        load_routing(rules, load_channels())  # checked against the active rules alone: refused


def test_a_rule_no_file_defines_is_still_refused(tmp_path) -> None:
    path = tmp_path / "routing.yaml"
    path.write_text("hazards:\n  flooding: [water_level_warning, no_such_rule]\n")
    with pytest.raises(RuleError, match="no rule 'no_such_rule'"):
        load_routing(defined_rule_ids(), load_channels(), path)
