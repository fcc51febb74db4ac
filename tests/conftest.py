"""Shared fixtures: one real stack per test module.

PostgreSQL as configured (the machine's server) with a fresh database, a private Mosquitto with
tidewatch's broker settings and a fresh Tansu broker: each module starts from empty topics, so a new
worker reads its topics from the beginning (as in production) without replaying another module's data.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from services.config import load_settings
from services.db.connect import drop_database
from services.stack.launcher import Stack, start_stack

ROOT = Path(__file__).resolve().parents[1]

# Every worker a test starts inherits this (start_child passes the environment on): a killed worker is
# dropped from its group after 4 s instead of 10, and a first join (about half of it on Tansu) takes
# ~2 s instead of ~5. The kill and rejoin paths are the same, only sooner. A value set outside wins.
os.environ.setdefault("TIDEWATCH_KAFKA_SESSION_TIMEOUT_S", "4")

REFERENCE = ROOT / "tests" / "data" / "reference"

# `make test` runs the modules in parallel processes (pytest-xdist, --dist loadfile: each module whole in
# one process, which takes the next module in this order when it is nearly done). The longest modules go
# first so that the short ones fill the gaps at the end; the others keep their usual order after them.
# Seconds: each module's time in a 2-process run on the 2-core machine, 2026-12-07, setup and teardown
# included, with other work running (mean 1-minute load 4.0): the CPU-bound modules vary with load.
SLOWEST_FIRST = (
    "tests/integration/test_two_workers.py",  # 65
    "tests/integration/test_console_api.py",  # 64
    "tests/integration/test_faults_data.py",  # 63
    "tests/integration/test_api_netcdf.py",  # 59 (CPU: 26 on a quieter machine)
    "tests/integration/test_faults_alerts.py",  # 57
    "tests/integration/test_alerts_pipeline.py",  # 54
    "tests/integration/test_pipeline.py",  # 45
    "tests/integration/test_handover_state.py",  # 37
    "tests/integration/test_faults_downstream.py",  # 37
    "tests/integration/test_prometheus_scrape.py",  # 34
    "tests/unit/alerts/test_alert_qc_revisions.py",  # 31
    "tests/integration/test_indicators_pipeline.py",  # 31
    "tests/integration/test_faults_broker.py",  # 25
    "tests/integration/test_tide_constants_cli.py",  # 23
    "tests/integration/test_console_pipeline.py",  # 21
    "tests/integration/test_timescale_ddl.py",  # 20
    "tests/integration/test_report_carbon_gapfill.py",  # 18
    "tests/unit/qc/test_qc_reference.py",  # 18
    "tests/integration/test_broker_durability.py",  # 17
    "tests/integration/test_report.py",  # 16
    "tests/integration/test_alert_io_store.py",  # 15
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Slowest modules first (a stable sort: the tests of a module keep their order)."""
    missing = [path for path in SLOWEST_FIRST if not (ROOT / path).exists()]
    if missing:
        raise pytest.UsageError(f"tests/conftest.py SLOWEST_FIRST names modules that are gone: {missing}")
    rank = {path: k for k, path in enumerate(SLOWEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("::", 1)[0], len(rank)))


@pytest.fixture(scope="session")
def reference_dir() -> Path:
    return REFERENCE


@pytest.fixture(scope="module")
async def stack(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Real services; the database is a fresh one named for this session and dropped afterwards."""
    base = load_settings()
    database = f"tidewatch_test_{uuid.uuid4().hex[:8]}"
    settings = base.with_(database_url=base.database_url.rsplit("/", 1)[0] + f"/{database}")
    stack = await start_stack(settings, tmp_path_factory.mktemp("stack"), fresh_kafka=True, private_mqtt=True)
    try:
        yield stack
    finally:
        stack.stop()
        await drop_database(stack.settings.database_url)
