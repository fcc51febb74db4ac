"""The indicator version of a station: registry entry, sea-level and ecological parameters, SST climatology
and the indicator code's version.

The tide model behind a surge or tide row is not part of it: models are fitted while the stream runs, each
stored with the time it applies from (``tide_models.effective_from``), and a row's model is the newest one
effective at the row's time (the state re-emits the rows a new model changes).
"""

from __future__ import annotations

from typing import Any

from schemas.provenance import INDICATORS, ConfigVersion, code_version, digest_of, plain
from schemas.registry import Station
from streams.indicators.ecology import Climatology, params_for_station
from streams.indicators.sealevel import SeaLevelConfig
from streams.indicators.sealevel.compute import sealevel_station


def indicators_code_version() -> str:
    """Changes whenever a file of streams/indicators does."""
    return code_version("streams", "indicators")


def _climatology(climatology: Climatology | None) -> dict[str, Any] | None:
    if climatology is None:
        return None
    return {
        "source": climatology.source,
        "digest": digest_of([climatology.seas_degC.tolist(), climatology.thresh_degC.tolist()]),
    }


def indicator_version(station: Station, climatology: Climatology | None) -> ConfigVersion:
    """The parameters are built from the registry entry as the worker and a reprocess build them."""
    sealevel = SeaLevelConfig.from_station(station) if sealevel_station(station) else None
    document = {
        "station": plain(station),
        "sealevel": plain(sealevel),
        "ecology": plain(params_for_station(station)),
        "sst_climatology": _climatology(climatology),
    }
    return ConfigVersion(INDICATORS, station.id, indicators_code_version(), document)
