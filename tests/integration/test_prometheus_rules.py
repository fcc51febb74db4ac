"""promtool on docker/'s Prometheus files: the production config, the rule files and their unit tests.

promtool comes with the Debian package `prometheus`; without it the module is skipped.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
PROMETHEUS_DIR = ROOT / "docker" / "prometheus"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

pytestmark = pytest.mark.skipif(
    not Path(PROMTOOL).exists(),
    reason="promtool is not installed (Debian: apt-get install -y prometheus)",
)


def promtool(*args: str) -> str:
    done = subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=60, cwd=ROOT)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    return output


def rule_files() -> list[Path]:
    return sorted((PROMETHEUS_DIR / "rules").glob("*.yml"))


def test_production_config_is_valid_and_loads_every_rule_file() -> None:
    output = promtool("check", "config", str(PROMETHEUS_DIR / "prometheus.yml"))
    assert f"SUCCESS: {len(rule_files())} rule files found" in output


def test_rule_files_are_valid() -> None:
    files = rule_files()
    assert files
    output = promtool("check", "rules", *map(str, files))
    assert output.count("SUCCESS") == len(files)


def test_rule_unit_tests_pass_and_cover_every_rule() -> None:
    unit_file = PROMETHEUS_DIR / "tests" / "rules_test.yml"
    promtool("test", "rules", str(unit_file))
    # Every recording rule is evaluated and every alert is checked at least once.
    tests = yaml.safe_load(unit_file.read_text())
    tested_text = yaml.safe_dump(tests["tests"])
    listed = {(unit_file.parent / name).resolve() for name in tests["rule_files"]}
    assert listed == {path.resolve() for path in rule_files()}
    for path in rule_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                name = rule.get("record") or rule["alert"]
                if "record" in rule:
                    assert f"expr: {name}\n" in tested_text, f"{path.name}: rule {name} has no unit test"
                else:
                    assert f"alertname: {name}" in tested_text, f"{path.name}: alert {name} has no unit test"
