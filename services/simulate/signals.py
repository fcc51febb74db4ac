"""Physically sensible signals for one station: a pure function of time, seed and scenario events.

Every variable is computed directly from the sample time (seasonal and diurnal cycles, tide, weather
noise addressed by time, scenario events as windows), never from the previous sample, so any time
can be evaluated on its own: a late batch's backlog, the value a stuck sensor froze at, or the
astronomical high water a surge is aligned to.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gsw
import numpy as np

from schemas.registry import Station
from services.simulate import noise
from services.simulate.tides import TideModel, tide_for

DAY_S = 86_400.0
YEAR_DAYS = 365.2422
KM_PER_DEG_LAT = 111.32
PEAKED_KINDS = ("storm", "storm_surge", "high_waves")
MIN_SURGE_M = 0.3  # a surge that "reaches" a level already exceeded is still made visible
REACH_MARGIN = 0.12  # how far above the requested warning level the peak goes (m)

# Sea-surface temperature climatology per area: annual mean, half range (degC), day of the maximum.
SST_CLIMATE: Mapping[str, tuple[float, float, float]] = {
    "liaodong-bay": (11.5, 12.5, 222.0),
    "liaohe-estuary": (11.5, 12.5, 222.0),
    "bohai-strait": (12.5, 11.5, 228.0),
    "north-yellow-sea": (13.0, 10.5, 232.0),
    "yalu-estuary": (12.0, 12.0, 225.0),
}
DEFAULT_SST_CLIMATE = (12.5, 11.5, 228.0)
SALINITY_MEAN_PSU: Mapping[str, float] = {
    "liaodong-bay": 30.5,
    "north-yellow-sea": 31.8,
    "bohai-strait": 31.2,
}
TURBIDITY_BASE_NTU: Mapping[str, float] = {"liaodong-bay": 10.0, "north-yellow-sea": 3.0}


def year_fraction(t_s: np.ndarray) -> np.ndarray:
    """Fraction of the year since 1 January (the epoch is a 1 January; drift < 1 day per century)."""
    return np.mod(t_s / DAY_S, YEAR_DAYS) / YEAR_DAYS


def seasonal(t_s: np.ndarray, peak_day: float) -> np.ndarray:
    """Annual cosine, +1 on peak_day (day of year), -1 half a year later."""
    return np.cos(2.0 * np.pi * (year_fraction(t_s) - peak_day / YEAR_DAYS))


def seasonal_sst_degC(t_s: np.ndarray, area: str) -> np.ndarray:
    """The simulator's SST climatology for an area (what a heatwave is measured against)."""
    mean, half_range, peak_day = SST_CLIMATE.get(area, DEFAULT_SST_CLIMATE)
    return mean + half_range * seasonal(t_s, peak_day)


def local_solar_hour(t_s: np.ndarray, longitude: float) -> np.ndarray:
    return np.mod(t_s / 3600.0 + longitude / 15.0, 24.0)


def sun_elevation_sin(t_s: np.ndarray, latitude: float, longitude: float) -> np.ndarray:
    """Sine of the solar elevation (declination from the day of year, hour angle from solar time)."""
    declination = np.radians(-23.44) * np.cos(2.0 * np.pi * (year_fraction(t_s) + 10.0 / YEAR_DAYS))
    hour_angle = np.radians(15.0 * (local_solar_hour(t_s, longitude) - 12.0))
    lat = np.radians(latitude)
    return np.sin(lat) * np.sin(declination) + np.cos(lat) * np.cos(declination) * np.cos(hour_angle)


def window(t_s: np.ndarray, start_s: float, end_s: float, ramp_s: float) -> np.ndarray:
    """0 outside [start, end], 1 inside, with raised-cosine ramps of ramp_s (a Hann bump at half)."""
    ramp_s = max(min(ramp_s, (end_s - start_s) / 2.0), 1.0)
    rise = np.clip((t_s - start_s) / ramp_s, 0.0, 1.0)
    fall = np.clip((end_s - t_s) / ramp_s, 0.0, 1.0)
    return 0.5 - 0.5 * np.cos(np.pi * np.minimum(rise, fall))


