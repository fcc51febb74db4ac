"""`tidewatch api` as the command builds it (the API with the console at /console), served by uvicorn on
a free port in the test's event loop, and its /metrics read back as numbers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from services.api.app import create_app
from services.config import Settings
from services.console import create_console
from services.console.serve import serve_console

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@dataclass
class RunningApi:
    url: str
    app: FastAPI


@contextlib.asynccontextmanager
async def running_api(settings: Settings) -> AsyncIterator[RunningApi]:
    console = create_console(settings, None)
    app = create_app(settings, mounts={"/console": console})
    server = await serve_console(app)
    try:
        yield RunningApi(server.url, app)
    finally:
        await server.stop()
        await console.state.console.close()


async def scrape(http: httpx.AsyncClient, url: str) -> Samples:
    """Every sample of the API's /metrics, keyed by name and label set."""
    response = await http.get(url + "/metrics")
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples[(name, frozenset(labels.items()))]
