"""Reading a process's Prometheus page: how the demo and the sample year follow the pipeline's progress."""

from __future__ import annotations

import urllib.request


def scrape_metrics(port: int) -> str:
    """The /metrics text of a local process, or "" while it is still starting."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=1) as response:
            return response.read().decode()
    except OSError:
        return ""


def metric_total(text: str, name: str) -> float:
    """Sum every series of a metric in a Prometheus text page."""
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if (line.startswith(name + "{") or line.startswith(name + " ")) and not line.startswith("#")
    )
