"""The per-station alert state as the changelog table writes it (faust encodes values with orjson)."""

from __future__ import annotations

import orjson
from alert_helpers import at, reading

from alerts.station_state import StationState


def test_state_round_trips_through_the_changelog_encoding(engine):
    engine.observe([reading("dalian", "water_level_m", m, 3.7 + 0.1 * m) for m in range(5)], at(7))
    state = engine.stations["dalian"]
    state.late_count, state.late_revisions = 2, 1
    written = orjson.dumps(state.to_dict(), option=orjson.OPT_NON_STR_KEYS)
    restored = StationState.from_dict(orjson.loads(written))
    assert restored == state
    assert orjson.dumps(restored.to_dict(), option=orjson.OPT_NON_STR_KEYS) == written
    # The undo point of the last reading (what QC may still withdraw) travels with it.
    assert restored.alerts["water_level_warning"].undo["water_level_m"][0] == at(4)
    assert (restored.clock_us, restored.arrival_us) == (at(4), at(7))
    assert restored.now_us(at(8)) == at(5)