@dataclass(frozen=True, slots=True)
class ActiveEvent:
    """A scenario event placed on one station's absolute timeline with its strength resolved."""

    kind: str
    station: str
    start_s: float
    end_s: float
    params: Mapping[str, Any] = field(default_factory=dict)

    def weight(self, t_s: np.ndarray) -> np.ndarray:
        if self.kind in PEAKED_KINDS:
            ramp_s = (self.end_s - self.start_s) / 2.0
        else:
            ramp_s = float(self.params.get("ramp_h") or 0.0) * 3600.0
        return window(t_s, self.start_s, self.end_s, ramp_s)

    def progress(self, t_s: np.ndarray) -> np.ndarray:
        """0 → 1 linearly through the event, 0 outside it (battery decline, drift distance)."""
        inside = (t_s >= self.start_s) & (t_s < self.end_s)
        return np.where(inside, (t_s - self.start_s) / (self.end_s - self.start_s), 0.0)

    def covers(self, t_s: np.ndarray) -> np.ndarray:
        return (t_s >= self.start_s) & (t_s < self.end_s)

    @property
    def peak_s(self) -> float:
        return (self.start_s + self.end_s) / 2.0


_CLONE_SUFFIX = re.compile(r"(.+)-\d{4,}")


class StationModel:
    """The signals of one station; `values(t_s)` gives every variable the station measures."""

    def __init__(self, station: Station, seed: int, events: Sequence[ActiveEvent] = ()) -> None:
        self.station = station
        self.seed = seed
        clone = _CLONE_SUFFIX.fullmatch(station.id)
        self.tide: TideModel = tide_for(station, clone.group(1) if clone else None)
        self.events: tuple[ActiveEvent, ...] = tuple(events)
        self.msl_m = station.datum.msl_above_datum_m
        self.variables = tuple(sorted(v for v in station.variables if v in VARIABLE_SIGNALS))
        self.unmodelled = tuple(sorted(station.variables - set(VARIABLE_SIGNALS)))
        self._keys: dict[str, int] = {}

    def key(self, name: str) -> int:
        key = self._keys.get(name)
        if key is None:
            key = self._keys[name] = noise.stream_key(self.seed, self.station.id, name)
        return key

    def jitter(self, name: str, spread: float) -> float:
        """A fixed per-station factor in [1 - spread, 1 + spread]: stations of a kind differ a little."""
        return 1.0 + spread * (2.0 * float(noise.uniform(self.key("jitter:" + name), 0)[0]) - 1.0)

    def of_kind(self, kind: str) -> tuple[ActiveEvent, ...]:
        return tuple(e for e in self.events if e.kind == kind)

    def with_events(self, events: Sequence[ActiveEvent]) -> StationModel:
        clone = object.__new__(StationModel)
        clone.__dict__.update(self.__dict__)
        clone.events = tuple(events)
        return clone

    def frame(self, t_s: np.ndarray) -> Frame:
        return Frame(self, np.asarray(t_s, dtype=np.float64))

    def values(self, t_s: np.ndarray) -> dict[str, np.ndarray]:
        """Clean (fault-free) values of every modelled variable at times t_s, clipped to nothing."""
        frame = self.frame(t_s)
        return {var: VARIABLE_SIGNALS[var](frame) for var in self.variables}


