"""The simulated network's signals: ranges and scenario events as the demo and later issues need them."""

from __future__ import annotations

import numpy as np
import pytest

from schemas.registry import load_registry
from services.simulate.model import Simulation
from services.simulate.scenario import Scenario, default_scenario
from services.simulate.signals import local_solar_hour, seasonal_sst_degC
from services.simulate.tides import J2000_S, TideModel

US = 1_000_000
HOUR_US = 3600 * US
START_US = 1_795_000_000 * US - (1_795_000_000 * US) % (60 * US)  # 2026-11-18, a whole minute


@pytest.fixture(scope="module")
def registry():
    return load_registry()


@pytest.fixture(scope="module")
def demo(registry):
    return Simulation(registry, default_scenario(), seed=3, start_us=START_US, faults=False)


def series(sim: Simulation, station: str, variable: str, t0_h: float, t1_h: float, step_s: int = 600):
    times = np.arange(START_US + int(t0_h * HOUR_US), START_US + int(t1_h * HOUR_US), step_s * US)
    return times, sim.clean_values(station, times)[variable]


def event(sim: Simulation, station: str, kind: str):
    rows = [r for r in sim.timeline() if r[0] == station and r[1] == kind]
    assert len(rows) == 1, rows
    return rows[0]


def test_single_constituent_tide_matches_hand_computation():
    period_s = 12.4206012 * 3600
    m2 = TideModel(("M2",), np.array([2 * np.pi / period_s]), np.array([1.5]), np.radians([90.0]))
    t = J2000_S + np.array([0.0, period_s / 4, period_s / 2])
    # 1.5 cos(ωt − 90°): 0 at the reference, 1.5 a quarter period later, 0 again at half a period.
    np.testing.assert_allclose(m2.level_m(t), [0.0, 1.5, 0.0], atol=1e-9)
    assert m2.high_water_near(J2000_S + period_s / 4 + 1800) == pytest.approx(J2000_S + period_s / 4, abs=60)


@pytest.mark.parametrize(
    ("station", "low_m", "high_m"),
    [("dandong", 3.5, 5.0), ("yingkou", 2.0, 3.0), ("bayuquan", 2.0, 3.0), ("huludao", 1.5, 2.5)],
)
def test_mean_tidal_ranges_are_plausible(registry, station, low_m, high_m):
    """Mean daily range: Liaodong Bay ~2–3 m, Dandong ~4 m (~5 m at springs)."""
    sim = Simulation(registry, Scenario(name="calm"), seed=1, start_us=START_US, faults=False)
    model = sim.model(station)
    t = START_US / US + np.arange(0, 30 * 86_400, 360.0)
    tide = model.tide.level_m(t)
    daily_range = [np.ptp(tide[i : i + 240]) for i in range(0, len(tide) - 240, 240)]
    assert low_m <= np.mean(daily_range) <= high_m
    assert min(daily_range) < 0.6 * max(daily_range)  # spring–neap cycle


def test_tide_alone_never_reaches_blue_warning_level(registry):
    sim = Simulation(registry, Scenario(name="calm"), seed=1, start_us=START_US, faults=False)
    t = START_US / US + np.arange(0, 365 * 86_400, 900.0)
    for station in registry.stations.values():
        levels = station.thresholds.get("warning_water_level_m")
        if levels:
            high_water = station.datum.msl_above_datum_m + sim.model(station.id).tide.level_m(t).max()
            assert high_water < levels["blue"], station.id


