"""What judged a run's readings: a digest of the stations' QC configuration and the QC code's version.

Recorded with every import and reprocess run, so a flag can be traced to the configuration and code
that gave it, and a resumed run is refused the checkpoint of a run judged with another configuration.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import metadata, resources
from typing import Any

import orjson

from streams.qc import QcConfig


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in sorted(value.items(), key=lambda kv: str(kv[0]))}
    if isinstance(value, frozenset | set):
        return sorted(_plain(v) for v in value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def config_digest(config: QcConfig, stations: Iterable[str]) -> str:
    """sha256 over the series configuration and registry entry of each station (sorted), hex."""
    chosen = sorted(set(stations))
    document = {
        "late_horizon_s": config.late_horizon_s,
        "series": [_plain(series) for key, series in sorted(config.series.items()) if key[0] in chosen],
        "stations": [_plain(config.stations[s]) for s in chosen if s in config.stations],
    }
    return hashlib.sha256(orjson.dumps(document, option=orjson.OPT_SORT_KEYS)).hexdigest()


@cache
def code_version() -> str:
    """``tidewatch <version> qc:<digest of streams/qc/*.py>``: changes whenever the QC code does."""
    try:
        version = metadata.version("tidewatch")
    except metadata.PackageNotFoundError:
        version = "unknown"
    digest = hashlib.sha256()
    folder = resources.files("streams").joinpath("qc")
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".py"):
            digest.update(entry.name.encode())
            digest.update(entry.read_bytes())
    return f"tidewatch {version} qc:{digest.hexdigest()[:12]}"