class Frame:
    """Intermediate quantities of one station at one set of times, each computed at most once."""

    def __init__(self, model: StationModel, t_s: np.ndarray) -> None:
        self.m = model
        self.t = t_s
        self.index = np.floor(t_s).astype(np.int64)  # white noise is addressed by the second

    def white(self, name: str) -> np.ndarray:
        return noise.normal(self.m.key(name), self.index)

    def slow(self, name: str, scale_s: float) -> np.ndarray:
        return noise.smooth(self.m.key(name), self.t, scale_s)

    def effect(self, kind: str, param: str) -> np.ndarray:
        total = np.zeros_like(self.t)
        for event in self.m.of_kind(kind):
            total += event.weight(self.t) * float(event.params[param])
        return total

    # --- shared drivers ---------------------------------------------------------------------------
    @cached_property
    def solar_hour(self) -> np.ndarray:
        return local_solar_hour(self.t, self.m.station.longitude)

    @cached_property
    def sun(self) -> np.ndarray:
        return np.clip(sun_elevation_sin(self.t, self.m.station.latitude, self.m.station.longitude), 0, 1)

    @cached_property
    def productivity(self) -> np.ndarray:
        """+1 mid-afternoon, -1 before dawn: when photosynthesis has raised or respiration drawn down O2."""
        return np.cos(2.0 * np.pi * (self.solar_hour - 15.0) / 24.0)

    @cached_property
    def par(self) -> np.ndarray:
        cloud = np.clip(0.7 + 0.25 * self.slow("cloud", DAY_S), 0.25, 1.0)
        return 2100.0 * self.sun**1.2 * cloud

    @cached_property
    def pressure(self) -> np.ndarray:
        return (
            1014.0
            + 9.0 * seasonal(self.t, 15.0)
            + 7.0 * self.slow("pressure", 2.5 * DAY_S)
            + 0.8 * np.cos(2.0 * np.pi * (self.solar_hour - 10.0) / 12.0)
            - self.effect("storm", "pressure_drop_hpa")
        )

    @cached_property
    def wind_speed(self) -> np.ndarray:
        mean = 5.5 + 1.5 * seasonal(self.t, 15.0)
        speed = mean * np.exp(0.35 * self.slow("wind", 1.5 * DAY_S)) + 0.5 * self.white("wind")
        return np.clip(speed + self.effect("storm", "wind_peak_m_s"), 0.0, 60.0)

    @cached_property
    def wind_direction(self) -> np.ndarray:
        winter = 0.5 + 0.5 * seasonal(self.t, 15.0)  # NW monsoon in winter, S-SW in summer
        direction = 200.0 + 140.0 * winter + 35.0 * self.slow("wind_dir", DAY_S) + 5.0 * self.white("wd")
        for storm in self.m.of_kind("storm"):
            w = storm.weight(self.t)
            delta = np.mod(float(storm.params["wind_from_deg"]) - direction + 180.0, 360.0) - 180.0
            direction = direction + w * delta
        return np.mod(direction, 360.0)

    @cached_property
    def wave_height(self) -> np.ndarray:
        fetch = 0.012 if self.m.station.area == "north-yellow-sea" else 0.009
        hs = 0.15 + fetch * self.wind_speed**2
        hs = hs * (1.0 + 0.05 * self.white("hs")) + self.effect("high_waves", "add_m")
        return np.clip(hs, 0.05, 25.0)

    @cached_property
    def sst(self) -> np.ndarray:
        base = seasonal_sst_degC(self.t, self.m.station.area)
        diurnal = 0.3 * np.cos(2.0 * np.pi * (self.solar_hour - 15.0) / 24.0)
        weather = 0.6 * self.slow("sst", 2.5 * DAY_S) + 0.03 * self.white("sst")
        return np.clip(base + diurnal + weather + self.effect("heatwave", "delta_degC"), -1.8, 35.0)

    @cached_property
    def salinity(self) -> np.ndarray:
        mean = SALINITY_MEAN_PSU.get(self.m.station.area, 31.0)
        runoff = 0.6 * (1.0 - seasonal(self.t, 215.0))  # fresher in the summer rains
        value = mean - 1.2 + runoff + 0.15 * self.slow("sal", 2.0 * DAY_S) + 0.02 * self.white("sal")
        return np.clip(value, 20.0, 36.0)

    @cached_property
    def do_saturation(self) -> np.ndarray:
        """Oxygen solubility in mg/L (gsw µmol/kg × ~1.025 kg/L × 0.032 mg/µmol)."""
        return gsw.O2sol_SP_pt(self.salinity, self.sst) * 1.025 * 0.032

    @cached_property
    def bloom(self) -> np.ndarray:
        return self.effect("bloom", "one")

    @cached_property
    def do_percent(self) -> np.ndarray:
        swing = 15.0 if self.m.station.kind == "seagrass" else 5.0
        pct = 97.0 + swing * self.productivity + 1.5 * self.slow("do", DAY_S) + 0.5 * self.white("do")
        for bloom in self.m.of_kind("bloom"):
            extra = float(bloom.params["do_supersaturation_pct"])
            pct = pct + bloom.weight(self.t) * extra * (0.6 + 0.4 * self.productivity)
        return pct

    @cached_property
    def dissolved_oxygen(self) -> np.ndarray:
        do = self.do_saturation * self.do_percent / 100.0
        for event in self.m.of_kind("hypoxia"):
            w = event.weight(self.t)
            low = float(event.params["min_mg_l"]) + 0.08 * self.white("hypoxia")
            do = do * (1.0 - w) + low * w
        return np.clip(do, 0.05, 25.0)

    @cached_property
    def ph(self) -> np.ndarray:
        pct = 100.0 * self.dissolved_oxygen / self.do_saturation
        ph = 8.05 + 0.006 * (pct - 100.0) + 0.01 * self.white("ph")
        return np.clip(ph + self.effect("bloom", "ph_rise"), 7.2, 9.2)

    @cached_property
    def chlorophyll(self) -> np.ndarray:
        base = 2.2 * self.m.jitter("chl", 0.3) * (1.0 + 0.6 * seasonal(self.t, 110.0))
        base = base * np.exp(0.15 * self.slow("chl", 2.0 * DAY_S) + 0.05 * self.white("chl"))
        return np.clip(
            base + self.effect("bloom", "peak_ug_l") * (1.0 + 0.05 * self.white("bloom")), 0.05, 400
        )

    @cached_property
    def turbidity(self) -> np.ndarray:
        base = TURBIDITY_BASE_NTU.get(self.m.station.area, 4.0) * np.exp(0.3 * self.slow("turb", DAY_S))
        resuspension = 3.0 * self.wave_height**2 if "wave_height_m" in self.m.station.variables else 0.0
        return np.clip(base + resuspension + 0.3 * self.chlorophyll + 0.2 * self.white("turb"), 0.1, 3000.0)

    @cached_property
    def tide(self) -> np.ndarray:
        return self.m.tide.level_m(self.t)

    @cached_property
    def water_level(self) -> np.ndarray:
        inverse_barometer = -0.01 * (self.pressure - 1013.0)
        residual = 0.06 * self.slow("residual", DAY_S) + 0.008 * self.white("wl")
        surge = self.effect("storm_surge", "add_m")
        return self.m.msl_m + self.tide + inverse_barometer + residual + surge

    @cached_property
    def air_temperature(self) -> np.ndarray:
        seasonal_c = 10.0 + 14.0 * seasonal(self.t, 200.0)
        diurnal = 4.0 * np.cos(2.0 * np.pi * (self.solar_hour - 14.5) / 24.0)
        return seasonal_c + diurnal + 2.5 * self.slow("ta", 2.0 * DAY_S) + 0.2 * self.white("ta")

    # --- wetland -------------------------------------------------------------------------------------
    @cached_property
    def platform_m(self) -> float:
        return float(self.m.station.thresholds.get("marsh_platform_m", self.m.msl_m + 0.5))

    @cached_property
    def water_table_depth(self) -> np.ndarray:
        """Depth below the marsh surface (positive down): the tide, damped and 1.5 h late, in the soil;
        standing water above the surface while the marsh is flooded."""
        lagged = self.m.frame(self.t - 1.5 * 3600.0).water_level
        table = self.platform_m - 0.35 + 0.15 * (lagged - self.m.msl_m) + 0.01 * self.white("wt")
        flooded = self.water_level > self.platform_m
        table = np.where(flooded, np.maximum(table, self.water_level), np.minimum(table, self.platform_m))
        return np.clip(self.platform_m - table, -2.9, 4.9)

    @cached_property
    def porewater_salinity(self) -> np.ndarray:
        limit = self.m.station.thresholds.get("porewater_salinity_limit_psu")
        base = 0.55 * float(limit) if limit is not None else 20.0
        evaporation = 1.0 + 0.12 * seasonal(self.t, 140.0)
        value = base * evaporation * (1.0 + 0.04 * self.slow("pws", 3.0 * DAY_S)) + 0.02 * self.white("pws")
        return np.clip(value + self.effect("salinity_intrusion", "add_psu"), 0.05, 75.0)

    @cached_property
    def soil_water_content(self) -> np.ndarray:
        wet = np.clip((0.6 - self.water_table_depth) / 0.6, 0.0, 1.0)
        return np.clip(38.0 + 20.0 * wet + 0.3 * self.white("swc"), 1.0, 99.0)

    @cached_property
    def co2_flux(self) -> np.ndarray:
        # Some green canopy all year so the demo shows daytime uptake even in winter.
        growth = 0.4 + 0.6 * np.clip(seasonal(self.t, 200.0), 0.0, 1.0) ** 1.5
        warmth = np.clip((self.air_temperature + 5.0) / 20.0, 0.5, 1.0)
        gpp = 25.0 * self.m.jitter("gpp", 0.2) * growth * warmth * self.par / (self.par + 500.0)
        reco = 3.0 * 2.0 ** ((self.air_temperature - 10.0) / 10.0)
        reco = np.where(self.water_table_depth < 0.0, 0.6 * reco, reco)
        return np.clip(reco - gpp + 0.8 * self.white("nee"), -60.0, 60.0)

    @cached_property
    def ch4_flux(self) -> np.ndarray:
        sulfate_suppression = np.exp(-self.porewater_salinity / 8.0)
        warm = 2.0 ** ((self.air_temperature - 15.0) / 10.0)
        return np.clip(60.0 * sulfate_suppression * warm + 2.0 * self.white("ch4"), -50.0, 5000.0)

    @cached_property
    def underwater_par(self) -> np.ndarray:
        depth = np.clip(self.water_level, 0.2, None)
        kd = 0.25 + 0.02 * self.turbidity
        return self.par * np.exp(-kd * depth)

    # --- platform -------------------------------------------------------------------------------------
    @cached_property
    def battery(self) -> np.ndarray:
        if self.m.station.kind == "tide_gauge":  # mains-backed
            volts = 13.5 + 0.02 * self.white("batt")
        else:  # solar charging by day, slow drift
            volts = 12.55 + 0.7 * self.sun + 0.05 * self.slow("batt", 3.0 * DAY_S) + 0.01 * self.white("batt")
        for event in self.m.of_kind("battery_low"):
            p = event.progress(self.t)
            volts = volts * (1.0 - p) + float(event.params["min_v"]) * p
        return volts

    @cached_property
    def offset_km(self) -> tuple[np.ndarray, np.ndarray]:
        """North and east offsets of a moored buoy: swinging on its mooring with the tide and wind."""
        radius_km = 0.35 * float(self.m.station.thresholds.get("watch_circle_km", 1.0))
        swing = 2.0 * np.pi * self.t / (12.4206012 * 3600.0) + 0.5 * self.slow("swing", DAY_S)
        north = radius_km * np.cos(swing) + 0.003 * self.white("gps_n")
        east = radius_km * np.sin(swing) + 0.003 * self.white("gps_e")
        for event in self.m.of_kind("adrift"):
            distance_km = (
                event.progress(self.t) * (event.end_s - event.start_s) * float(event.params["speed_m_s"])
            )
            bearing = np.radians(float(event.params["bearing_deg"]))
            north = north + distance_km / 1000.0 * np.cos(bearing)
            east = east + distance_km / 1000.0 * np.sin(bearing)
        return north, east

    @cached_property
    def latitude(self) -> np.ndarray:
        return self.m.station.latitude + self.offset_km[0] / KM_PER_DEG_LAT

    @cached_property
    def longitude(self) -> np.ndarray:
        scale = KM_PER_DEG_LAT * np.cos(np.radians(self.m.station.latitude))
        return self.m.station.longitude + self.offset_km[1] / scale


