"""Shared fixtures: one real stack per test module.

PostgreSQL as configured (the machine's server) with a fresh database, a private Mosquitto with
tidewatch's broker settings and a fresh Tansu broker: each module starts from empty topics, so a new
worker reads its topics from the beginning (as in production) without replaying another module's data.
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from services.config import load_settings
from services.db.connect import drop_database
from services.stack.launcher import Stack, start_stack

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "tests" / "data" / "reference"


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
