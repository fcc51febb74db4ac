"""Start a faust worker with every tidewatch agent registered."""

from __future__ import annotations

import faust

from streams import store  # noqa: F401  (registers the storage agents)
from streams.app import app


def run_worker(loglevel: str = "info") -> None:
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
