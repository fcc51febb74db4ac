"""The TimescaleDB harness (tests/timescale/run_sql.mjs: PostgreSQL 17 with TimescaleDB in PGlite, run
by node): what the migrations declare for TimescaleDB, parsed from their text, and one run of SQL
files plus checks. Used by test_timescale_ddl.py and test_api_timescale.py.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.support.node import node_with_harness

ROOT = Path(__file__).resolve().parents[2]
HARNESS_DIR = ROOT / "tests" / "timescale"
RUNNER = HARNESS_DIR / "run_sql.mjs"
MIGRATIONS_DIR = ROOT / "schemas" / "migrations"
HARNESS_TIMEOUT_S = 180

# ---------------------------------------------------------------------------------------------------
# What the TimescaleDB migrations declare, parsed from their text.


@dataclass
class Compression:
    segmentby: list[str]
    orderby: list[tuple[str, bool]]  # (column, ascending)


@dataclass
class Policy:
    proc_name: str
    relation: str
    setting: str | None  # config key holding the interval, e.g. "drop_after"
    interval_sql: str | None  # the interval expression as written in the migration


@dataclass
class TimescaleSchema:
    hypertables: dict[str, str] = field(default_factory=dict)  # table -> time column
    compression: dict[str, Compression] = field(default_factory=dict)
    policies: list[Policy] = field(default_factory=list)
    caggs: dict[str, str] = field(default_factory=dict)  # view -> its SELECT


_IDENT = r'"?([\w.]+)"?'
_INTERVAL = r"(INTERVAL\s*'[^']*'|'[^']*'\s*::\s*interval)"
_POLICY_CALLS = {
    "add_compression_policy": ("policy_compression", "compress_after"),
    "add_columnstore_policy": ("policy_compression", "compress_after"),
    "add_retention_policy": ("policy_retention", "drop_after"),
    "add_continuous_aggregate_policy": ("policy_refresh_continuous_aggregate", None),
}


def _name(identifier: str) -> str:
    return identifier.strip('"').split(".")[-1].lower()


def _statements(sql: str) -> list[str]:
    """Comment-free statements; migration files hold no semicolons inside literals or bodies."""
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.S)
    sql = re.sub(r"--[^\n]*", " ", sql)
    return [s.strip() for s in sql.split(";") if s.strip()]


def _option(options: str, key: str) -> str | None:
    match = re.search(rf"(?:timescaledb|tsdb)\.{key}\s*=\s*'([^']*)'", options, re.I)
    return match.group(1) if match else None


def _compression(options: str) -> Compression:
    segmentby = [_name(c.strip()) for c in (_option(options, "(?:compress_)?segmentby") or "").split(",")]
    orderby = []
    for part in (_option(options, "(?:compress_)?orderby") or "").split(","):
        words = part.split()
        if words:
            orderby.append((_name(words[0]), not (len(words) > 1 and words[1].upper() == "DESC")))
    return Compression([c for c in segmentby if c], orderby)


def parse_timescale_migrations(paths: list[Path]) -> TimescaleSchema:
    schema = TimescaleSchema()
    for path in paths:
        for statement in _statements(path.read_text(encoding="utf-8")):
            _parse_statement(statement, schema)
    return schema


def _parse_statement(statement: str, schema: TimescaleSchema) -> None:
    hypertable = re.search(
        rf"create_hypertable\s*\(\s*'{_IDENT}'\s*,\s*(?:by_range\s*\(\s*)?'(\w+)'", statement, re.I
    )
    if hypertable:
        schema.hypertables[_name(hypertable.group(1))] = hypertable.group(2).lower()
    table = re.match(rf"CREATE\s+TABLE\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}", statement, re.I)
    if table and re.search(r"(?:tsdb|timescaledb)\.hypertable", statement, re.I):
        schema.hypertables[_name(table.group(1))] = (_option(statement, "partition_column") or "").lower()
    altered = re.match(rf"ALTER\s+TABLE\s+(?:ONLY\s+)?{_IDENT}\s+SET\s*\((.*)\)\s*$", statement, re.I | re.S)
    if altered and re.search(r"timescaledb\.(compress|enable_columnstore)\b", altered.group(2), re.I):
        schema.compression[_name(altered.group(1))] = _compression(altered.group(2))
    for function, (proc_name, setting) in _POLICY_CALLS.items():
        call = re.search(
            rf"{function}\s*\(\s*'{_IDENT}'\s*(?:,\s*(?:\w+\s*=>\s*)?{_INTERVAL})?", statement, re.I
        )
        if call:
            interval = call.group(2) if setting else None
            schema.policies.append(Policy(proc_name, _name(call.group(1)), setting, interval))
    cagg = re.match(
        rf"CREATE\s+MATERIALIZED\s+VIEW\s+(?:IF\s+NOT\s+EXISTS\s+)?{_IDENT}\s+WITH\s*\(([^)]*)\)\s*AS\s+(.*?)"
        r"(?:\s+WITH\s+(?:NO\s+)?DATA)?\s*$",
        statement,
        re.I | re.S,
    )
    if cagg and re.search(r"(?:timescaledb|tsdb)\.continuous", cagg.group(2), re.I):
        schema.caggs[_name(cagg.group(1))] = cagg.group(3)


# ---------------------------------------------------------------------------------------------------
# Running the harness.


@dataclass
class Run:
    schema: TimescaleSchema
    returncode: int
    report: dict
    seconds: float

    def check(self, name: str) -> dict:
        for check in self.report["checks"]:
            if check["name"] == name:
                assert check["ok"], f"check {name} failed: {check.get('error') or check.get('skipped')}"
                return check
        raise KeyError(name)

    def rows(self, name: str) -> list[dict]:
        return self.check(name)["rows"]


def harness_node() -> str:
    """The node binary, with the harness's npm package installed (npm ci on first use)."""
    installed = HARNESS_DIR / "node_modules" / "@unni-craftsman" / "pglite" / "package.json"
    return node_with_harness(HARNESS_DIR, installed, "the TimescaleDB DDL check (PGlite)")


def run_harness(
    node: str, workdir: Path, files: list[Path], schema: TimescaleSchema, checks: list[dict], passes: int = 2
) -> Run:
    """Apply ``files`` ``passes`` times in one fresh database, then run ``checks``."""
    spec = workdir / "spec.json"
    spec.write_text(json.dumps({"files": [str(f) for f in files], "checks": checks, "passes": passes}))
    started = time.perf_counter()
    done = subprocess.run(
        [node, str(RUNNER), str(spec)], capture_output=True, text=True, timeout=HARNESS_TIMEOUT_S, check=False
    )
    seconds = time.perf_counter() - started
    try:
        report = json.loads(done.stdout)
    except json.JSONDecodeError:
        pytest.fail(f"run_sql.mjs gave no report (exit {done.returncode}):\n{done.stdout}\n{done.stderr}")
    print(f"run_sql.mjs: {seconds:.1f} s wall, timings {report['timings']}")
    return Run(schema, done.returncode, report, seconds)


def migration_files(folder: Path) -> tuple[list[Path], list[Path]]:
    return sorted(folder.glob("*.sql")), sorted((folder / "timescale").glob("*.sql"))
