"""What judged a run's readings: a digest of the stations' QC configuration and the QC code's version.

Recorded with every import and reprocess run, so a resumed run is refused the checkpoint of a run
judged with another configuration. Each stored row carries its station's own version as well
(``schemas.provenance``, ``config_versions``).
"""

from __future__ import annotations

from collections.abc import Iterable

from schemas.provenance import digest_of, plain
from streams.qc import QcConfig
from streams.qc.provenance import qc_code_version


def config_digest(config: QcConfig, stations: Iterable[str]) -> str:
    """sha256 over the series configuration and registry entry of each station (sorted), hex."""
    chosen = sorted(set(stations))
    document = {
        "late_horizon_s": config.late_horizon_s,
        "series": [plain(series) for key, series in sorted(config.series.items()) if key[0] in chosen],
        "stations": [plain(config.stations[s]) for s in chosen if s in config.stations],
    }
    return digest_of(document)


def code_version() -> str:
    """``tidewatch <version> qc:<digest of streams/qc>``: changes whenever the QC code does."""
    return qc_code_version()
