"""The Grafana dashboards type-check against Grafana's published schemas (npm @grafana/schema).

No Grafana server runs here, so each dashboard file is written as a TypeScript object literal that must
satisfy tests/grafana/dashboard-file.ts: the dashboard and panel models and each panel kind's options,
from Grafana's own types. The PromQL of the panels is checked against the real Prometheus in
test_prometheus_scrape.py.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.support.node import node_with_harness

ROOT = Path(__file__).resolve().parents[2]
HARNESS = ROOT / "tests" / "grafana"
TSC = HARNESS / "node_modules" / "typescript" / "bin" / "tsc"
DASHBOARDS = sorted((ROOT / "docker" / "grafana" / "dashboards").glob("*.json"))

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def node() -> str:
    return node_with_harness(
        HARNESS, HARNESS / "node_modules" / "@grafana" / "schema" / "package.json", "the Grafana schema check"
    )


def type_check(node: str, boards: dict[str, dict]) -> subprocess.CompletedProcess:
    """Write each board as `<literal> satisfies DashboardFile` into tests/grafana/build and run tsc."""
    build = HARNESS / "build"
    shutil.rmtree(build, ignore_errors=True)
    build.mkdir()
    for name, board in boards.items():
        (build / f"{name}.ts").write_text(
            "import type { DashboardFile } from '../dashboard-file.js';\n"
            f"export const board = {json.dumps(board, indent=1)} satisfies DashboardFile;\n"
        )
    return subprocess.run(
        [node, str(TSC), "-p", str(HARNESS)], capture_output=True, text=True, timeout=300, check=False
    )


def test_every_dashboard_satisfies_grafanas_schema(node: str) -> None:
    boards = {path.stem: json.loads(path.read_text()) for path in DASHBOARDS}
    assert sorted(boards) == ["data-quality", "monitoring-centre"]
    done = type_check(node, boards)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("change", "complaint"),
    [
        (lambda p: p["options"].update(colorMode="backgroundx"), "backgroundx"),
        (lambda p: p["options"].update(showHeaderz=True), "showHeaderz"),
        (lambda p: p.update(type="gauge-ish"), "gauge-ish"),
        (lambda p: p["gridPos"].update(w="wide"), "not assignable to type 'number'"),
    ],
    ids=["misspelt enum value", "unknown option", "unknown panel kind", "wrong value type"],
)
def test_the_check_catches_a_broken_panel(node: str, change, complaint: str) -> None:
    """The type check is not vacuous: one broken panel in an otherwise valid dashboard fails it."""
    board = json.loads((DASHBOARDS[0]).read_text())
    kinds = {"backgroundx": "stat", "showHeaderz": "table"}
    panel = next(p for p in board["panels"] if p["type"] == kinds.get(complaint, "timeseries"))
    change(panel)
    done = type_check(node, {"broken": board})
    assert done.returncode != 0
    assert complaint in done.stdout
