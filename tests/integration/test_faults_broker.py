"""Mosquitto killed (SIGKILL) again and again under load while ingest runs (issue 19).

Real private Mosquitto with the shipped settings, real ingest process, Tansu, a paced publisher in its
own process. When the connection drops ingest produces what it had read instead of waiting for a
redelivery that a killed broker, which had not saved it yet, never makes (7.4 messages lost per kill
at 400 msg/s before). What a kill can still cost is what was in transit at that instant: acknowledged
to the station, not yet read by ingest, not yet in the broker's last save (README, "What a broker kill
can cost"). On a quiet machine that is nothing; on a busy one ingest lags and a few go (426 a kill with
the machine loaded by builds; most likely the 1 lost in a CI run). Anything lost away from a kill
is tidewatch's own loss.
"""

from __future__ import annotations

import argparse

import numpy as np
import pytest

from benchmarks.broker_durability import online_round
from services.stack.mqtt import autosave_period_s

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]


async def test_broker_kills_under_load_lose_only_what_was_in_transit_at_a_kill(tmp_path) -> None:
    load = argparse.Namespace(rate=400.0, stations=50, kills=5, every=3.0, ingest_inflight=None)
    result = await online_round("shipped", (), load, tmp_path)
    assert result["acked"] > 5 * 3 * 400 * 0.8
    kills = np.asarray(result["kills_us"])
    # acknowledged at most one save period before the kill; scheduled up to the publisher's lag earlier
    window_us = (autosave_period_s() + result["max_lag_s"] + 0.5) * 1e6
    far_from_a_kill = [
        t for t in result["lost_publish_us"] if not np.any((kills - window_us <= t) & (t <= kills))
    ]
    assert not far_from_a_kill, f"{len(far_from_a_kill)} acknowledged messages lost away from any broker kill"
    assert result["lost_per_kill"] <= load.rate * autosave_period_s(), (
        "more than the broker's save period lost"
    )
