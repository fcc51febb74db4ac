"""The QC version of a station: its series configuration, registry entry and the QC code's version."""

from __future__ import annotations

from schemas.provenance import QC, ConfigVersion, code_version, plain
from streams.qc.config import QcConfig


def qc_code_version() -> str:
    """Changes whenever a file of streams/qc does."""
    return code_version("streams", "qc")


def qc_version(config: QcConfig, station: str) -> ConfigVersion:
    """What judges the station's readings (a station without QC series still has one: no tests)."""
    document = {
        "late_horizon_s": config.late_horizon_s,
        "series": [plain(series) for key, series in sorted(config.series.items()) if key[0] == station],
        "station": plain(config.stations.get(station)),
    }
    return ConfigVersion(QC, station, qc_code_version(), document)
