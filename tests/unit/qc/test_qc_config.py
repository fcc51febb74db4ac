"""The packaged QC configuration and the start-up validation of QC configuration files."""

from __future__ import annotations

import copy
import re

import pytest
import yaml
from qc_helpers import registry_of, station

from schemas.registry import load_registry
from schemas.vocabulary import load_vocabulary
from streams.qc import QcConfigError, load_qc_config, parse_qc_config
from streams.qc.config import default_qc_config_path


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def packaged(registry):
    return load_qc_config(registry)


def test_every_series_of_the_registry_is_configured(registry, packaged):
    expected = {(s.id, v) for s in registry.stations.values() for v in s.variables}
    assert set(packaged.series) == expected


def test_every_vocabulary_variable_has_defaults_within_its_physical_range():
    document = yaml.safe_load(default_qc_config_path().read_text(encoding="utf-8"))
    vocabulary = load_vocabulary()
    assert set(document["defaults"]) == set(vocabulary)
    for variable, block in document["defaults"].items():
        fail = block["gross_range"]["fail_span"]
        physical = vocabulary[variable]
        assert physical.physical_min <= fail[0] < fail[1] <= physical.physical_max, variable


def test_station_overrides_and_registry_thresholds_are_applied(packaged):
    dalian = packaged.get("dalian", "water_temperature_degC")
    assert dalian.climatology is not None and dalian.climatology.monthly[7] == (20.0, 28.0)
    assert packaged.get("lushun", "water_temperature_degC").climatology is None
    assert packaged.get("liaohe-saltmarsh", "water_level_m").flat_line is None
    assert packaged.get("dalian", "water_level_m").flat_line.fail_count == 21600 // 60
    buoy = packaged.get("jinzhou-bay-buoy", "longitude_deg").location
    assert buoy.suspect_distance_km == 0.5  # the registry's watch circle
    assert (buoy.station_latitude, buoy.station_longitude) == (40.78, 121.05)
    assert packaged.get("jinzhou-bay-buoy", "water_temperature_degC").location is None
    # gap: 30 sampling intervals of each station
    assert packaged.get("dalian", "water_level_m").gap.fail_span_s == 1800
    assert packaged.get("liaohe-saltmarsh", "water_level_m").gap.fail_span_s == 30 * 1800


def test_missing_gross_range_falls_back_to_the_physical_range():
    registry = registry_of(station("s", ["salinity_psu"]))
    config = parse_qc_config({}, registry).get("s", "salinity_psu")
    assert config.gross_range.fail_span == (0.0, 45.0) and config.gross_range.suspect_span is None
    assert config.spike is None and config.gap is None


def test_a_more_specific_layer_merges_key_by_key_and_null_disables():
    registry = registry_of(station("s", ["water_level_m"], interval_s=600))
    document = {
        "common": {"gap": {"fail_intervals": 6}},
        "defaults": {"water_level_m": {"spike": {"suspect_threshold": 0.3, "fail_threshold": 1.0}}},
        "stations": {
            "s": {"water_level_m": {"spike": {"fail_threshold": 2.0}, "gap": {"fail_span_s": 7200}}}
        },
    }
    config = parse_qc_config(document, registry).get("s", "water_level_m")
    assert (config.spike.suspect_threshold, config.spike.fail_threshold) == (0.3, 2.0)
    assert config.gap.fail_span_s == 7200
    document["stations"]["s"]["water_level_m"] = {"spike": None}
    assert parse_qc_config(document, registry).get("s", "water_level_m").spike is None


BUOY = station(
    "b", ["latitude_deg", "longitude_deg", "water_level_m"], kind="buoy", thresholds={"watch_circle_km": 1}
)
GOOD = {"defaults": {"water_level_m": {"spike": {"suspect_threshold": 0.3, "fail_threshold": 1.0}}}}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["defaults"]["water_level_m"]["spike"].update(suspect_threshold=0),
            "station 'b' variable 'water_level_m': spike.suspect_threshold must be > 0",
        ),
        (
            lambda d: d["defaults"]["water_level_m"]["spike"].update(fail_threshold=0.1),
            "station 'b' variable 'water_level_m': spike.fail_threshold must be >= suspect_threshold",
        ),
        (
            lambda d: d["defaults"]["water_level_m"]["spike"].update(suspect_treshold=1),
            "station 'b' variable 'water_level_m': spike: unknown field(s) ['suspect_treshold']",
        ),
        (lambda d: d.update(stations={"nowhere": {}}), "station 'nowhere': not in the station registry"),
        (
            lambda d: d.update(stations={"b": {"salinity_psu": {}}}),
            "station 'b' variable 'salinity_psu': not measured at this station",
        ),
        (lambda d: d["defaults"].update(sea_level_ft={}), "defaults: unknown variable 'sea_level_ft'"),
        (
            lambda d: d["defaults"]["water_level_m"].update(
                gross_range={"fail_span": [-1, 1], "suspect_span": [-2, 0]}
            ),
            "station 'b' variable 'water_level_m': gross_range.suspect_span [-2.0, 0.0] must lie within",
        ),
        (
            lambda d: d["defaults"]["water_level_m"].update(climatology={"monthly": [[0, 1]] * 11}),
            "station 'b' variable 'water_level_m': climatology.monthly must list 12",
        ),
        (
            lambda d: d["defaults"]["water_level_m"].update(
                flat_line={"suspect_threshold": 30, "fail_threshold": 60, "tolerance": 0.01}
            ),
            "station 'b' variable 'water_level_m': flat_line.suspect_threshold must be >= the sampling",
        ),
        (
            lambda d: d["defaults"]["water_level_m"].update(
                attenuated_signal={"suspect_threshold": 1, "fail_threshold": 0.5}
            ),
            "station 'b' variable 'water_level_m': attenuated_signal.test_period (s) is required",
        ),
        (
            lambda d: d.update(location={"bbox": [125, 36, 117, 41]}),
            "station 'b': location.bbox longitudes must be [low, high] with low < high",
        ),
        (
            lambda d: d.update(location={"fail_distance_km": 0.5}),
            "station 'b': location.fail_distance_km must be >= suspect_distance_km (1)",
        ),
        (lambda d: d.update(late_horizon_s="6h"), "qc config.late_horizon_s must be a finite number"),
        (lambda d: d.update(thresholds={}), "qc config: unknown field(s) ['thresholds']"),
    ],
)
def test_invalid_configuration_names_station_variable_and_field(change, message):
    document = copy.deepcopy(GOOD)
    change(document)
    with pytest.raises(QcConfigError, match=re.escape(message)):
        parse_qc_config(document, registry_of(BUOY))


def test_location_block_on_a_station_without_position_is_an_error():
    registry = registry_of(station("g", ["water_level_m"]))
    with pytest.raises(QcConfigError, match=r"station 'g'.*location needs latitude_deg and longitude_deg"):
        parse_qc_config({"stations": {"g": {"location": {"fail_distance_km": 3}}}}, registry)


def test_registry_station_qc_mapping_is_the_most_specific_layer():
    spec = station("s", ["water_level_m"])
    spec["qc"] = {"water_level_m": {"spike": {"suspect_threshold": 0.2, "fail_threshold": 0.4}}}
    config = parse_qc_config(GOOD, registry_of(spec)).get("s", "water_level_m")
    assert (config.spike.suspect_threshold, config.spike.fail_threshold) == (0.2, 0.4)
