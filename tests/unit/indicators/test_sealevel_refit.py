"""Refit against utide's forward model: storms not absorbed, no worse model taken, quality carried and
marked, P1/K2 inferred, published constants used as given (the MATLAB UTide fit of Honolulu 2010)."""

from __future__ import annotations

import numpy as np
import pytest
import utide
from test_sealevel_tide import KNOWN, LATITUDE, T0_US, US_PER_DAY, UTIDE_DIR, synthetic_series, true_tide
from utide.utilities import convert_unicode_arrays, loadbunch

from schemas.registry import InferenceRatio, TideInference
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.constants import ConstantsError, load_constants_csv, model_from_constants
from streams.indicators.sealevel.inference import Inference, station_inference
from streams.indicators.sealevel.quality import is_provisional, shortfalls
from streams.indicators.sealevel.refit import (
    RefitPolicy,
    refit,
    refit_window,
    residual_rms_m,
    resolvable_constituents,
)
from streams.indicators.sealevel.tide import TideModel, fit_tide

STEP_US = 360 * 1_000_000
LONG_PERIOD = {"SA", "SSA", "MSM", "MM", "MSF", "MF"}


def _after(start_day: float, days: float) -> np.ndarray:
    return T0_US + int(start_day * US_PER_DAY) + np.arange(int(days * 240), dtype=np.int64) * STEP_US


def _running_mean(x: np.ndarray, n: int) -> np.ndarray:
    return np.convolve(x, np.ones(n) / n, mode="valid")


def test_long_period_constituents_wait_for_a_year_of_record() -> None:
    assert "MSF" in resolvable_constituents(30, long_period_min_days=0)  # Rayleigh alone: 14.8 d
    assert not LONG_PERIOD & set(resolvable_constituents(30))
    assert not LONG_PERIOD & set(resolvable_constituents(364))
    assert set(resolvable_constituents(366)) >= LONG_PERIOD


def test_a_storm_inside_the_refit_window_is_not_absorbed() -> None:
    # 30 days of 6-min levels, 2 cm noise, a 0.8 m storm (6-h Gaussian) on day 22; truth after the window:
    # the tide alone, so the surge of the next 14 days must be the noise around zero.
    times, levels, _ = synthetic_series(30, step_s=360, noise_m=0.02, seed=11, surge_peak_day=22)
    window = refit_window(int(times[-1]), int(times[0]), None)
    assert window is not None
    outcome = refit(times, levels, LATITUDE, window, None)
    assert outcome.model is not None and outcome.model.method == "robust"
    after = _after(30, 14)
    error = outcome.model.predict(after) - true_tide(after)  # = truth surge - computed surge
    # Tolerances: every reading within 1 cm of the truth, and no false oscillation: the 25-h mean
    # of the error within 3 mm (a storm fitted into MM/MSF shows as a +-2 cm wave lasting weeks).
    assert np.abs(error).max() < 0.01
    assert np.abs(_running_mean(error, 250)).max() < 0.003
    # The old refit (OLS, long-period constituents by Rayleigh alone) on the same data shows the fault.
    old = fit_tide(
        times, levels, LATITUDE, method="ols", constit=resolvable_constituents(30, long_period_min_days=0)
    )
    old_error = old.predict(after) - true_tide(after)
    assert np.abs(_running_mean(old_error, 250)).max() > 0.015


@pytest.fixture(scope="module")
def drift_case() -> dict[str, object]:
    """A current model on 30 clean days, then 10 days of a sensor drifting to +0.3 m that QC passed,
    then a clean day after maintenance; the refit runs at day 41."""
    times, levels, _ = synthetic_series(41, step_s=360, noise_m=0.02, seed=13)
    current = fit_tide(
        times[times <= T0_US + 30 * US_PER_DAY], levels[times <= T0_US + 30 * US_PER_DAY], LATITUDE
    )
    ramp = (times > T0_US + 30 * US_PER_DAY) & (times <= T0_US + 40 * US_PER_DAY)
    drifted = levels.copy()
    drifted[ramp] += 0.3 * (times[ramp] - T0_US - 30 * US_PER_DAY) / (10 * US_PER_DAY)
    return {"times": times, "clean": levels, "drifted": drifted, "current": current}


