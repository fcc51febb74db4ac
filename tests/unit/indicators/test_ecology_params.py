"""Ecology parameters from the station registry, with per-station overrides and named errors."""

from __future__ import annotations

import dataclasses

import pytest

from schemas.registry import load_registry
from streams.indicators.ecology import EcologyParams, ParameterError, catalogue_markdown, params_for_station


def test_every_registry_station_has_valid_parameters():
    registry = load_registry()
    for station in registry.stations.values():
        params = params_for_station(station)
        assert params.sampling_interval_s == station.sampling_interval_s
        assert (params.marsh_platform_m is not None) == ("marsh_platform_m" in station.thresholds)
    saltmarsh = params_for_station(registry.get("liaohe-saltmarsh"))
    assert (saltmarsh.marsh_platform_m, saltmarsh.porewater_salinity_limit_psu) == (1.40, 30.0)
    assert params_for_station(registry.get("dalian")).porewater_salinity_limit_psu == 0.45


def test_thresholds_ecology_section_and_overrides():
    buoy = load_registry().get("jinzhou-bay-buoy")
    station = dataclasses.replace(buoy, thresholds={**buoy.thresholds, "ecology": {"chl_trigger_ug_l": 15}})
    params = params_for_station(station, {"hypoxia_mg_l": 3.0})
    assert (params.chl_trigger_ug_l, params.hypoxia_mg_l) == (15, 3.0)
    assert params.hypoxia_gap_us == 3 * 600 * 1_000_000


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chl_trigger_ug_l": -1}, "field 'overrides.chl_trigger_ug_l' must be a number > 0"),
        ({"baseline_days": 2.5}, "field 'overrides.baseline_days' must be an integer"),
        ({"do_supersaturation_pct": True}, "do_supersaturation_pct"),
        ({"chl_triger_ug_l": 5}, "field 'overrides.chl_triger_ug_l' is not an ecology parameter"),
        ({"baseline_min_days": 20}, "baseline_min_days' exceeds baseline_days"),
    ],
)
def test_errors_name_station_and_field(overrides, message):
    station = load_registry().get("north-yellow-sea-buoy")
    with pytest.raises(ParameterError, match="station 'north-yellow-sea-buoy'") as info:
        params_for_station(station, overrides)
    assert message in str(info.value)


def test_bad_thresholds_section_names_the_field():
    marsh = load_registry().get("yalu-estuary")
    station = dataclasses.replace(marsh, thresholds={**marsh.thresholds, "marsh_platform_m": "high"})
    with pytest.raises(ParameterError, match=r"'thresholds\.marsh_platform_m' must be a number"):
        params_for_station(station)


def test_catalogue_table_lists_the_alert_inputs():
    table = catalogue_markdown()
    for indicator in ("mhw_category", "bloom_risk", "salt_intrusion", "do_saturation_pct"):
        assert f"| `{indicator}` |" in table
    assert EcologyParams().chl_trigger_ug_l == 10.0
