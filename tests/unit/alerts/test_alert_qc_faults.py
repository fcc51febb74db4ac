"""sensor_repeated_fail on readings flagged by the stream's own QC engine: isolated spikes (as the
simulator injects them) are not a failing sensor; a sensor stuck out of range or gone erratic is."""

from __future__ import annotations

import numpy as np
import pytest
from alert_helpers import feed, kinds, qc_checked

from services.simulate.model import SPIKE_FRACTION_OF_RANGE

STATION, VARIABLE = "dalian", "water_level_m"
MINUTES = 150


@pytest.fixture(scope="module")
def spike_m(registry) -> float:
    """The simulator's water-level spike: a fraction of the physical range (3.2 m)."""
    variable = registry.variables[VARIABLE]
    return SPIKE_FRACTION_OF_RANGE * (variable.physical_max - variable.physical_min)


def tide(minutes: int = MINUTES) -> np.ndarray:
    """A semidiurnal tide with a centimetre of sensor noise, one reading a minute."""
    t_h = np.arange(minutes) / 60.0
    noise = np.random.default_rng(5).normal(0.0, 0.01, minutes)
    return np.round(2.0 + 1.5 * np.sin(2 * np.pi * t_h / 12.42) + noise, 3)


def repeated_fail(engine, registry, values: np.ndarray) -> list:
    observations = qc_checked(registry, STATION, VARIABLE, values.tolist())
    return [e for e in feed(engine, observations) if e.rule == "sensor_repeated_fail"]


def spike_failed(registry, values: np.ndarray) -> list[int]:
    """Minutes whose reading the spike test fails."""
    observations = qc_checked(registry, STATION, VARIABLE, values.tolist())
    return [minute for minute, o in enumerate(observations) if ("spike", 4) in o.qc_tests]


@pytest.mark.parametrize("bad", [[20, 90], [20, 23], [20, 21]], ids=["apart", "3 min apart", "side by side"])
def test_isolated_spikes_are_not_a_failing_sensor(engine, registry, spike_m, bad):
    values = tide()
    values[bad] += spike_m
    # The premise: QC fails more readings than there are spikes (a spike's neighbours fail too).
    assert len(spike_failed(registry, values)) > len(bad)
    assert repeated_fail(engine, registry, values) == []


def test_a_sensor_stuck_out_of_range_fires_once(engine, registry):
    values = tide()
    values[20:60] = 20.0  # beyond the 15 m sensor span: gross range fails every reading
    # Third failed reading at 22 min; keep-firing holds the alert 1 h after the last one (59 min).
    assert kinds(repeated_fail(engine, registry, values)) == [
        ("firing", "orange", 22),
        ("resolved", "orange", 120),
    ]


def test_an_erratic_sensor_fires_once(engine, registry, spike_m):
    values = tide()
    values[20:60] += spike_m * (-1.0) ** np.arange(40)  # every reading a spike, inside the sensor span
    failed = spike_failed(registry, values)
    assert failed[:7] == list(range(19, 26))
    # Seven spike fails in a row (19 … 25 min) need at least three bad values: firing at 25 min.
    events = repeated_fail(engine, registry, values)
    assert kinds(events)[0] == ("firing", "orange", 25)
    assert [e.kind for e in events] == ["firing", "resolved"]
