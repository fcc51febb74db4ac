"""What each layer may import (README, "Architecture"): the contracts in schemas/ import nothing of
tidewatch's; the pure cores (streams/qc, streams/indicators, alerts/) import only schemas/ and
themselves (the QC flags and QcResult alerts/ reads live in schemas/); the shared retry wait imports
nothing of tidewatch's."""

from __future__ import annotations

from tests.support.imports import ROOT, imported_modules

OURS = ("schemas", "alerts", "streams", "services")


def ours_imported(folder: str) -> dict[str, set[str]]:
    """Per file below ``folder``: the tidewatch modules it imports."""
    found = {}
    for path in sorted((ROOT / folder).rglob("*.py")):
        modules = {m for m in imported_modules(path) if m.split(".")[0] in OURS}
        if modules:
            found[str(path.relative_to(ROOT))] = modules
    return found


def outside(folder: str, allowed: tuple[str, ...]) -> dict[str, set[str]]:
    """The imports of files below ``folder`` that are none of ``allowed`` (module prefixes)."""
    return {
        path: bad
        for path, modules in ours_imported(folder).items()
        if (bad := {m for m in modules if not any(m == a or m.startswith(a + ".") for a in allowed)})
    }


def test_the_contracts_import_nothing_of_tidewatch_but_themselves() -> None:
    assert outside("schemas", ("schemas",)) == {}


def test_qc_and_indicators_import_only_the_contracts() -> None:
    assert outside("streams/qc", ("schemas", "streams.qc")) == {}
    assert outside("streams/indicators", ("schemas", "streams.indicators")) == {}


def test_the_alert_engine_imports_only_the_contracts() -> None:
    assert outside("alerts", ("schemas", "alerts")) == {}


def test_the_retry_wait_imports_nothing_of_tidewatch() -> None:
    path = ROOT / "services" / "backoff.py"
    assert {m for m in imported_modules(path) if m.split(".")[0] in OURS} == set()
