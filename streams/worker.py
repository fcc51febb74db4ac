"""Start a faust worker with every tidewatch agent registered."""

from __future__ import annotations

import faust
from prometheus_client import start_http_server

from streams import alerting, indicate, lag, store  # noqa: F401  (registers the agents and timers)
from streams.app import app, settings


def run_worker(loglevel: str = "info") -> None:
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
