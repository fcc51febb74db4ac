"""Each variable's resolution (vocabulary.yaml): a power of ten, the decimals the API rounds aggregates to."""

from __future__ import annotations

import pytest

from schemas.vocabulary import VocabularyError, decimals_of, load_vocabulary, parse_vocabulary


def test_every_shipped_variable_states_a_resolution() -> None:
    vocabulary = load_vocabulary()
    assert all(v.resolution is not None for v in vocabulary.values())
    assert vocabulary["water_level_m"].decimals == 3 and vocabulary["wind_direction_deg"].decimals == 0
    assert round(2.0389999999999997, vocabulary["water_level_m"].decimals) == 2.039


def test_decimals_and_refusals() -> None:
    assert [decimals_of(r) for r in (0.00001, 0.01, 0.1, 1, 10)] == [5, 2, 1, 0, -1]
    for bad in (0.005, 0, -0.1, float("nan")):
        with pytest.raises(ValueError, match="not a positive power of ten"):
            decimals_of(bad)
    spec = {"description": "d", "unit": "m", "cf": "c", "physical": [0, 1], "resolution": 0.25}
    with pytest.raises(VocabularyError, match=r"'x'.*power of ten"):
        parse_vocabulary({"variables": {"x": spec}})
    assert parse_vocabulary({"variables": {"x": {**spec, "resolution": None}}})["x"].decimals is None
