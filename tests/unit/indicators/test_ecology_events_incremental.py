"""Hypoxia episodes and heatwave events are recomputed from the last point before the first changed
day that no change can reach back past (issue 12), not from their anchor: the records and the state
must equal those of recomputing every value that can still change, after every update, whatever the
arrival order and chunking; and the cut points must really split the episodes and events. An open
day's saturation is computed only for readings its previous computation did not have: its rows must
equal rows made from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.records import Sample
from streams.indicators.ecology import Climatology, EcologyParams, EcologyState
from streams.indicators.ecology.calendar import DAY_US, day_start_us
from streams.indicators.ecology.frame import Day, Rows
from streams.indicators.ecology.heatwave import HeatwaveFamily, detect_events
from streams.indicators.ecology.oxygen import OxygenFamily, do_saturation_pct, hypoxia_episodes
from streams.indicators.ecology.state import build_families
from tests.unit.indicators.ecology_helpers import day_us, late_arrivals, series_samples

STEP_US = 1800 * 1_000_000
PARAMS = EcologyParams(sampling_interval_s=1800, allowed_lateness_days=2)
CLIMATOLOGY = Climatology(np.full(366, 12.0), np.full(366, 13.0), "flat test climatology")


def _series(seed: int) -> list[Sample]:
    """40 days: oxygen crossing the hypoxia limit many times a night, with gaps longer than the
    episode gap; SST making heatwaves of several lengths, some joined across short quiet spells."""
    rng = np.random.default_rng(seed)
    n = 40 * 48
    t = day_us("2024-06-01") + np.arange(n) * STEP_US
    d = np.arange(n) / 48
    oxygen = 3.5 + 2.5 * np.sin(2 * np.pi * d) + rng.normal(0, 0.4, n)
    oxygen[rng.random(n) < 0.08] = np.nan
    for start in rng.integers(0, n - 10, 12):
        oxygen[start : start + int(rng.integers(2, 8))] = np.nan  # gaps of 1 to 3.5 h
    hot = np.zeros(40)
    for first, length in ((3, 6), (12, 2), (15, 5), (25, 4), (31, 7), (38, 1)):
        hot[first : first + length] = 1.5 + rng.random()
    temp = 12 + hot[d.astype(int)] + rng.normal(0, 0.2, n)
    temp[(d > 18) & (d < 19)] = np.nan  # a day without SST
    return series_samples(t, water_temperature_degC=temp, dissolved_oxygen_mg_l=oxygen)


def _chunks(samples: list[Sample], seed: int) -> list[list[Sample]]:
    rng = np.random.default_rng(seed)
    chunks, k = [], 0
    while k < len(samples):
        size = int(rng.choice([1, 1, 1, 3, 12, 48]))
        chunks.append(samples[k : k + size])
        k += size
    return chunks


@pytest.mark.parametrize("seed", [5, 6])
def test_event_updates_equal_recomputing_from_the_anchor(seed):
    arrivals = late_arrivals(_series(seed), 2 * DAY_US, seed)
    incremental = EcologyState("st", PARAMS, CLIMATOLOGY)
    full = EcologyState("st", PARAMS, CLIMATOLOGY)
    keys: set[tuple[str, int]] = set()
    for chunk in _chunks(arrivals, seed):
        full._stale = True  # every value that can still change recomputed, events from their anchor
        records = incremental.update(chunk)
        assert records == full.update(chunk)
        assert incremental.emitted == {k: v for k, v in full.emitted.items() if v or k in incremental.emitted}
        assert incremental.export() == full.export()
        keys.update((r.indicator, r.time_us) for r in records if r.value is not None)
    # Many episodes and events, some of them moved or retracted by late readings on the way.
    assert sum(name == "hypoxia_duration_h" for name, _ in keys) > 40
    assert sum(name == "mhw_event_duration_d" for name, _ in keys) >= 3  # 3..8, 15..19, 25..37


def test_a_restored_state_continues_the_events_like_the_uninterrupted_one():
    samples = _series(7)
    uninterrupted = EcologyState("st", PARAMS, CLIMATOLOGY)
    for k in range(0, 20 * 48, 5):
        uninterrupted.update(samples[k : k + 5])
    restored = EcologyState.from_pieces(uninterrupted.export(full=True), PARAMS, CLIMATOLOGY)
    for k in range(20 * 48, len(samples), 5):
        assert restored.update(samples[k : k + 5]) == uninterrupted.update(samples[k : k + 5])
    assert restored.export(full=True) == uninterrupted.export(full=True)


def _oxygen_rows(samples: list[Sample]) -> Rows:
    family = OxygenFamily(PARAMS)
    by_day: dict[int, dict[int, float]] = {}
    for s in samples:
        if "dissolved_oxygen_mg_l" in s.values:
            by_day.setdefault(s.time_us // DAY_US, {})[s.time_us] = s.values["dissolved_oxygen_mg_l"]
    rows = {}
    for day, readings in sorted(by_day.items()):
        times = np.array(sorted(readings), dtype=np.int64)
        values = np.array([readings[t] for t in times.tolist()])
        rows[day] = family.decode_row({"t": times.tolist(), "do": values.tolist(), "sat": []})
    return Rows({}, rows)


def test_the_oxygen_cut_splits_the_episodes_where_no_change_reaches_back():
    family, p = OxygenFamily(PARAMS), PARAMS
    rows = _oxygen_rows(_series(8))
    times, values = rows.joined("t", np.int64), rows.joined("do", float)
    everything = hypoxia_episodes(times, values, p.hypoxia_mg_l, p.hypoxia_gap_us, p.interval_us)
    cuts = 0
    for day in list(rows)[1:]:
        cut = family._cut(times, values, day_start_us(day))
        if not cut:
            continue
        cuts += 1
        assert times[cut] < day_start_us(day)
        after = hypoxia_episodes(times[cut:], values[cut:], p.hypoxia_mg_l, p.hypoxia_gap_us, p.interval_us)
        assert after == [ep for ep in everything if ep.start_us >= times[cut]]
        # The episodes before the cut end before the changed day: changing it cannot touch them.
        assert all(ep.last_us < day_start_us(day) for ep in everything if ep.start_us < times[cut])
    assert cuts > 30


def test_the_heatwave_cut_splits_the_events_where_no_change_reaches_back():
    family = HeatwaveFamily(PARAMS, CLIMATOLOGY)
    sst_by_day: dict[int, list[float]] = {}
    for s in _series(9):
        if "water_temperature_degC" in s.values:
            sst_by_day.setdefault(s.time_us // DAY_US, []).append(s.values["water_temperature_degC"])
    rows = Rows({}, {day: {"sst": float(np.mean(v))} for day, v in sorted(sst_by_day.items())})
    first, last = min(rows), max(rows)
    days, sst, seas, thresh = family._series(rows, first, last)
    whole = detect_events(sst, seas, thresh)
    cuts = set()
    for changed in range(first, last + 1):
        cut = family._cut(rows, first, changed)
        if cut == first:
            continue
        cuts.add(cut)
        assert cut <= changed
        part = detect_events(sst[cut - first :], seas[cut - first :], thresh[cut - first :])
        starts = [int(days[ev.start]) for ev in whole]
        kept = [ev for ev, s in zip(whole, starts, strict=True) if s >= cut]
        assert [(ev.start + cut - first, ev.end + cut - first) for ev in part] == [
            (ev.start, ev.end) for ev in kept
        ]
        assert [ev.intensity_cumulative_degC_d for ev in part] == [
            ev.intensity_cumulative_degC_d for ev in kept
        ]
        # Events before the cut end more than max_gap days before it.
        assert all(
            int(days[ev.end]) < cut - PARAMS.mhw_max_gap_d - 1 for ev in whole if int(days[ev.start]) < cut
        )
    assert len(cuts) >= 5


def test_saturation_is_per_reading_bit_for_bit():
    """What lets an open day keep the saturation of its earlier readings: computing it for a part
    of the readings gives those readings' values of the whole, bit for bit."""
    rng = np.random.default_rng(12)
    n = 500
    oxygen, temperature, salinity = rng.uniform(0, 14, n), rng.uniform(-2, 35, n), rng.uniform(0, 42, n)
    whole = do_saturation_pct(oxygen, temperature, salinity, longitude_deg=120.5, latitude_deg=36.1)
    for cut in (1, 7, 143, 250, 499):
        parts = [
            do_saturation_pct(o, t, s, longitude_deg=120.5, latitude_deg=36.1)
            for o, t, s in (
                (oxygen[:cut], temperature[:cut], salinity[:cut]),
                (oxygen[cut:], temperature[cut:], salinity[cut:]),
            )
        ]
        assert np.concatenate(parts).tobytes() == whole.tobytes()


