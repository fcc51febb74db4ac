"""The station registry and vocabulary load, and a bad file names the station and field."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from schemas.registry import RegistryError, default_registry_path, load_registry, parse_registry
from schemas.vocabulary import load_vocabulary

DOCUMENT = yaml.safe_load(default_registry_path().read_text())


def test_sample_network_covers_the_liaoning_coast() -> None:
    registry = load_registry()
    kinds = {s.kind for s in registry.stations.values()}
    assert len(registry) >= 12
    assert kinds == {"tide_gauge", "buoy", "wetland", "seagrass"}
    for station in registry.stations.values():
        assert 38.0 < station.latitude < 42.0 and 119.0 < station.longitude < 125.0, station.id
        if station.kind == "tide_gauge":
            levels = station.thresholds["warning_water_level_m"]
            assert levels["blue"] < levels["yellow"] < levels["orange"] < levels["red"]


def test_every_variable_names_its_unit_and_range() -> None:
    vocabulary = load_vocabulary()
    for var_id, variable in vocabulary.items():
        assert variable.unit and variable.cf, var_id
        assert variable.physical_min < variable.physical_max


def _broken(edit) -> dict:  # type: ignore[no-untyped-def]
    document = copy.deepcopy(DOCUMENT)
    edit(document["stations"][0])
    return document


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda s: s.pop("kind"), "station 'dalian': missing field 'kind'"),
        (lambda s: s.update(kind="satellite"), "field 'kind' must be one of"),
        (lambda s: s.update(latitude="north"), "field 'latitude' must be int or float"),
        (lambda s: s.update(latitude=95.0), "is not a WGS84 coordinate"),
        (lambda s: s.update(variables=["water_level_m", "sea_snakes"]), "unknown variables ['sea_snakes']"),
        (lambda s: s.update(sampling_interval_s=0), "'sampling_interval_s' must be positive"),
        (lambda s: s["datum"].pop("msl_above_datum_m"), "station 'dalian' datum: missing field"),
        (lambda s: s.update(tide_inference={}), "takes either 'reference_station' or 'ratios'"),
        (
            lambda s: s.update(tide_inference={"reference_station": "lushun", "ratios": []}),
            "takes either 'reference_station' or 'ratios'",
        ),
        (lambda s: s.update(tide_inference={"reference_station": "dalian"}), "is not another tide gauge"),
        (lambda s: s.update(tide_inference={"reference_station": "nowhere"}), "'nowhere' is not another"),
        (lambda s: s.update(tide_inference={"ratio": []}), "tide_inference: unknown field 'ratio'"),
        (
            lambda s: s.update(
                tide_inference={"ratios": [{"constituent": "P1", "reference": "P1", "amplitude_ratio": 0.3}]}
            ),
            "tide_inference.ratios[0]: 'constituent' and 'reference' must be two constituent names",
        ),
        (
            lambda s: s.update(
                tide_inference={
                    "ratios": [{"constituent": "P1", "reference": "K1", "amplitude_ratio": float("nan")}]
                }
            ),
            "'amplitude_ratio' must be in (0, 10)",
        ),
        (
            lambda s: s.update(kind="buoy", tide_inference={"reference_station": "lushun"}),
            "'tide_inference' is for tide gauges, not a buoy",
        ),
    ],
)
def test_invalid_registry_names_station_and_field(edit, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(RegistryError) as excinfo:
        parse_registry(_broken(edit))
    assert message in str(excinfo.value)


def test_duplicate_station_ids_are_refused() -> None:
    document = copy.deepcopy(DOCUMENT)
    document["stations"].append(copy.deepcopy(document["stations"][0]))
    with pytest.raises(RegistryError, match="station 'dalian': listed twice"):
        parse_registry(document)


def test_a_tide_gauge_names_how_its_short_fits_infer() -> None:
    document = copy.deepcopy(DOCUMENT)
    document["stations"][0]["tide_inference"] = {
        "ratios": [{"constituent": "P1", "reference": "K1", "amplitude_ratio": 0.331, "phase_offset_deg": 5}]
    }
    document["stations"][1]["tide_inference"] = {"reference_station": "dalian"}
    stations = parse_registry(document).stations
    ratio = stations["dalian"].tide_inference.ratios[0]  # type: ignore[union-attr]
    assert (ratio.constituent, ratio.reference, ratio.amplitude_ratio, ratio.phase_offset_deg) == (
        "P1",
        "K1",
        0.331,
        5,
    )
    assert stations["lushun"].tide_inference.reference_station == "dalian"  # type: ignore[union-attr]
    assert load_registry().stations["dalian"].tide_inference is None


def test_a_file_is_checked_once_per_process_and_again_when_its_bytes_change(tmp_path: Path) -> None:
    path = tmp_path / "stations.yaml"
    text = default_registry_path().read_text()
    path.write_text(text)
    first = load_registry(path)
    assert load_registry(path) is first
    changed = text.replace("name: Dalian (Laohutan) tide gauge", "name: Dalian (Laohutan) gauge", 1)
    assert changed != text
    path.write_text(changed)
    again = load_registry(path)
    assert again is not first and again.stations["dalian"].name == "Dalian (Laohutan) gauge"
