"""Which year a dead letter counts in: the time of the reading it carries, so a replayed or backfilled
year has its refusals in that year, not in the year the replay ran; the receive time when the letter
names no usable reading time (a malformed message, a bad time, or one after the letter was received)."""

from __future__ import annotations

import re

from schemas.contract import parse_time_us

# The first "time" of the payload (the message's, ahead of any backlog sample's); a regex, not a JSON
# parse, so a truncated message that still shows its time keeps it.
_TIME = re.compile(rb'"time"\s*:\s*"([^"]{1,64})"')
PAYLOAD_PREFIX_BYTES = 1024  # the time comes near the start of a message


def counted_time_us(payload_prefix: bytes, received_us: int) -> tuple[int, bool]:
    """(the time the letter counts at, whether that is its reading's own time)."""
    found = _TIME.search(payload_prefix)
    if found is not None:
        try:
            reading_us = parse_time_us(found.group(1).decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            return received_us, False
        if reading_us <= received_us:
            return reading_us, True
    return received_us, False


def count_by_reason(
    letters: list[tuple[str, bytes, int]], start_us: int, end_us: int
) -> tuple[dict[str, int], int]:
    """Letters (reason, payload prefix, received µs) counting in [start, end) per reason, and how many
    of those counted by their receive time."""
    out: dict[str, int] = {}
    by_receipt = 0
    for reason, payload, received_us in letters:
        at, own = counted_time_us(payload, received_us)
        if start_us <= at < end_us:
            out[reason] = out.get(reason, 0) + 1
            by_receipt += not own
    return dict(sorted(out.items())), by_receipt
