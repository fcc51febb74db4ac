"""The database layer sits below the command line and the stream: it imports neither (no circles)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_database_layer_imports_neither_the_cli_nor_the_stream():
    above = [
        f"{path.name}: {module}"
        for path in sorted((ROOT / "services" / "db").glob("*.py"))
        for module in sorted(imported_modules(path))
        if module in ("services.cli", "services.demo") or module.split(".")[0] == "streams"
    ]
    assert above == []
    assert "services.db.prepare" in imported_modules(ROOT / "services" / "cli.py")
