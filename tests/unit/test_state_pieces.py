"""Every changelog record of the state tables is bounded, whatever the size of the piece."""

from __future__ import annotations

import orjson
import pytest

from streams.indicators.pieces import piece_width_us
from streams.state import MAX_PIECE_BYTES, part_count, split_piece


@pytest.mark.parametrize("readings", [0, 10, 20_000, 200_000])
def test_a_piece_of_any_size_is_written_in_bounded_records_and_read_back_whole(readings):
    # An hour of raw readings of a station sending far faster than its sampling interval.
    value = {"water_level_m": [[1_700_000_000_000_000 + i, 1.25 + i * 1e-6] for i in range(readings)]}
    data = orjson.dumps(value)
    head, *parts = split_piece(data)
    assert all(len(record) <= MAX_PIECE_BYTES for record in (head, *parts))
    assert part_count(head) == len(parts)
    whole = b"".join(parts) if parts else head
    assert orjson.loads(whole) == value
    assert bool(parts) == (len(data) > MAX_PIECE_BYTES)


@pytest.mark.parametrize(
    ("interval_s", "width_min"),
    [(1, 1), (60, 15), (360, 60), (600, 120), (1800, 480), (3600, 720), (86_400, 1440)],
)
def test_piece_width_holds_about_sixteen_intervals_and_divides_a_day(interval_s, width_min):
    width_us = piece_width_us(interval_s)
    assert width_us == width_min * 60_000_000
    assert 86_400_000_000 % width_us == 0