def test_storm_surge_raises_warning_levels_only_during_the_storm(demo, registry):
    levels = registry.get("yingkou").thresholds["warning_water_level_m"]
    _, _, start, end, params = event(demo, "yingkou", "storm_surge")
    assert params["reach"] == "orange"
    times, level = series(demo, "yingkou", "water_level_m", 0, 240, step_s=60)
    during = (times >= start) & (times < end)
    assert level[during].max() > levels["orange"]
    assert level[~during].max() < levels["blue"]
    # surge = observed − astronomical tide: about a metre at the peak, near zero before the storm
    model = demo.model("yingkou")
    residual = level - registry.get("yingkou").datum.msl_above_datum_m - model.tide.level_m(times / US)
    peak = np.argmin(np.abs(times - (start + end) // 2))
    assert residual[peak] > 1.0
    assert np.abs(residual[times < START_US + 20 * HOUR_US]).max() < 0.5


def test_waves_reach_warning_height_at_a_buoy(demo, registry):
    levels = registry.get("liaodong-bay-buoy").thresholds["wave_height_m"]
    times, hs = series(demo, "liaodong-bay-buoy", "wave_height_m", 0, 240)
    _, _, start, end, _ = event(demo, "liaodong-bay-buoy", "high_waves")
    assert hs[(times >= start) & (times < end)].max() >= levels["orange"]
    assert hs[times < START_US + 20 * HOUR_US].max() < levels["blue"]


def test_hypoxic_night_at_the_seagrass_meadow(demo, registry):
    times, do = series(demo, "changhai-seagrass", "dissolved_oxygen_mg_l", 0, 240)
    hypoxic = do < 2.0
    assert hypoxic.sum() * 600 >= 3 * 3600  # a few hours
    hours = local_solar_hour(times[hypoxic] / US, registry.get("changhai-seagrass").longitude)
    assert np.all((hours >= 22) | (hours <= 7))  # at night
    _, _, start, end, _ = event(demo, "changhai-seagrass", "hypoxia")
    assert do[(times < start) | (times >= end)].min() > 5.0


def test_bloom_with_supersaturation_and_ph_rise(demo):
    sim_values = demo.clean_values
    times = np.arange(START_US, START_US + 240 * HOUR_US, 600 * US)
    buoy = sim_values("jinzhou-bay-buoy", times)
    model = demo.model("jinzhou-bay-buoy")
    saturation = model.frame(times / US).do_saturation
    _, _, start, end, _ = event(demo, "jinzhou-bay-buoy", "bloom")
    bloom = (times >= start) & (times < end)
    before = times < start
    assert (buoy["chlorophyll_ug_l"][bloom] > 10).sum() * 600 >= 48 * 3600
    assert buoy["chlorophyll_ug_l"][before].max() < 10
    percent = 100 * buoy["dissolved_oxygen_mg_l"] / saturation
    assert percent[bloom].max() > 130 and percent[before].max() < 110
    assert buoy["ph_total"][bloom].max() - buoy["ph_total"][before].mean() > 0.3


def test_marine_heatwave_several_degrees_for_five_days(demo, registry):
    times, sst = series(demo, "north-yellow-sea-buoy", "water_temperature_degC", 0, 240)
    anomaly = sst - seasonal_sst_degC(times / US, registry.get("north-yellow-sea-buoy").area)
    daily = anomaly[: len(anomaly) // 144 * 144].reshape(-1, 144).mean(axis=1)
    run = longest = 0
    for warm in daily > 2.5:
        run = run + 1 if warm else 0
        longest = max(longest, run)
    assert longest >= 5
    assert np.abs(anomaly[times < START_US + 12 * HOUR_US]).max() < 1.5  # before the heatwave


def test_battery_runs_low_then_is_replaced(demo):
    times, volts = series(demo, "north-yellow-sea-buoy", "battery_voltage_v", 0, 240)
    _, _, start, end, params = event(demo, "north-yellow-sea-buoy", "battery_low")
    assert volts[times < start].min() > 12.0
    assert volts[(times >= start) & (times < end)].min() < params["min_v"] + 0.1
    assert volts[times >= end].min() > 12.0


def test_porewater_salinity_exceeds_the_wetland_limit(demo, registry):
    limit = registry.get("liaohe-reedbed").thresholds["porewater_salinity_limit_psu"]
    times, salinity = series(demo, "liaohe-reedbed", "porewater_salinity_psu", 0, 240, step_s=1800)
    _, _, start, end, _ = event(demo, "liaohe-reedbed", "salinity_intrusion")
    assert salinity[(times >= start) & (times < end)].max() > limit
    assert salinity[times < start].max() < limit


def test_wetland_water_table_follows_the_tide_late(demo):
    times, depth = series(demo, "liaohe-saltmarsh", "water_table_depth_m", 0, 20, step_s=300)
    tide = demo.model("liaohe-saltmarsh").tide.level_m(times / US)
    assert (
        depth.min() < 0 < depth.max()
    )  # standing water at high tide, a water table below the surface at low

    def fit(lag: int) -> float:
        """Correlation of the tide with the (upward) water table `lag` 5-minute steps later, in the soil."""
        soil = depth[lag:] > 0.05
        return np.corrcoef(tide[: len(tide) - lag][soil], -depth[lag:][soil])[0, 1]

    best = max(range(0, 48), key=fit)
    assert fit(best) > 0.8
    assert 0.5 <= best * 5 / 60 <= 3.0  # the soil answers the tide with a delay


def test_co2_flux_shows_daytime_uptake(demo, registry):
    times, nee = series(demo, "liaohe-reedbed", "co2_flux_umol_m2_s", 0, 72, step_s=1800)
    hours = local_solar_hour(times / US, registry.get("liaohe-reedbed").longitude)
    midday = (hours > 10) & (hours < 14)
    night = (hours > 22) | (hours < 4)
    assert nee[midday].mean() < 0 < nee[night].mean()


def test_diurnal_and_seasonal_temperature(registry):
    sim = Simulation(registry, Scenario(name="calm"), seed=2, start_us=START_US, faults=False)
    year = START_US + np.arange(0, 365 * 86_400, 86_400) * US
    sst = sim.clean_values("dalian", year)["water_temperature_degC"]
    assert sst.max() - sst.min() > 15  # North Yellow Sea: ~2 °C in February, ~24 °C in August
    day = START_US + np.arange(0, 86_400, 1800) * US
    air = sim.clean_values("liaohe-saltmarsh", day)["air_temperature_degC"]
    hours = local_solar_hour(day / US, registry.get("liaohe-saltmarsh").longitude)
    assert air[(hours > 12) & (hours < 17)].mean() > air[(hours > 2) & (hours < 7)].mean() + 3
