"""One station's failure stays that station's (issue 12: no station can stop the worker).

``Isolated`` runs each station's part of a batch; here the real sea-level state of one gauge is given
columns that do not line up (what a bug upstream could hand it) and raises, while the other gauge's
readings still give their indicators, and the failed part is kept whole in a dead letter.
"""

from __future__ import annotations

import numpy as np
import orjson
from prometheus_client import REGISTRY

from schemas.contract import PROCESSING_FAILED, REASONS
from streams.indicators.sealevel import SeaLevelConfig, SeaLevelState
from streams.isolate import Isolated

T0_US = 1_790_000_000 * 1_000_000


def failures(agent: str) -> float:
    return REGISTRY.get_sample_value("tidewatch_station_failures_total", {"agent": agent}) or 0.0


def test_a_failing_station_becomes_a_dead_letter_and_the_others_go_on() -> None:
    times = T0_US + np.arange(120, dtype=np.int64) * 60_000_000
    levels = 2.0 + 0.5 * np.sin(np.arange(120) / 20)
    batch = {
        "dalian": (times, levels),
        "yingkou": (times, levels[:-1]),  # one value short: the state cannot take these columns
        "huludao": (times, levels),
    }
    states = {station: SeaLevelState(SeaLevelConfig(station, 60.0)) for station in batch}
    isolated = Isolated("indicators")
    before = failures("indicators")
    out = {}
    for station, (t, v) in batch.items():
        out[station] = isolated.run(
            station,
            lambda s=station, t=t, v=v: states[s].update("water_level_m", t, v),
            lambda t=t, v=v: orjson.dumps({"times": t.tolist(), "values": v.tolist()}),
        )
    assert out["yingkou"] is None
    assert out["dalian"] and out["huludao"]  # the daily and monthly means of the stations around it
    assert {i.indicator for i in out["dalian"]} == {i.indicator for i in out["huludao"]}
    [letter] = isolated.letters
    assert (letter.station, letter.reason, letter.source) == (
        "yingkou",
        PROCESSING_FAILED,
        "worker:indicators",
    )
    assert letter.detail.startswith(("ValueError", "IndexError")) and ".py:" in letter.detail
    assert len(orjson.loads(letter.payload)["values"]) == 119  # the failed part, whole
    assert failures("indicators") == before + 1
    assert PROCESSING_FAILED in REASONS  # stored and counted like every dead-letter reason


def test_results_pass_through_untouched() -> None:
    isolated = Isolated("alerts")
    assert isolated.run("dalian", lambda: [], lambda: b"") == []  # nothing to say is not a failure
    assert isolated.letters == []
