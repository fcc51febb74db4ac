"""Streaming equals batch for every ecological indicator, whatever the arrival order within the
allowed lateness, with replays and restarts from the state's pieces."""

from __future__ import annotations

import json
from collections import Counter

import numpy as np
import pytest

from schemas.records import Sample
from streams.indicators.ecology import CATALOGUE, Climatology, EcologyParams, EcologyState, compute_batch
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.changelog import apply_pieces
from tests.unit.indicators.ecology_helpers import (
    day_us,
    final_values,
    late_arrivals,
    series_samples,
    stream,
)

STEP_US = 1800 * 1_000_000


@pytest.fixture(scope="module")
def station_series() -> list:
    """75 days of half-hourly readings of every input variable, crossing a month, season and year,
    with hypoxic nights, a heatwave, a bloom, salt intrusion, tides over the platform and data gaps."""
    rng = np.random.default_rng(11)
    n = 75 * 48
    t = day_us("2023-11-20") + np.arange(n) * STEP_US
    d = np.arange(n) / 48
    temp = 12 + 4 * np.exp(-(((d - 40) / 6) ** 2)) + rng.normal(0, 0.3, n)
    oxygen = 5.5 + 4 * np.sin(2 * np.pi * d) + 3 * (d > 50) * (d < 58) + rng.normal(0, 0.4, n)
    oxygen[rng.random(n) < 0.05] = np.nan
    chl = 2 + 14 * (d > 50) * (d < 58) + rng.normal(0, 0.3, n).clip(-1, 1)
    ph = 8.05 + 0.2 * (d > 52) * (d < 58) + rng.normal(0, 0.01, n)
    fc = np.where(np.sin(2 * np.pi * d) > 0, -6.0, 2.0) + rng.normal(0, 0.5, n)
    fc[rng.random(n) < 0.3] = np.nan
    fch4 = np.where(rng.random(n) < 0.4, np.nan, 25 + rng.normal(0, 5, n))
    level = 1.3 + 0.9 * np.sin(2 * np.pi * d * 1.932) + 0.1 * np.sin(2 * np.pi * d / 14)
    level[(d > 20) & (d < 22)] = np.nan
    return series_samples(
        t,
        water_temperature_degC=temp,
        salinity_psu=30 + rng.normal(0, 0.3, n),
        dissolved_oxygen_mg_l=oxygen,
        ph_total=ph,
        chlorophyll_ug_l=chl,
        water_level_m=level,
        porewater_salinity_psu=0.3 + 0.006 * d,
        co2_flux_umol_m2_s=fc,
        ch4_flux_nmol_m2_s=fch4,
        air_temperature_degC=np.full(n, 10.0),  # not an input: ignored
    )


CLIMATOLOGY = Climatology(np.full(366, 12.0), np.full(366, 13.0), "flat test climatology")
PARAMS = EcologyParams(sampling_interval_s=1800, marsh_platform_m=1.4, allowed_lateness_days=2)


@pytest.mark.parametrize("seed", [1, 2])
def test_streaming_equals_batch(station_series, seed):
    batch = compute_batch("st", station_series, PARAMS, CLIMATOLOGY)
    arrivals = late_arrivals(station_series, 2 * DAY_US, seed)
    last, records, _ = stream(arrivals, PARAMS, CLIMATOLOGY, seed=seed, max_chunk=150)
    assert final_values(last) == batch
    # Every family produced values, and late readings really corrected earlier emissions.
    produced = {name for name, _ in batch}
    expected = {
        "do_saturation_pct",
        "hypoxia_duration_h",
        "mhw_event_category",
        "bloom_risk",
        "ph_trend_per_yr",
        "salt_intrusion",
        "hydroperiod_monthly_h",
        "carbon_sink_season",
        "ghg_cumulative_co2eq_g_m2",
    }
    assert expected <= produced
    assert produced <= set(CATALOGUE)
    emissions = Counter((r.indicator, r.time_us) for r in records)
    assert max(emissions.values()) > 1
    assert max(batch[("bloom_risk", t)] for name, t in batch if name == "bloom_risk") == 3


def test_readings_later_than_the_allowed_lateness_are_counted_and_dropped(station_series):
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    recent = [s for s in station_series if s.time_us >= day_us("2023-12-10")]
    old = [s for s in station_series if s.time_us < day_us("2023-12-01")]
    state.update(recent)
    assert state.update(old) == []
    assert state.late_dropped == sum(
        sum(1 for name in s.values if name != "air_temperature_degC") for s in old
    )


def test_replaying_everything_changes_nothing(station_series):
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    first = state.update(station_series[:500])
    assert first
    assert state.update(station_series[:500]) == []
    assert state.update(list(reversed(station_series[400:500]))) == []


def test_state_is_pieces_and_bounded(station_series):
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    changelog: dict[str, object] = {}
    for k in range(0, len(station_series), 480):
        state.update(station_series[k : k + 480])
        apply_pieces(changelog, state.export())
    full = json.loads(json.dumps(state.export(full=True)))
    assert changelog == full  # the incremental writes add up to the whole state
    restored = EcologyState.from_pieces(changelog, PARAMS, CLIMATOLOGY)
    assert json.loads(json.dumps(restored.export(full=True))) == full
    assert (restored.raw, restored.rows) == (state.raw, state.rows)
    assert restored.emitted == {name: values for name, values in state.emitted.items() if values}
    assert len(state.raw) <= PARAMS.allowed_lateness_days + 1
    assert len(state.rows["oxygen"]) <= 2
    assert len(state.rows["wetland"]) <= 31
    assert len(state.rows["carbon"]) <= 2 * 31 + 29 + 1
    # Emitted values are remembered only for keys that can still change (the last update's open days).
    assert len(state.emitted["do_saturation_pct"]) <= (PARAMS.allowed_lateness_days + 1 + 10) * 48


def test_a_batch_writes_what_it_changed_not_the_whole_state(station_series):
    """One new reading rewrites its slot of raw readings and a few small pieces, whatever the state holds."""
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    for k in range(0, len(station_series) - 1, 48):
        state.update(station_series[k : min(k + 48, len(station_series) - 1)])
    whole = len(json.dumps(state.export(full=True)))
    state.update(station_series[-1:])
    pieces = state.export()
    assert f"raw/{station_series[-1].time_us // state.width_us}" in pieces
    assert not any(key.startswith("rows/") for key in pieces)  # no day closed
    assert len(json.dumps(pieces)) < whole / 4  # a slot of 16 samples and the open values
    assert state.export() == {}  # nothing changed since


def test_written_state_is_a_snapshot(station_series):
    """The changelog table keeps what it is given until faust serialises it: a later update of the
    station must not change it (the state written must be the one whose outputs are stored)."""
    state = EcologyState("st", PARAMS, CLIMATOLOGY)
    state.update(station_series[:300])
    written = state.export(full=True)
    blob = json.dumps(written)
    withdrawn = {name: None for name in station_series[299].values}
    state.update([*station_series[300:400], Sample(station_series[299].time_us, withdrawn)])
    assert json.dumps(written) == blob
    assert json.dumps(state.export(full=True)) != blob
