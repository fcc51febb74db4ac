"""Marine heatwaves against the marineHeatWaves reference results on the heatwaveR sst_WA series."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from schemas.records import Sample
from streams.indicators.ecology import (
    Climatology,
    EcologyParams,
    climatology_to_csv,
    compute_batch,
    compute_climatology,
    detect_events,
    load_climatology_csv,
)
from streams.indicators.ecology.calendar import DAY_US, day_of, to_date
from tests.unit.indicators.ecology_helpers import day_us, final_values, late_arrivals, stream

REFERENCE = Path(__file__).resolve().parents[2] / "data" / "reference" / "heatwaveR"
CATEGORY = {"Moderate": 1, "Strong": 2, "Severe": 3, "Extreme": 4}
TOLERANCE = 1e-9  # °C; the reference was written with ~16 significant digits


@pytest.fixture(scope="module")
def sst_wa() -> tuple[np.ndarray, np.ndarray]:
    sst = pd.read_csv(REFERENCE / "sst_WA.csv")["x"].to_numpy()
    first = day_of(day_us("1982-01-01"))
    return np.arange(first, first + sst.size), sst


@pytest.fixture(scope="module")
def climatology(sst_wa) -> Climatology:
    days, sst = sst_wa
    return compute_climatology(days, sst)


@pytest.fixture(scope="module")
def reference_events() -> pd.DataFrame:
    return pd.read_csv(REFERENCE / "mhws_py.csv")


def test_climatology_and_threshold_match_reference(sst_wa, climatology):
    days, _ = sst_wa
    reference = pd.read_csv(REFERENCE / "clim_py.csv")
    seas, thresh = climatology.at(days)
    assert len(reference) == days.size == 12053
    np.testing.assert_allclose(seas, reference["seas"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(thresh, reference["thresh"], rtol=0, atol=TOLERANCE)


def test_events_match_reference(sst_wa, climatology, reference_events):
    days, sst = sst_wa
    events = detect_events(sst, *climatology.at(days))
    assert len(events) == len(reference_events) == 60
    iso = lambda index: to_date(int(days[index])).isoformat()  # noqa: E731
    assert [iso(e.start) for e in events] == reference_events["date_start"].tolist()
    assert [iso(e.end) for e in events] == reference_events["date_end"].tolist()
    assert [iso(e.peak) for e in events] == reference_events["date_peak"].tolist()
    assert [e.duration_d for e in events] == reference_events["duration"].tolist()
    assert [e.category for e in events] == reference_events["category"].map(CATEGORY).tolist()
    for field, column in (
        ("intensity_max_degC", "intensity_max"),
        ("intensity_mean_degC", "intensity_mean"),
        ("intensity_cumulative_degC_d", "intensity_cumulative"),
    ):
        got = [getattr(e, field) for e in events]
        np.testing.assert_allclose(got, reference_events[column], rtol=0, atol=TOLERANCE * 100)


def test_baseline_period_pools_only_its_years(sst_wa):
    days, sst = sst_wa
    years = days.astype("datetime64[D]").astype("datetime64[Y]").astype(int) + 1970
    inside = (years >= 1990) & (years <= 1999)
    configured = compute_climatology(days, sst, baseline_years=(1990, 1999))
    alone = compute_climatology(days[inside], sst[inside])
    np.testing.assert_array_equal(configured.seas_degC, alone.seas_degC)
    np.testing.assert_array_equal(configured.thresh_degC, alone.thresh_degC)
    assert "1990-1999" in configured.source


def test_climatology_file_round_trip(tmp_path, climatology):
    path = tmp_path / "satellite_clim.csv"
    path.write_text(climatology_to_csv(climatology), encoding="utf-8")
    loaded = load_climatology_csv(path)
    np.testing.assert_array_equal(loaded.seas_degC, climatology.seas_degC)
    np.testing.assert_array_equal(loaded.thresh_degC, climatology.thresh_degC)


def _noon_samples(days: np.ndarray, sst: np.ndarray) -> list[Sample]:
    return [
        Sample(int(d) * DAY_US + DAY_US // 2, {"water_temperature_degC": float(v)})
        for d, v in zip(days, sst, strict=True)
    ]


def test_streaming_state_reproduces_reference_events(sst_wa, climatology, reference_events):
    """Daily readings arriving up to two days late, in random chunks, with restarts: the events
    published per start day and the live day-N/category state agree with the reference."""
    days, sst = sst_wa
    samples = _noon_samples(days, sst)
    params = EcologyParams(allowed_lateness_days=2)
    arrivals = late_arrivals(samples, 2 * DAY_US, seed=3)
    last, _, state = stream(arrivals, params, climatology, seed=3, max_chunk=60, restart_every=50)
    final = final_values(last)
    assert final == compute_batch("st", samples, params, climatology)
    starts = sorted(t for (name, t) in final if name == "mhw_event_duration_d")
    assert [to_date(day_of(t)).isoformat() for t in starts] == reference_events["date_start"].tolist()
    for t, ref in zip(starts, reference_events.itertuples(), strict=True):
        last_day = t + (ref.duration - 1) * DAY_US
        assert final[("mhw_event_duration_d", t)] == ref.duration
        assert final[("mhw_event_category", t)] == CATEGORY[ref.category]
        assert final[("mhw_event_intensity_max_degC", t)] == pytest.approx(ref.intensity_max, abs=1e-7)
        assert final[("mhw_day", last_day)] == ref.duration
        assert final[("mhw_category", last_day)] == CATEGORY[ref.category]
        assert final[("mhw_day", t - DAY_US)] == 0
    # The state stays bounded: the heatwave history is cut after each quiet spell.
    assert len(state.rows["heatwave"]) < 100


def test_late_day_moves_an_event_start_and_retracts_the_old_key():
    clim = Climatology(np.full(366, 20.0), np.full(366, 21.0), "flat")
    first = day_of(day_us("2024-07-01"))
    hot = {first + i: 23.0 for i in range(3, 9)}  # days 3..8 exceed
    params = EcologyParams(allowed_lateness_days=7)
    early = [
        Sample((d * DAY_US) + 3600_000_000, {"water_temperature_degC": v}) for d, v in sorted(hot.items())
    ]
    late = Sample((first + 2) * DAY_US, {"water_temperature_degC": 23.5})  # day 2 also hot, arrives last
    _, records, _ = stream([*early, late], params, clim, max_chunk=1, replay=False)
    by_key = {}
    for r in records:
        by_key.setdefault((r.indicator, r.time_us), []).append(r.value)
    assert by_key[("mhw_event_duration_d", (first + 3) * DAY_US)] == [5.0, 6.0, None]
    assert by_key[("mhw_event_duration_d", (first + 2) * DAY_US)] == [7.0]
    assert by_key[("mhw_day", (first + 8) * DAY_US)][-1] == 7.0
    # 23.5 is 3.5 x (threshold - climatology) above the climatology: floor(1 + 2.5) = 3, severe.
    assert by_key[("mhw_event_category", (first + 2) * DAY_US)] == [3.0]
