"""Fixtures shared by the end-to-end modules: a running worker and ingest per module, on its stack."""

from __future__ import annotations

import asyncio
import uuid

import asyncpg
import pytest

from services.db.prepare import prepare_database
from services.stack.launcher import Stack
from services.stack.pipeline import Pipeline
from streams.indicators.catalogue import INDICATORS
from tests.support.pipeline import Publisher, isolated_registry, stop_together
from tests.support.timescale import harness_node


@pytest.fixture(scope="module")
def pipeline_env() -> dict[str, str]:
    """More environment for the module's worker and ingest: a module overrides this fixture."""
    return {}


@pytest.fixture(scope="module")
async def pipeline(
    stack: Stack, tmp_path_factory: pytest.TempPathFactory, pipeline_env: dict[str, str]
) -> Pipeline:
    """A worker and an ingest on a network name of their own (the sample registry, renamed)."""
    network = f"t{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("pipeline")
    settings = stack.settings.with_(
        registry_path=str(isolated_registry(tmp, network)), worker_id=f"w-{network}"
    )
    await prepare_database(settings, INDICATORS)
    pipeline = Pipeline(settings, network, tmp / "logs", extra_env=dict(pipeline_env))
    # Side by side: whichever starts first creates the topics (services/kafka_topics.py), and nothing
    # is published before both are up.
    await asyncio.gather(pipeline.start_worker(), pipeline.start_ingest())
    try:
        yield pipeline
    finally:
        await asyncio.to_thread(stop_together, [pipeline.ingest, pipeline.worker])
        pipeline.stop()


@pytest.fixture
async def db(pipeline: Pipeline) -> asyncpg.Connection:
    conn = await asyncpg.connect(pipeline.settings.database_url)
    try:
        yield conn
    finally:
        await conn.close()


@pytest.fixture
def publisher(pipeline: Pipeline) -> Publisher:
    pub = Publisher(pipeline.settings, pipeline.network)
    try:
        yield pub
    finally:
        pub.close()


@pytest.fixture(scope="module")
def node() -> str:
    """The node binary with the TimescaleDB harness installed (tests/support/timescale.py; the Grafana
    schema test has a node fixture of its own)."""
    return harness_node()
