"""A worker that dies after reading a record and before anything it produced got out (issue 12).

Real worker and ingest, private Mosquitto, PostgreSQL, and Tansu behind a proxy
(``tests/support/kafka_proxy.py``) that passes the reading's record to the worker and from that
instant holds every byte the clients send; the worker is then killed and the held bytes dropped, as
if it had died before they left the process. When the worker started again and the record came
again, its QC result must still reach the observations topic (what the indicators agent reads) and
the alert engine's log. A worker that stored the row before sending lost them: the replayed
reading was a duplicate of the stored row, so nothing was ever sent.
"""

from __future__ import annotations

import asyncio
import time
import uuid

import asyncpg
import msgspec
import pytest
from aiokafka import AIOKafkaConsumer

from schemas.records import ALERT_INPUTS_TOPIC, OBSERVATIONS_TOPIC
from schemas.topics import ObservationBatch
from services.config import Settings
from services.db.connect import drop_database, ensure_database
from services.db.prepare import prepare_database
from services.stack.kafka import start_tansu
from services.stack.launcher import Stack
from services.stack.pipeline import Pipeline
from services.stack.process import free_port
from streams.indicators.catalogue import INDICATORS
from tests.support.kafka_proxy import FreezingProxy
from tests.support.pipeline import Publisher, isolated_registry, message, stop_together, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

STATION, VARIABLE = "yingkou", "water_level_m"
T0_US = 1_790_000_000 * 1_000_000
STEP_US = 60_000_000
STORED = "SELECT count(*) FROM observations WHERE station_id = $1 AND time = to_timestamp($2 / 1e6)"
_batch = msgspec.json.Decoder(ObservationBatch)


async def _results_for(settings: Settings, topic: str, time_us: int) -> int:
    """How many QC results for the reading at ``time_us`` a topic holds (read from the start)."""
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=settings.kafka_bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    await consumer.start()
    try:
        found, deadline = 0, time.monotonic() + 5
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=500)
            if not batches and found:
                break
            for records in batches.values():
                for record in records:
                    if not record.value.startswith(b'{"type":"observations/v1"'):
                        continue
                    found += sum(
                        r.station == STATION and r.variable == VARIABLE and r.time_us == time_us
                        for r in _batch.decode(record.value).results
                    )
        return found
    finally:
        await consumer.stop()


@pytest.mark.timeout(300)
async def test_a_reading_read_before_a_crash_still_reaches_indicators_and_alerts(
    stack: Stack, tmp_path
) -> None:
    network = f"t{uuid.uuid4().hex[:8]}"
    tansu_port = free_port()
    proxy = FreezingProxy(tansu_port)
    await proxy.start()
    tansu, _ = await start_tansu(tmp_path, port=tansu_port, advertised_port=proxy.port)
    settings = stack.settings.with_(
        kafka_url=f"kafka://127.0.0.1:{proxy.port}",
        database_url=stack.settings.database_url.rsplit("/", 1)[0] + f"/twd_{network}",
        registry_path=str(isolated_registry(tmp_path, network)),
        worker_id=f"w-{network}",
    )
    await ensure_database(settings.database_url)
    await prepare_database(settings, INDICATORS)
    pipeline = Pipeline(settings, network, tmp_path / "logs")
    publisher = Publisher(settings, network)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await pipeline.start_worker()
        await pipeline.start_ingest()
        levels = [2.00, 2.01, 2.02, 2.03]
        for i, level in enumerate(levels[:-1]):  # the worker is warm: these are stored and sent
            publisher.publish(STATION, message(STATION, T0_US + i * STEP_US, {VARIABLE: level}))
        await wait_for_count(conn, STORED, STATION, T0_US + 2 * STEP_US, expected=1)

        crash_us = T0_US + 3 * STEP_US
        proxy.freeze_after(str(crash_us).encode())
        publisher.publish(STATION, message(STATION, crash_us, {VARIABLE: levels[-1]}))
        await asyncio.wait_for(proxy.frozen.wait(), timeout=30)  # the worker has been given the record
        await asyncio.sleep(3)  # time enough to store it and to try to send its results
        assert pipeline.worker is not None
        pipeline.worker.kill()
        proxy.thaw()

        await pipeline.start_worker()
        assert await wait_for_count(conn, STORED, STATION, crash_us, expected=1) == 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            observed = await _results_for(settings, OBSERVATIONS_TOPIC, crash_us)
            judged = await _results_for(settings, ALERT_INPUTS_TOPIC, crash_us)
            if observed and judged:
                break
            await asyncio.sleep(1)
        assert observed >= 1, "the stored reading never reached the indicators agent's topic"
        assert judged >= 1, "the stored reading never reached the alert engine's log"
    finally:
        await conn.close()
        publisher.close()
        # Off the event loop: the proxy runs in it, and a worker stopping cleanly talks to the broker
        # through it (stopped from the loop, each waited 20 s for a LeaveGroup that never went out).
        await asyncio.to_thread(stop_together, [pipeline.ingest, pipeline.worker])
        pipeline.stop()
        await proxy.stop()  # first: Tansu waits 5 s for open connections before it stops
        tansu.stop()
        await drop_database(settings.database_url)
