"""The digest of what judges alerts (a reprocess run's configuration): rules and routing, not file paths."""

from __future__ import annotations

import shutil
from pathlib import Path

from alerts.loader import default_rule_paths, load_rules
from alerts.setup import AlertSetup
from schemas.registry import load_registry


def _setup_from(folder: Path) -> AlertSetup:
    registry = load_registry()
    shipped = AlertSetup.load(registry)
    rules = load_rules(registry, sorted(folder.glob("*.yaml")))
    return AlertSetup(registry, rules, shipped.channels, shipped.routing)


def test_the_same_rules_from_another_folder_give_the_same_digest_and_a_changed_rule_another(
    tmp_path: Path,
) -> None:
    for path in default_rule_paths():
        shutil.copy(path, tmp_path / Path(path).name)
    shipped = AlertSetup.load(load_registry())
    assert _setup_from(tmp_path).digest == shipped.digest == AlertSetup.load(load_registry()).digest
    health = tmp_path / "station_health.yaml"
    text = health.read_text()
    assert "for: 30m" in text
    health.write_text(text.replace("for: 30m", "for: 45m", 1))
    assert _setup_from(tmp_path).digest != shipped.digest
