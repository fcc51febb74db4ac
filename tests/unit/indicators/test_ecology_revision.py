"""QC flag revisions: a reading QC later downgrades is withdrawn from every ecological indicator it fed.

The invariant: feed provisional flags then corrections (downgrades, upgrades, late ones, re-sends) with
restarts and replays in between, and the last value emitted per key equals the batch over the final
usable readings. The stream layer hands a result that is not GOOD to the state as a None value.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
import pytest

from schemas.records import Sample
from streams.indicators.ecology import Climatology, EcologyParams, EcologyState, compute_batch
from streams.indicators.ecology.calendar import DAY_US
from tests.unit.indicators.ecology_helpers import day_us, final_values, stream
from tests.unit.indicators.qc_feed import FAIL, GOOD, SUSPECT, QcFeed, qc_feed

STEP_US = 1800 * 1_000_000
CLIMATOLOGY = Climatology(np.full(366, 12.0), np.full(366, 13.0), "flat test climatology")
PARAMS = EcologyParams(sampling_interval_s=1800, marsh_platform_m=1.4, allowed_lateness_days=2)
# Spike offsets that QC rejects: false hypoxia, false heat, a false bloom, salt and flux outliers.
SPIKE = {
    "water_temperature_degC": 6.0,
    "salinity_psu": -12.0,
    "dissolved_oxygen_mg_l": -5.0,
    "ph_total": 0.6,
    "chlorophyll_ug_l": 300.0,
    "water_level_m": 1.5,
    "porewater_salinity_psu": 1.0,
    "co2_flux_umol_m2_s": -40.0,
    "ch4_flux_nmol_m2_s": 400.0,
}


def _columns(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """40 days crossing a month, season and year: hypoxic nights, a heatwave, a bloom, tides, gaps."""
    d = np.arange(n) / 48
    oxygen = 5.5 + 4 * np.sin(2 * np.pi * d) + 3 * (d > 25) * (d < 32) + rng.normal(0, 0.4, n)
    fc = np.where(np.sin(2 * np.pi * d) > 0, -6.0, 2.0) + rng.normal(0, 0.5, n)
    fc[rng.random(n) < 0.2] = np.nan
    level = 1.3 + 0.9 * np.sin(2 * np.pi * d * 1.932)
    level[(d > 10) & (d < 11)] = np.nan
    return {
        "water_temperature_degC": 12 + 4 * np.exp(-(((d - 18) / 5) ** 2)) + rng.normal(0, 0.3, n),
        "salinity_psu": 30 + rng.normal(0, 0.3, n),
        "dissolved_oxygen_mg_l": oxygen,
        "ph_total": 8.05 + 0.2 * (d > 27) * (d < 32) + rng.normal(0, 0.01, n),
        "chlorophyll_ug_l": 2 + 14 * (d > 25) * (d < 32) + rng.normal(0, 0.3, n).clip(-1, 1),
        "water_level_m": level,
        "porewater_salinity_psu": 0.3 + 0.006 * d,
        "co2_flux_umol_m2_s": fc,
        "ch4_flux_nmol_m2_s": np.where(rng.random(n) < 0.3, np.nan, 25 + rng.normal(0, 5, n)),
    }


def _samples(
    times: np.ndarray, columns: dict[str, np.ndarray], usable: dict[str, np.ndarray]
) -> list[Sample]:
    return [
        Sample(int(t), {v: float(col[i]) for v, col in columns.items() if usable[v][i]})
        for i, t in enumerate(times.tolist())
    ]


def _arrivals(times: np.ndarray, feeds: dict[str, QcFeed]) -> list[Sample]:
    """Every QC result as a one-value sample, in arrival order; not GOOD becomes None."""
    results = []
    for variable, feed in feeds.items():
        for a, i, v, f in zip(
            *(c.tolist() for c in (feed.arrival_us, feed.index, feed.value, feed.flag)), strict=True
        ):
            results.append((a, Sample(int(times[i]), {variable: v if f == GOOD else None})))
    results.sort(key=lambda r: r[0])
    return [sample for _, sample in results]


@pytest.mark.parametrize("seed", [5, 6])
def test_last_emitted_equals_batch_over_final_usable_readings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40 * 48
    times = day_us("2023-11-25") + np.arange(n) * STEP_US
    columns = _columns(rng, n)
    feeds = {}
    for variable, column in columns.items():
        spikes = rng.random(n) < 0.015
        column[spikes] += SPIKE[variable]
        feeds[variable] = qc_feed(
            times, column, spikes, rng, max_delay_us=DAY_US, max_revision_us=DAY_US // 2
        )
    oxygen = feeds["dissolved_oxygen_mg_l"]
    assert oxygen.revisions_of((GOOD, FAIL)) > 10 and oxygen.revisions_of((SUSPECT, GOOD)) > 10

    last, records, state = stream(_arrivals(times, feeds), PARAMS, CLIMATOLOGY, seed=seed, max_chunk=300)
    assert state.late_dropped == 0
    usable = {v: feed.final_usable(n) for v, feed in feeds.items()}
    batch = compute_batch("st", _samples(times, columns, usable), PARAMS, CLIMATOLOGY)
    assert final_values(last) == batch

    # Revisions really withdrew readings: values that were emitted and then retracted.
    history = defaultdict(list)
    for r in records:
        history[(r.indicator, r.time_us)].append(r.value)
    retracted = {k[0] for k, v in history.items() if v[-1] is None and any(x is not None for x in v)}
    assert {"do_saturation_pct", "hypoxia_duration_h"} <= retracted
    # Keeping the spikes would have given other heatwave, bloom, hypoxia and carbon values.
    finite = {v: np.isfinite(col) for v, col in columns.items()}
    kept = compute_batch("st", _samples(times, columns, finite), PARAMS, CLIMATOLOGY)
    for indicator in ("mhw_intensity_degC", "bloom_risk", "do_daily_min_mg_l", "nee_daily_gC_m2"):
        assert any(kept.get(k) != v for k, v in batch.items() if k[0] == indicator), indicator


T0 = day_us("2024-05-10")


def _oxygen_day() -> tuple[EcologyState, list]:
    """Three dissolved-oxygen readings of one day, one of them hypoxic."""
    state = EcologyState("st", EcologyParams(sampling_interval_s=1800))
    samples = [Sample(T0 + k * STEP_US, {"dissolved_oxygen_mg_l": v}) for k, v in enumerate((5.0, 1.0, 6.0))]
    return state, state.update(samples)


def _values(records: list, indicator: str) -> dict[int, float | None]:
    return {r.time_us: r.value for r in records if r.indicator == indicator}


def test_a_withdrawn_reading_leaves_the_day_and_its_episode_is_retracted() -> None:
    state, first = _oxygen_day()
    assert _values(first, "do_daily_min_mg_l") == {T0: 1.0}
    assert _values(first, "hypoxia_duration_h") == {T0 + STEP_US: 0.5}
    out = state.update([Sample(T0 + STEP_US, {"dissolved_oxygen_mg_l": None})])
    assert _values(out, "do_daily_min_mg_l") == {T0: 5.0}
    assert _values(out, "do_hours_measured_h") == {T0: 1.0}
    assert _values(out, "do_hours_below_3_mg_l") == {T0: 0.0}
    assert _values(out, "hypoxia_duration_h") == {T0 + STEP_US: None}
    assert _values(out, "hypoxia_min_mg_l") == {T0 + STEP_US: None}
    # NaN withdraws too; an upgrade (the reading rated GOOD again) brings it back.
    out = state.update([Sample(T0, {"dissolved_oxygen_mg_l": float("nan")})])
    assert _values(out, "do_daily_min_mg_l") == {T0: 6.0}
    out = state.update([Sample(T0 + STEP_US, {"dissolved_oxygen_mg_l": 1.0})])
    assert _values(out, "do_daily_min_mg_l") == {T0: 1.0}
    assert _values(out, "hypoxia_duration_h") == {T0 + STEP_US: 0.5}


def test_withdrawing_a_day_s_last_reading_retracts_its_values() -> None:
    state, _ = _oxygen_day()
    gone = [Sample(T0 + k * STEP_US, {"dissolved_oxygen_mg_l": None}) for k in range(3)]
    out = state.update(gone)
    for indicator in ("do_daily_min_mg_l", "do_hours_measured_h", "do_hours_below_6_mg_l"):
        assert _values(out, indicator) == {T0: None}
    assert state.raw == {T0 // DAY_US: {}}
    # Nothing left to withdraw: a replay of the withdrawals, or one for a reading never taken, is a no-op.
    assert state.update(gone) == []
    assert state.update([Sample(T0 + 7 * STEP_US, {"dissolved_oxygen_mg_l": None})]) == []


def test_withdrawals_for_closed_days_are_counted_and_dropped() -> None:
    state, _ = _oxygen_day()
    state.update([Sample(T0 + 5 * DAY_US, {"dissolved_oxygen_mg_l": 7.0})])
    assert state.update([Sample(T0 + STEP_US, {"dissolved_oxygen_mg_l": None})]) == []
    assert state.late_dropped == 1