def test_a_refit_does_not_replace_a_good_model_with_a_worse_one(drift_case: dict) -> None:
    times, current = drift_case["times"], drift_case["current"]
    window = refit_window(int(times[-1]), int(times[0]), current)
    assert window is not None
    outcome = refit(times, drift_case["drifted"], LATITUDE, window, current)
    assert outcome.model is None and outcome.candidate is not None
    held = times > window.end_us - US_PER_DAY
    assert outcome.held_back_readings == int(held.sum())
    # The scores are the residuals of each model on the held-back (clean) day, recomputed here.
    assert outcome.current_rms_m == pytest.approx(
        residual_rms_m(current, times[held], drift_case["drifted"][held])
    )
    assert outcome.candidate_rms_m > outcome.current_rms_m
    # On clean data the candidate, with ten more days, is taken and takes effect at the window's end.
    taken = refit(times, drift_case["clean"], LATITUDE, window, current)
    assert taken.model is not None and taken.candidate_rms_m <= taken.current_rms_m
    assert taken.model.effective_from_us == window.end_us
    assert taken.model.record_end_us <= window.end_us - US_PER_DAY


def test_a_rejected_refit_waits_a_day_when_the_attempt_is_kept(drift_case: dict) -> None:
    times, current = drift_case["times"], drift_case["current"]
    now = int(times[-1])
    assert refit_window(now, int(times[0]), current, last_attempt_us=now - US_PER_DAY // 2) is None
    assert refit_window(now, int(times[0]), current, last_attempt_us=now - US_PER_DAY) is not None


def test_the_first_model_is_provisional_until_n2_is_resolved() -> None:
    times, levels, _ = synthetic_series(31, step_s=360, noise_m=0.02, seed=17)
    early = times <= T0_US + 15 * US_PER_DAY
    first = fit_tide(times[early], levels[early], LATITUDE, constit=resolvable_constituents(15))
    later = fit_tide(times, levels, LATITUDE, constit=resolvable_constituents(31))
    assert "N2" not in first.resolved and {"M2", "S2", "K1", "O1"} <= set(first.resolved)
    assert first.residual_sd_m is not None and first.record_days == pytest.approx(15, abs=0.01)
    assert is_provisional(first) and any("N2" in s for s in shortfalls(first))
    assert not is_provisional(later), shortfalls(later)
    # The quality travels with the model (JSON round trip, as stored and sent to the indicators agent).
    again = TideModel.from_json(first.to_json())
    assert (again.resolved, again.residual_sd_m, again.method) == (
        first.resolved,
        first.residual_sd_m,
        "robust",
    )
    # Its surge is published under its own name, which no alert rule can read; the later model's as surge_m.
    cfg = SeaLevelConfig("synthetic", 360.0)
    t = _after(31, 2)
    h = true_tide(t)
    for model, name in ((first, "surge_provisional_m"), (later, "surge_m")):
        names = {r.indicator for r in compute_indicators(cfg, t, h, [model])}
        assert name in names and ({"surge_m", "surge_provisional_m"} - {name}).isdisjoint(names)
        # Cycle maxima are made of trusted surge only.
        assert ("surge_max_cycle_m" in names) == (name == "surge_m")


def test_p1_and_k2_are_inferred_from_published_ratios() -> None:
    # Truth: the five known constituents plus P1 and K2 at their equilibrium-like ratios; 60 days
    # cannot separate P1 from K1 nor K2 from S2 (182.6 d needed).
    k1, s2 = KNOWN["K1"], KNOWN["S2"]
    truth = {"P1": (0.331 * k1[0], k1[1] - 5.0), "K2": (0.272 * s2[0], s2[1] + 3.0)}
    times = T0_US + np.arange(0, 60 * 86_400, 360, dtype=np.int64) * 1_000_000
    extra = _forward(truth, times)
    levels = true_tide(times) + extra + 0.02 * np.random.default_rng(19).standard_normal(times.size)
    constit = resolvable_constituents(60)
    assert "P1" not in constit and "K2" not in constit
    inference = Inference.from_constants({**KNOWN, **truth})
    model = fit_tide(times, levels, LATITUDE, constit=constit, infer=inference.to_utide(constit))
    fitted = model.amplitude_phase()
    assert model.inferred == ("P1", "K2") and "P1" not in model.resolved
    for name, (amp, phase) in {**truth, "K1": k1, "S2": s2}.items():
        assert fitted[name][0] == pytest.approx(amp, abs=0.003), name
        assert abs((fitted[name][1] - phase + 180) % 360 - 180) < 1.0, name
    # The half-year after: the inferred model predicts within 1.5 cm; without inference K1 and S2
    # carry the beat of P1 and K2 and miss by several centimetres.
    plain = fit_tide(times, levels, LATITUDE, constit=constit)
    after = _after(60, 90)[::10]
    truth_after = true_tide(after) + _forward(truth, after)
    assert np.abs(model.predict(after) - truth_after).max() < 0.015
    assert np.abs(plain.predict(after) - truth_after).max() > 0.04


def test_a_gauges_registry_inference_reaches_its_refit() -> None:
    # The gauge's registry entry names the ratios (or a reference gauge); refit gets the Inference the
    # worker builds from it, so a 60-day record fits P1 and K2 tied to K1 and S2.
    k1, s2 = KNOWN["K1"], KNOWN["S2"]
    truth = {"P1": (0.331 * k1[0], k1[1] - 5.0), "K2": (0.272 * s2[0], s2[1] + 3.0)}
    times = T0_US + np.arange(0, 60 * 86_400, 360, dtype=np.int64) * 1_000_000
    levels = (
        true_tide(times)
        + _forward(truth, times)
        + 0.02 * np.random.default_rng(23).standard_normal(times.size)
    )
    ratios = TideInference(
        ratios=(
            InferenceRatio("P1", "K1", truth["P1"][0] / k1[0], (k1[1] - truth["P1"][1]) % 360),
            InferenceRatio("K2", "S2", truth["K2"][0] / s2[0], (s2[1] - truth["K2"][1]) % 360),
        )
    )
    # A reference gauge with published constants of all four gives the same ratios.
    official = model_from_constants("ref", LATITUDE, {**KNOWN, **truth}, 0.0, T0_US)
    from_reference = station_inference(TideInference(reference_station="ref"), official)
    assert from_reference is not None and station_inference(ratios) is not None
    assert from_reference.amp_ratios == pytest.approx(station_inference(ratios).amp_ratios)  # type: ignore[union-attr]
    assert from_reference.phase_offsets_deg == pytest.approx(station_inference(ratios).phase_offsets_deg)  # type: ignore[union-attr]
    # A reference whose own record cannot separate P1 and K2 gives none: the fit goes without.
    short = fit_tide(times[: 30 * 240], levels[: 30 * 240], LATITUDE)
    assert station_inference(TideInference(reference_station="ref"), short) is None
    assert station_inference(TideInference(reference_station="ref"), None) is None
    window = refit_window(int(times[-1]), int(times[0]), None)
    assert window is not None
    outcome = refit(times, levels, LATITUDE, window, None, inference=station_inference(ratios))
    assert outcome.model is not None and outcome.model.inferred == ("P1", "K2")
    after = _after(60, 90)[::10]
    truth_after = true_tide(after) + _forward(truth, after)
    assert np.abs(outcome.model.predict(after) - truth_after).max() < 0.015


def _forward(constants: dict[str, tuple[float, float]], times_us: np.ndarray) -> np.ndarray:
    """utide's forward model of extra constituents (zero mean), via a published-constants model."""
    from streams.indicators.sealevel.constants import model_from_constants

    model = model_from_constants("truth", LATITUDE, constants, 0.0, int(times_us[0]))
    return utide.reconstruct(times_us / US_PER_DAY, model._coef_bunch(), epoch="1970-01-01", verbose=False).h


def _write_published(path, names, amps_mm, phases, mean_mm) -> None:  # type: ignore[no-untyped-def]
    rows = ["# Honolulu 2010, MATLAB UTide (mm converted to m)", "constituent,amplitude_m,phase_deg"]
    rows.append(f"Z0,{mean_mm / 1000},0")
    rows += [f"{n},{a / 1000},{g}" for n, a, g in zip(names, amps_mm, phases, strict=True)]
    path.write_text("\n".join(rows) + "\n")


def test_published_constants_predict_as_utide_does_and_are_only_monitored(tmp_path) -> None:  # type: ignore[no-untyped-def]
    published = convert_unicode_arrays(loadbunch(str(UTIDE_DIR / "HNL2010.mat"))).coef
    path = tmp_path / "HNL.csv"
    _write_published(path, published.name, published.A, published.g, published.mean)
    start = int(np.datetime64("2010-01-01", "us").astype(np.int64))
    model = load_constants_csv("HNL", 21.0, path, start)
    assert model.source == "official" and not is_provisional(model)
    assert model.effective_from_us == start
    # The reference: utide.reconstruct of the published coefficients (trend left out), at 10-min steps
    # over 60 days; the loaded constants agree to the 6-min grid's interpolation error (< 0.2 mm with
    # Honolulu's shallow-water constituents).
    times = start + np.arange(0, 60 * 86_400, 600, dtype=np.int64) * 1_000_000
    ref = published.copy()
    ref["slope"] = 0.0  # the file has no trend; MATLAB's constituent indices are 1-based
    ref["aux"]["lind"] = np.asarray(published.aux.lind) - 1
    ref_h = utide.reconstruct(times / US_PER_DAY, ref, epoch="1970-01-01", verbose=False, min_SNR=0).h
    ref_h = ref_h / 1000
    assert np.abs(model.predict(times) - ref_h).max() < 2e-4
    # The refit fits a candidate, scores both on the held-back day, and keeps the published model.
    hourly = np.loadtxt(UTIDE_DIR / "HNL2010.asc")[: 40 * 24]
    days_1700 = (np.datetime64("1970-01-01") - np.datetime64("1700-01-01")).astype(int)
    t = np.rint((hourly[:, 0] - days_1700) * US_PER_DAY).astype(np.int64)
    h = hourly[:, 1] / 1000
    window = refit_window(int(t[-1]), int(t[0]), model, RefitPolicy(), last_attempt_us=None)
    assert window is not None
    outcome = refit(t, h, 21.0, window, model)
    assert outcome.model is None and outcome.reason.startswith("official")
    held = t > window.end_us - US_PER_DAY
    assert outcome.current_rms_m == pytest.approx(residual_rms_m(model, t[held], h[held]))
    assert outcome.candidate is not None and outcome.candidate_rms_m is not None


def test_a_bad_constants_file_names_station_and_row(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.csv"
    path.write_text("constituent,amplitude_m,phase_deg\nZ0,1.4,0\nM2,abc,10\n")
    with pytest.raises(ConstantsError, match=r"'X'.*row 3"):
        load_constants_csv("X", 21.0, path, T0_US)
    path.write_text("constituent,amplitude_m,phase_deg\nM2,0.5,10\n")
    with pytest.raises(ConstantsError, match="Z0"):
        load_constants_csv("X", 21.0, path, T0_US)
