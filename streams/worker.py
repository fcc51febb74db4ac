"""Start a faust worker with the tidewatch agents registered (all of them unless told otherwise)."""

from __future__ import annotations

import importlib

import faust
from prometheus_client import start_http_server

from streams import lag  # noqa: F401  (registers the consumer-lag timer)
from streams.app import app, settings

# Importing a module registers its agents. TIDEWATCH_AGENTS narrows the set, e.g. to measure the
# storage and QC stage alone in a benchmark; storage is always on.
AGENT_MODULES = {
    "store": "streams.agents.quality_control",
    "indicate": "streams.agents.indicators",
    "alerting": "streams.agents.alerts",
}


def run_worker(loglevel: str = "info") -> None:
    for name in sorted({"store", *settings.agents}):
        importlib.import_module(AGENT_MODULES[name])
    if settings.metrics_port:
        start_http_server(settings.metrics_port, addr=settings.metrics_host)
    faust.Worker(app, loglevel=loglevel).execute_from_commandline()
