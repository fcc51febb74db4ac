"""A worker killed while writing a station's ecological state leaves only part of that write in the
changelog (any prefix of the export's records); the new owner restores from it and receives again the
readings after its last committed offset, never past the start of the torn write. Whatever the cut,
the restored state must end where the uninterrupted one does (see test_sealevel_torn_state.py)."""

from __future__ import annotations

import json

from streams.indicators.ecology import EcologyState
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.changelog import torn_table
from tests.unit.indicators.test_ecology_streaming import (  # noqa: F401  (a fixture)
    CLIMATOLOGY,
    PARAMS,
    station_series,
)

BATCH = 24  # half a day of half-hourly samples: day closings fall inside batches and between them


def test_a_torn_state_write_then_the_replay_ends_where_the_uninterrupted_state_does(station_series):  # noqa: F811
    feed = [station_series[i : i + BATCH] for i in range(0, len(station_series), BATCH)]
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    writes, states = [], []
    for batch in feed:
        state.update(batch)
        writes.append([(k, json.loads(json.dumps(v))) for k, v in state.export().items()])
        states.append(json.loads(json.dumps(state.export(full=True))))
    torn = 0
    for batch in range(3, len(feed), 9):
        for cut in range(1, len(writes[batch])):
            restored = EcologyState.from_pieces(torn_table(writes, batch, cut), PARAMS, CLIMATOLOGY)
            end = min(len(feed), batch + 3)
            for again in feed[batch:end]:
                restored.update(again)
            got = json.loads(json.dumps(restored.export(full=True)))
            expected = states[end - 1]
            assert got.keys() == expected.keys(), (batch, cut)
            for piece in expected:
                assert got[piece] == expected[piece], (batch, cut, piece)
            torn += 1
    assert torn > 50


def test_a_format_2_state_is_restored(station_series):  # noqa: F811
    """Format 2 kept the first open day and the family states (key `carry`) in the head."""
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    half = len(station_series) // 2
    state.update(station_series[:half])
    v3 = json.loads(json.dumps(state.export(full=True)))
    v2 = {k: v for k, v in v3.items() if k != "days"}
    v2["head"] = {**v3["head"], **v3["days"], "format": "tidewatch.ecology.state/2"}
    again = EcologyState.from_pieces(v2, PARAMS, CLIMATOLOGY)
    rest = station_series[half:]
    assert again.update(rest) == state.update(rest)
    assert again.export(full=True) == state.export(full=True)


def test_a_restored_state_deletes_the_raw_readings_of_days_it_found_closed(station_series):  # noqa: F811
    """A cut after the days piece closed a day but before the day's raw slots were deleted leaves them
    in the changelog; the restore leaves them out and its next export deletes them."""
    feed = [station_series[i : i + BATCH] for i in range(0, len(station_series), BATCH)]
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    writes = []
    for batch in feed:
        state.update(batch)
        writes.append([(k, json.loads(json.dumps(v))) for k, v in state.export().items()])
    checked = 0
    for batch in range(3, len(feed) - 1, 9):
        for cut in range(1, len(writes[batch])):
            table = torn_table(writes, batch, cut)
            restored = EcologyState.from_pieces(table, PARAMS, CLIMATOLOGY)
            restored.update(feed[batch])
            for key, value in restored.export().items():
                if value is None:
                    table.pop(key, None)
                else:
                    table[key] = json.loads(json.dumps(value))
            first_open = table["days"]["first_open"]  # type: ignore[index]
            stale = [
                k
                for k, v in table.items()
                if k.startswith("raw/") and any(t // DAY_US < first_open for p in v.values() for t, _ in p)
            ]
            assert not stale, (batch, cut, stale[:3])
            checked += 1
    assert checked > 50
