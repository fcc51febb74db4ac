"""The one failure a sender reports, and which HTTP answers are worth another try."""

from __future__ import annotations

# HTTP statuses that are worth another try besides 5xx: timeouts, too early, throttling.
RETRY_STATUSES = frozenset({408, 425, 429})


class SendError(Exception):
    """`permanent=True`: another try cannot help (the receiver refused the request itself), so the
    event becomes a dead letter at once instead of after every retry."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
