"""The batch judgement import and reprocess share equals a fresh stream engine over the whole series."""

from __future__ import annotations

import dataclasses

import numpy as np
from history_helpers import STATION, config, fresh_flags, series

from services.history.judge import Columns, empty_columns, judge, packed_code, stored_tests


def _as_dict(columns: Columns) -> dict[tuple[str, int], tuple[int, int]]:
    assert columns.flag is not None and columns.code is not None
    return {
        (v, t): (f, c)
        for v, t, f, c in zip(
            columns.variable.tolist(), columns.time_us.tolist(), columns.flag.tolist(), columns.code.tolist(),
            strict=True,
        )
    }  # fmt: skip


def _stored(columns: Columns, flags: dict[tuple[str, int], tuple[int, int]]) -> Columns:
    keys = list(zip(columns.variable.tolist(), columns.time_us.tolist(), strict=True))
    return Columns(
        columns.variable,
        columns.time_us,
        columns.value,
        np.array([flags[k][0] for k in keys], dtype=np.int16),
        np.array([flags[k][1] for k in keys], dtype=np.int64),
    )


def test_new_readings_get_the_flags_of_a_fresh_engine_over_the_series() -> None:
    readings, qc = series(), config()
    expected = fresh_flags(qc, readings)
    assert {f for f, _ in expected.values()} >= {1, 3, 4, 9}  # the series exercises the tests
    judged = judge(qc, STATION, empty_columns(True), readings, (0, 1 << 62))
    assert _as_dict(judged.new) == expected
    assert judged.duplicates == 0 and len(judged.changed) == 0


def test_a_second_part_next_to_stored_readings_corrects_their_flags_to_the_whole_series_flags() -> None:
    readings, qc = series(), config()
    expected = fresh_flags(qc, readings)
    order = np.argsort(readings.time_us, kind="stable")
    cut = readings.time_us[order][len(order) // 2 + 7]
    first, second = (
        readings.take(np.flatnonzero(readings.time_us < cut)),
        readings.take(np.flatnonzero(readings.time_us >= cut)),
    )
    one = judge(qc, STATION, empty_columns(True), first, (0, 1 << 62))
    stored = _as_dict(one.new)
    two = judge(qc, STATION, _stored(first, stored), second, (0, 1 << 62))
    stored.update(_as_dict(two.new))
    stored.update(_as_dict(two.changed))
    assert stored == expected
    assert len(two.changed) >= 1  # the last stored reading's spike test needed its next neighbour


def test_given_twice_the_first_value_wins_and_stored_readings_are_not_new() -> None:
    readings, qc = series(), config()
    doubled = Columns(
        np.concatenate([readings.variable, readings.variable]),
        np.concatenate([readings.time_us, readings.time_us]),
        np.concatenate([readings.value, readings.value + 1.0]),
    )
    judged = judge(qc, STATION, empty_columns(True), doubled, (0, 1 << 62))
    assert judged.duplicates == len(readings)
    np.testing.assert_array_equal(np.sort(judged.new.value), np.sort(readings.value))
    again = judge(qc, STATION, _stored(readings, _as_dict(judged.new)), readings, (0, 1 << 62))
    assert len(again.new) == 0 and again.duplicates == len(readings) and len(again.changed) == 0


def test_judged_again_with_a_new_threshold_only_the_window_changes() -> None:
    readings, old = series(), config()
    series_config = old.series[(STATION, "water_level_m")]
    assert series_config.gross_range is not None
    stricter = dataclasses.replace(
        series_config, gross_range=dataclasses.replace(series_config.gross_range, suspect_span=(0.0, 3.0))
    )
    new = dataclasses.replace(old, series={**old.series, (STATION, "water_level_m"): stricter})
    before, after = fresh_flags(old, readings), fresh_flags(new, readings)
    window = (
        int(readings.time_us.min()) + 6 * 3_600_000_000,
        int(readings.time_us.min()) + 30 * 3_600_000_000,
    )
    judged = judge(new, STATION, _stored(readings, before), empty_columns(), window)
    result = dict(before)
    result.update(_as_dict(judged.changed))
    inside = {k for k in before if window[0] <= k[1] < window[1]}
    assert {k: result[k] for k in inside} == {k: after[k] for k in inside}
    assert {k: result[k] for k in before if k not in inside} == {
        k: before[k] for k in before if k not in inside
    }
    assert len(judged.changed) > 0
    assert all(window[0] <= t < window[1] for t in judged.changed.time_us.tolist())


def test_stored_test_flags_round_trip_through_their_json() -> None:
    for code in (0, 0x11111111, 0x1314, 1 | (4 << 16)):
        assert packed_code(stored_tests(code)) == code
    assert packed_code(None) == -1 and stored_tests(-1) is None
    assert stored_tests(0x31) == '{"gap":1,"location":3}'
