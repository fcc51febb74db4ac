"""The one retry wait (services/backoff.py): doubling from the first wait up to the cap, reset after a
success, and a clear refusal of waits that make no sense."""

from __future__ import annotations

import time

import pytest

from services.backoff import Backoff


async def test_waits_double_up_to_the_cap_and_reset_starts_again() -> None:
    backoff = Backoff(0.001, 0.004)
    waits = []
    for _ in range(5):
        waits.append(backoff.next_s)
        started = time.monotonic()
        await backoff.sleep()
        assert time.monotonic() - started >= waits[-1] * 0.9
    assert waits == [0.001, 0.002, 0.004, 0.004, 0.004]
    backoff.reset()
    assert backoff.next_s == 0.001


@pytest.mark.parametrize(
    ("first_s", "max_s", "message"),
    [
        (0.0, 1.0, "first wait must be positive, got 0.0 s"),
        (-1.0, 1.0, "first wait must be positive"),
        (2.0, 1.0, r"longest wait \(1.0 s\) must not be below the first \(2.0 s\)"),
    ],
)
def test_refuses_nonsense_waits(first_s: float, max_s: float, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(first_s, max_s)
