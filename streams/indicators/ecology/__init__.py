"""Ecological indicators per station in event time: dissolved oxygen, marine heatwaves, algal bloom
risk, acidification and salinity, wetland water and blue carbon.

Pure domain code: no I/O except the explicit climatology file loader. The stream layer keeps one
`EcologyState` per station (JSON state in a table), feeds it every QC result of the input variables
(new and revised, a flag other than GOOD as a None value, which withdraws the reading) and publishes
the returned `Indicator` records, upserting by (station, indicator, time_us) and deleting on None.
"""

from schemas.indicators import Indicator, IndicatorSpec
from streams.indicators.ecology.catalogue import CATALOGUE, catalogue_markdown
from streams.indicators.ecology.climatology import (
    Climatology,
    ClimatologyError,
    climatology_to_csv,
    compute_climatology,
    load_climatology_csv,
)
from streams.indicators.ecology.heatwave import Event, detect_events
from streams.indicators.ecology.oxygen import Episode, do_saturation_pct, hypoxia_episodes
from streams.indicators.ecology.params import EcologyParams, ParameterError, params_for_station
from streams.indicators.ecology.state import INPUT_VARIABLES, EcologyState, compute_batch

__all__ = [
    "CATALOGUE",
    "INPUT_VARIABLES",
    "Climatology",
    "ClimatologyError",
    "EcologyParams",
    "EcologyState",
    "Episode",
    "Event",
    "Indicator",
    "IndicatorSpec",
    "ParameterError",
    "catalogue_markdown",
    "climatology_to_csv",
    "compute_batch",
    "compute_climatology",
    "detect_events",
    "do_saturation_pct",
    "hypoxia_episodes",
    "load_climatology_csv",
    "params_for_station",
]
