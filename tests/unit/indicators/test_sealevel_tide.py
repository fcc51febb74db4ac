"""Tide model: the published MATLAB UTide fit of Honolulu 2010, and a synthetic tide with a known surge."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import utide
from utide._ut_constants import constit_index_dict, ut_constants
from utide.utilities import Bunch, convert_unicode_arrays, loadbunch

from streams.indicators.sealevel.refit import (
    RefitPolicy,
    enough_coverage,
    refit_window,
    resolvable_constituents,
)
from streams.indicators.sealevel.tide import TideModel, averaging_gain, bin_means, fit_tide, predict_with

UTIDE_DIR = Path(__file__).resolve().parents[2] / "data" / "reference" / "utide"
US_PER_DAY = 86_400_000_000
T0_US = int(np.datetime64("2024-03-01T00:00:00", "us").astype(np.int64))
LATITUDE = 38.9
# Known constituents of the synthetic station (amplitude m, Greenwich phase deg), Dalian-like magnitudes.
KNOWN = {"M2": (1.00, 40.0), "S2": (0.30, 80.0), "N2": (0.20, 20.0), "K1": (0.30, 150.0), "O1": (0.25, 110.0)}
MEAN_M = 1.8


def _known_coef() -> Bunch:
    names = list(KNOWN)
    lind = np.array([constit_index_dict[n] for n in names])
    opt = Bunch(
        twodim=False,
        nodsatlint=False,
        nodsatnone=False,
        gwchlint=False,
        gwchnone=False,
        prefilt=[],
        nodiagn=True,
        notrend=True,
    )
    return Bunch(
        name=np.array(names, dtype=object),
        A=np.array([KNOWN[n][0] for n in names]),
        g=np.array([KNOWN[n][1] for n in names]),
        mean=MEAN_M,
        slope=0.0,
        aux=Bunch(
            frq=ut_constants.const.freq[lind],
            lind=lind,
            reftime=T0_US / US_PER_DAY + 20,
            lat=LATITUDE,
            opt=opt,
        ),
    )


def true_tide(times_us: np.ndarray) -> np.ndarray:
    """The astronomical tide of the known constituents (utide's forward model, nodal corrections on)."""
    return utide.reconstruct(
        np.asarray(times_us) / US_PER_DAY, _known_coef(), epoch="1970-01-01", verbose=False
    ).h


def synthetic_series(
    days: float,
    step_s: int = 60,
    noise_m: float = 0.02,
    seed: int = 0,
    surge_peak_day: float | None = None,
    start_day: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Times, observed levels (tide + surge + white noise) and the injected surge (a 6-h Gaussian, 0.8 m),
    from ``start_day`` to ``days`` after T0."""
    start_s = int(start_day * 86_400)
    times = T0_US + np.arange(start_s, int(days * 86_400), step_s, dtype=np.int64) * 1_000_000
    surge = np.zeros(times.size)
    if surge_peak_day is not None:
        surge = 0.8 * np.exp(-0.5 * ((times - T0_US - surge_peak_day * US_PER_DAY) / (6 * 3.6e9)) ** 2)
    noise = noise_m * np.random.default_rng(seed).standard_normal(times.size)
    return times, true_tide(times) + surge + noise, surge


def _hnl() -> tuple[np.ndarray, np.ndarray]:
    data = np.loadtxt(UTIDE_DIR / "HNL2010.asc")
    days_1700_to_1970 = (np.datetime64("1970-01-01") - np.datetime64("1700-01-01")).astype(int)
    return np.rint((data[:, 0] - days_1700_to_1970) * US_PER_DAY).astype(np.int64), data[:, 1]


def test_hnl2010_whole_year_matches_published_matlab_utide() -> None:
    # Same algorithm (OLS, automatic constituent choice, nodal corrections, trend as in the MATLAB run), so
    # only time-stamp rounding (days -> integer µs) and arithmetic order differ: seen ~1e-10 mm / 1e-8 deg.
    # Tolerance 0.001 mm and 0.001 deg leaves room for BLAS differences, far below the 0.7-1.3 mm and
    # 0.3-2 deg 95 % intervals of the main constituents, so a real regression cannot hide in it.
    times, heights_mm = _hnl()
    model = fit_tide(times, heights_mm, 21.0, trend=True, method="ols")
    published = convert_unicode_arrays(loadbunch(str(UTIDE_DIR / "HNL2010.mat"))).coef
    assert len(model.constituents) == 59 == len(published.name)
    assert model.coef["mean"] == pytest.approx(1417.34, abs=0.005)
    fitted = model.amplitude_phase()
    for name, amp, phase in (
        ("M2", 176.92, 58.83),
        ("K1", 150.01, 225.81),
        ("O1", 81.82, 216.37),
        ("S2", 52.27, 55.32),
        ("N2", 35.20, 46.14),
    ):
        assert fitted[name][0] == pytest.approx(amp, abs=0.005)
        assert fitted[name][1] == pytest.approx(phase, abs=0.005)
    for name, amp, phase in zip(published.name, published.A, published.g, strict=True):
        assert fitted[name][0] == pytest.approx(amp, abs=1e-3)
        assert abs((fitted[name][1] - phase + 180) % 360 - 180) < 1e-3


@pytest.fixture(scope="module")
def surge_case() -> dict[str, object]:
    times, levels, surge = synthetic_series(40, noise_m=0.02, seed=3, surge_peak_day=35)
    history = times < T0_US + 30 * US_PER_DAY
    model = fit_tide(times[history], levels[history], LATITUDE, station="synthetic")
    return {
        "history": (times[history], levels[history]),
        "times": times[~history],
        "levels": levels[~history],
        "surge": surge[~history],
        "model": model,
    }


def test_synthetic_fit_recovers_the_known_constituents(surge_case: dict) -> None:
    model: TideModel = surge_case["model"]
    fitted = model.amplitude_phase()
    # 30 days resolve M2, S2, N2, K1, O1 (Rayleigh); amplitudes within 2 mm, phases within 0.5 deg with
    # 2 cm noise; every constituent not in the signal stays below 2 mm.
    assert set(KNOWN) <= set(model.constituents)
    for name, (amp, phase) in KNOWN.items():
        assert fitted[name][0] == pytest.approx(amp, abs=0.002)
        assert abs((fitted[name][1] - phase + 180) % 360 - 180) < 0.5
    assert max(a for n, (a, _) in fitted.items() if n not in KNOWN) < 0.002
    assert model.coef["mean"] == pytest.approx(MEAN_M, abs=0.002)
    assert model.bin_s == 360 and model.n_readings == 30 * 1440


def test_residual_recovers_injected_surge(surge_case: dict) -> None:
    model: TideModel = surge_case["model"]
    times, levels, surge = surge_case["times"], surge_case["levels"], surge_case["surge"]
    residual = levels - predict_with([model], times)
    # Per reading the 2 cm white noise stays in the residual; hourly means show the surge within 2 cm.
    hour = (times - times[0]) // 3_600_000_000
    counts = np.bincount(hour)
    assert np.abs(np.bincount(hour, residual) / counts - np.bincount(hour, surge) / counts).max() < 0.02
    assert np.abs(residual - surge).max() < 0.12
    peak = np.argmax(np.bincount(hour, residual) / counts)
    assert abs(peak - (35 - 30) * 24) <= 1


def test_model_json_round_trip_predicts_identically(surge_case: dict) -> None:
    model: TideModel = surge_case["model"]
    again = TideModel.from_json(model.to_json())
    times = surge_case["times"][::7]
    assert np.array_equal(model.predict(times), again.predict(times))
    assert again.constituents == model.constituents
    assert (again.record_start_us, again.record_end_us) == (model.record_start_us, model.record_end_us)
    # The 6-minute grid with linear interpolation stays within 1 mm of utide at every reading.
    direct = utide.reconstruct(times / US_PER_DAY, again._coef_bunch(), epoch="1970-01-01", verbose=False).h
    assert np.abs(again.predict(times) - direct).max() < 0.001


def test_prediction_does_not_depend_on_batching(surge_case: dict) -> None:
    model = TideModel.from_json(surge_case["model"].to_json())
    times = surge_case["times"]
    whole = model.predict(times)
    pieces = np.concatenate([model.predict(chunk) for chunk in np.array_split(times[::-1], 13)])[::-1]
    assert np.array_equal(whole, pieces)


def test_no_prediction_before_the_first_model(surge_case: dict) -> None:
    model: TideModel = surge_case["model"]
    before = np.array([model.effective_from_us - 1, model.effective_from_us], dtype=np.int64)
    predicted = predict_with([model], before)
    assert np.isnan(predicted[0]) and np.isfinite(predicted[1])


def test_bin_means_and_averaging_gain() -> None:
    times = np.array([0, 60, 120, 400, 420], dtype=np.int64) * 1_000_000
    t, v, n = bin_means(times, np.array([1.0, 2.0, 3.0, 10.0, 20.0]), 360)
    assert n.tolist() == [3, 2] and v.tolist() == [2.0, 15.0]
    assert t.tolist() == [60_000_000, 410_000_000]
    # Mean of 60 one-minute samples: M2 (1/12.42 cph) keeps sin(pi f)/(60 sin(pi f / 60)) of its amplitude.
    f = 1 / 12.4206
    expected = np.sin(np.pi * f) / (60 * np.sin(np.pi * f / 60))
    assert averaging_gain(np.array([f]), 60, 1 / 60)[0] == pytest.approx(expected)
    assert averaging_gain(np.array([f]), 1, 1.0)[0] == 1.0


def test_hourly_bins_of_minute_data_keep_amplitudes(surge_case: dict) -> None:
    times, levels = surge_case["history"]
    model = fit_tide(times, levels, LATITUDE, bin_s=3600)
    # Hourly means attenuate M2 by 1.1 % (to 0.989 m); the averaging gain is divided out.
    assert model.n_fit_points == 30 * 24 + 1
    assert model.amplitude_phase()["M2"][0] == pytest.approx(1.0, abs=0.002)


def test_fit_refuses_too_short_records() -> None:
    times, levels, _ = synthetic_series(1)
    with pytest.raises(ValueError, match="synthetic"):
        fit_tide(times, levels, LATITUDE, station="synthetic")


def test_refit_policy() -> None:
    day = US_PER_DAY
    assert {"M2", "S2"} <= set(resolvable_constituents(15)) and "N2" not in resolvable_constituents(15)
    assert "N2" in resolvable_constituents(29) and "P1" not in resolvable_constituents(29)
    assert {"P1", "K2"} <= set(resolvable_constituents(183))
    policy = RefitPolicy()
    assert refit_window(T0_US + 10 * day, T0_US, None, policy) is None  # not enough history
    window = refit_window(T0_US + 20 * day, T0_US, None, policy)
    assert window is not None and window.start_us == T0_US and "S2" in window.constituents
    long = refit_window(T0_US + 500 * day, T0_US, None, policy)
    assert long is not None and long.start_us == T0_US + 134 * day
    times, levels, _ = synthetic_series(3)
    model = fit_tide(times, levels, LATITUDE)
    assert refit_window(model.record_end_us + day // 2, T0_US - 30 * day, model, policy) is None
    assert refit_window(model.record_end_us + day, T0_US - 30 * day, model, policy) is not None
    assert enough_coverage(times, window, 60.0, policy) is False  # 3 days of a 20-day window