def test_open_day_rows_equal_rows_made_from_scratch():
    """Readings arriving one at a time, late, replaced and withdrawn: each open day's rows equal
    those made from its readings alone (no saturation kept from earlier readings)."""
    params = EcologyParams(sampling_interval_s=600, allowed_lateness_days=1)
    rng = np.random.default_rng(13)
    n = 4 * 144
    t = day_us("2024-06-01") + np.arange(n) * 600_000_000
    d = np.arange(n) / 144
    samples = series_samples(
        t,
        water_temperature_degC=14 + 3 * np.sin(d) + rng.normal(0, 0.2, n),
        salinity_psu=30 + rng.normal(0, 0.3, n),
        dissolved_oxygen_mg_l=6 + 4 * np.sin(2 * np.pi * d) + rng.normal(0, 0.3, n),
        chlorophyll_ug_l=3 + rng.normal(0, 0.5, n),
    )
    feed: list[Sample] = []
    for sample in late_arrivals(samples, DAY_US // 4, 13):
        feed.append(sample)
        if rng.random() < 0.05:
            feed.append(Sample(sample.time_us, {"salinity_psu": sample.values["salinity_psu"] + 1.0}))
        if rng.random() < 0.03:
            feed.append(Sample(sample.time_us, {"water_temperature_degC": None}))
    state = EcologyState("st", params, CLIMATOLOGY)
    fresh = {f.name: f for f in build_families(params, CLIMATOLOGY)}
    for sample in feed:
        state.update([sample])
        for day, variables in state.raw.items():
            readings = Day({name: values.series() for name, values in variables.items()})
            expected = {name: family.day_row(day, readings) for name, family in fresh.items()}
            got = state._day_rows[day]
            assert {k: v for k, v in got.items() if k != "oxygen"} == {
                k: v for k, v in expected.items() if k != "oxygen"
            }
            if expected["oxygen"] is None:
                assert got["oxygen"] is None
            else:
                assert {k: bytes(v) for k, v in got["oxygen"].items()} == {
                    k: bytes(v) for k, v in expected["oxygen"].items()
                }
