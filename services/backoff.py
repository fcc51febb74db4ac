"""Waiting between tries of something that failed: first_s, then twice that after each further failure, up
to max_s; ``reset()`` after a success starts again from first_s.

The one retry wait of every loop that reconnects or re-sends (ingest, topic creation, database
connections, the stream workers' writes and producers). It knows nothing of what is retried: each loop
keeps its own exceptions, log line and stopping rule.
"""

from __future__ import annotations

import asyncio


class Backoff:
    """Doubling waits, capped: ``await backoff.sleep()`` after each failed try."""

    __slots__ = ("first_s", "max_s", "next_s")

    def __init__(self, first_s: float, max_s: float) -> None:
        if not first_s > 0:
            raise ValueError(f"first wait must be positive, got {first_s!r} s")
        if not max_s >= first_s:
            raise ValueError(f"longest wait ({max_s!r} s) must not be below the first ({first_s!r} s)")
        self.first_s = first_s
        self.max_s = max_s
        self.next_s = first_s  # what the next sleep() waits (for the log line before it)

    async def sleep(self) -> None:
        """Wait ``next_s``, then double it (up to ``max_s``) for the next failure."""
        await asyncio.sleep(self.next_s)
        self.next_s = min(self.next_s * 2, self.max_s)

    def reset(self) -> None:
        """A try succeeded: the next failure waits ``first_s`` again."""
        self.next_s = self.first_s