def _par(frame: Frame) -> np.ndarray:
    return frame.underwater_par if frame.m.station.kind == "seagrass" else frame.par


def _wave_period(frame: Frame) -> np.ndarray:
    return 2.5 + 2.2 * np.sqrt(frame.wave_height) + 0.1 * frame.white("tp")


# Which quantity each vocabulary variable is (all of them are modelled for every station kind).
VARIABLE_SIGNALS: Mapping[str, Callable[[Frame], np.ndarray]] = {
    "water_level_m": lambda f: f.water_level,
    "water_temperature_degC": lambda f: f.sst,
    "salinity_psu": lambda f: f.salinity,
    "dissolved_oxygen_mg_l": lambda f: f.dissolved_oxygen,
    "ph_total": lambda f: f.ph,
    "chlorophyll_ug_l": lambda f: f.chlorophyll,
    "turbidity_ntu": lambda f: f.turbidity,
    "wave_height_m": lambda f: f.wave_height,
    "wave_period_s": _wave_period,
    "wind_speed_m_s": lambda f: f.wind_speed,
    "wind_direction_deg": lambda f: f.wind_direction,
    "air_pressure_hpa": lambda f: f.pressure,
    "air_temperature_degC": lambda f: f.air_temperature,
    "water_table_depth_m": lambda f: f.water_table_depth,
    "porewater_salinity_psu": lambda f: f.porewater_salinity,
    "soil_water_content_pct": lambda f: f.soil_water_content,
    "co2_flux_umol_m2_s": lambda f: f.co2_flux,
    "ch4_flux_nmol_m2_s": lambda f: f.ch4_flux,
    "par_umol_m2_s": _par,
    "latitude_deg": lambda f: f.latitude,
    "longitude_deg": lambda f: f.longitude,
    "battery_voltage_v": lambda f: f.battery,
}
