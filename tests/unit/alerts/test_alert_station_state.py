"""The per-station alert state as the changelog table writes it (faust encodes values with orjson)."""

from __future__ import annotations

import orjson

from alerts.inputs import INDICATOR, READING, Observation
from alerts.station_state import StationState


def test_buffer_round_trips_through_the_changelog_encoding():
    state = StationState(max_seen_us=3_000, clock_us=1_000, late_count=2, late_revisions=1)
    waiting = [
        Observation("buoy-1", READING, "water_temperature_degC", 2_000, 12.5, 1, (("gross_range", 1),)),
        Observation("buoy-1", READING, "salinity_psu", 2_000, None, 9, ()),
        Observation("buoy-1", INDICATOR, "do_daily_min_mg_l", 2_000, 4.2),
        Observation("buoy-1", INDICATOR, "do_daily_min_mg_l", 2_000, 4.4),  # same time: its own place
    ]
    for observation in waiting:
        state.buffer[state.key(observation)] = observation
    state.alert("water_temperature_high")

    written = orjson.dumps(state.to_dict(), option=orjson.OPT_NON_STR_KEYS)
    restored = StationState.from_dict(orjson.loads(written))

    assert restored.buffer == state.buffer
    # Equal-time indicators keep their order (their places are given back in it).
    assert [o for o in restored.buffer.values() if o.kind == INDICATOR] == waiting[2:]
    assert orjson.dumps(restored.to_dict(), option=orjson.OPT_NON_STR_KEYS) == written
    row = ["buoy-1", READING, "water_temperature_degC", 2_000, 12.5, 1, [["gross_range", 1]]]
    assert row in orjson.loads(written)["buffer"]  # the documented array form of a waiting reading
