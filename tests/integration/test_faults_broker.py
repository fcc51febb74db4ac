"""Mosquitto killed (SIGKILL) again and again under load while ingest runs (issue 19).

Real private Mosquitto with the shipped settings, real ingest process, Tansu, a paced publisher in its
own process. Every message the broker acknowledged to the station must reach Kafka: ingest had read
it (the broker hands messages over at once), so when the connection drops ingest produces what it
read instead of waiting for a redelivery that a killed broker, which had not saved it yet, never
makes (7.4 messages lost per kill at 400 msg/s before).
"""

from __future__ import annotations

import argparse

import pytest

from benchmarks.broker_durability import online_round

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_broker_kills_under_load_lose_nothing_that_reached_ingest(tmp_path) -> None:
    load = argparse.Namespace(rate=400.0, stations=50, kills=5, every=3.0, ingest_inflight=None)
    result = await online_round("shipped", (), load, tmp_path)
    assert result["acked"] > 5 * 3 * 400 * 0.8
    assert result["lost"] == 0, f"{result['lost']} acknowledged messages never reached Kafka"
