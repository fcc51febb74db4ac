"""Dissolved oxygen: saturation against gsw, class-limit hours and hypoxia episodes by hand."""

from __future__ import annotations

import gsw
import numpy as np
import pytest

from streams.indicators.ecology import EcologyParams, compute_batch, do_saturation_pct, hypoxia_episodes
from tests.unit.indicators.ecology_helpers import day_us, final_values, series_samples, stream

MINUTE_US = 60_000_000
LON, LAT = 121.3, 40.3


@pytest.mark.parametrize("pressure_dbar", [0.0, 10.0])
def test_saturation_matches_gsw_solubility(pressure_dbar):
    """Against gsw.O2sol(SA, CT, p, lon, lat), the other gsw entry point, converted to mg/L by hand."""
    t, sp = (a.ravel() for a in np.meshgrid(np.linspace(-1.5, 32, 12), np.linspace(0.5, 36, 10)))
    do_mg_l = np.linspace(1.0, 14.0, t.size)
    sa = gsw.SA_from_SP(sp, pressure_dbar, LON, LAT)
    ct = gsw.CT_from_t(sa, t, pressure_dbar)
    solubility_mg_l = gsw.O2sol(sa, ct, pressure_dbar, LON, LAT) * gsw.rho(sa, ct, pressure_dbar) * 31.9988e-6
    got = do_saturation_pct(do_mg_l, t, sp, longitude_deg=LON, latitude_deg=LAT, pressure_dbar=pressure_dbar)
    np.testing.assert_allclose(got, 100 * do_mg_l / solubility_mg_l, rtol=1e-12)


def test_saturation_of_standard_seawater_by_hand():
    # 20 °C, S 35: solubility 225.52 µmol/kg (Garcia & Gordon 1992), density 1024.76 kg/m3 -> 7.395 mg/L.
    got = do_saturation_pct(
        np.array([7.395]), np.array([20.0]), np.array([35.0]), longitude_deg=0, latitude_deg=0
    )
    assert got[0] == pytest.approx(100.0, abs=0.05)


def test_hours_below_class_limits_and_saturation_per_reading():
    start = day_us("2024-08-01")
    times = start + np.arange(144) * 10 * MINUTE_US
    do = np.r_[np.full(30, 2.5), np.full(30, 4.5), np.full(12, 6.0), np.full(72, 7.0)]
    samples = series_samples(
        times,
        dissolved_oxygen_mg_l=do,
        water_temperature_degC=np.full(144, 20.0),
        salinity_psu=np.full(144, 35.0),
    )
    values = compute_batch("st", samples, EcologyParams(sampling_interval_s=600))
    # Class I needs > 6 mg/L, so readings at exactly 6 fail it: 72 readings x 10 min = 12 h.
    assert values[("do_hours_below_6_mg_l", start)] == 12.0
    assert values[("do_hours_below_5_mg_l", start)] == 10.0
    assert values[("do_hours_below_4_mg_l", start)] == 5.0
    assert values[("do_hours_below_3_mg_l", start)] == 5.0
    assert values[("do_hours_measured_h", start)] == 24.0
    assert values[("do_daily_min_mg_l", start)] == 2.5
    sat = [values[("do_saturation_pct", int(t))] for t in times]
    assert sat[-1] == pytest.approx(7.0 / 7.395 * 100, rel=1e-3)
    assert not any(name.startswith("hypoxia") for name, _ in values)


def test_hypoxia_episodes_by_hand():
    t = np.array([0, 10, 20, 30, 40, 50, 110, 120, 130]) * MINUTE_US
    do = np.array([3.0, 1.5, 1.0, 1.8, 2.0, 1.9, 1.7, 1.6, 3.0])
    episodes = hypoxia_episodes(t, do, 2.0, max_gap_us=30 * MINUTE_US, interval_us=10 * MINUTE_US)
    # 2.0 is not hypoxic; the hour without readings after 50 min ends the second episode.
    assert [(e.start_us, e.last_us, e.duration_h, e.min_mg_l) for e in episodes] == [
        (10 * MINUTE_US, 30 * MINUTE_US, 0.5, 1.0),
        (50 * MINUTE_US, 50 * MINUTE_US, 10 / 60, 1.9),
        (110 * MINUTE_US, 120 * MINUTE_US, 20 / 60, 1.6),
    ]


def test_late_reading_merges_episodes_across_midnight_and_retracts_the_old_start():
    midnight = day_us("2024-08-02")
    times = midnight + np.arange(-5, 3) * 10 * MINUTE_US  # 23:10 .. 00:20
    do = np.array([3.0, 1.9, 1.8, 1.5, 1.7, 1.2, 1.1, 2.5])
    samples = series_samples(times, dissolved_oxygen_mg_l=do)
    params = EcologyParams(sampling_interval_s=600, hypoxia_max_gap_s=900)
    # 23:50 arrives last: until then the 20-min hole (> 15 min allowed) splits two episodes.
    arrivals = [s for i, s in enumerate(samples) if i != 4] + [samples[4]]
    last, records, _ = stream(arrivals, params, max_chunk=1, replay=False)
    history = [r.value for r in records if (r.indicator, r.time_us) == ("hypoxia_duration_h", midnight)]
    assert history == [pytest.approx(10 / 60), pytest.approx(20 / 60), None]
    final = final_values(last)
    assert final == compute_batch("st", samples, params)
    assert [key for key in final if key[0] == "hypoxia_duration_h"] == [("hypoxia_duration_h", int(times[1]))]
    assert final[("hypoxia_duration_h", int(times[1]))] == pytest.approx(1.0)  # 23:20 .. 00:10 + 10 min
    assert final[("hypoxia_min_mg_l", int(times[1]))] == 1.1
