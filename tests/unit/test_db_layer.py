"""The database layer sits below the command line and the stream: it imports neither (no circles)."""

from __future__ import annotations

from tests.support.imports import ROOT, imported_modules


def test_the_database_layer_imports_neither_the_cli_nor_the_stream():
    above = [
        f"{path.name}: {module}"
        for path in sorted((ROOT / "services" / "db").glob("*.py"))
        for module in sorted(imported_modules(path))
        if module in ("services.cli", "services.demo") or module.split(".")[0] == "streams"
    ]
    assert above == []
    assert "services.db.prepare" in imported_modules(ROOT / "services" / "cli.py")
