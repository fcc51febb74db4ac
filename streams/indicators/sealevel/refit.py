"""When to refit a station's tide model, on what window, and what that window can resolve.

Pure decisions, so the scheduler (a daily job in the stream layer) only reads history, calls
``fit_tide`` and stores the result: the Rayleigh criterion (two constituents separate when the record
is at least 1/|f1 - f2| long) decides which constituents a record length resolves, e.g. ~15 days
separates M2 from S2, ~28 days N2 from M2, ~183 days K1 from P1 and S2 from K2. Long-period
constituents (SA … MF, periods of weeks to a year) are kept out until the record is a year long: on
shorter records they are resolved from the mean by Rayleigh alone but mostly fit weather, a storm
becoming a false MM/MSF oscillation of centimetres for weeks after it.

``refit`` never lets a new fit replace a better model: the candidate is fitted on the window up to the
end of the current model's record, and both are scored on the days after it, which neither has seen.
A model of published constants (``source == "official"``) is never replaced; the refit then only
monitors how well it predicts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from utide._ut_constants import ut_constants

from schemas.datums import DatumHistory, zero_shift_m
from streams.indicators.sealevel.inference import Inference
from streams.indicators.sealevel.tide import US_PER_DAY, TideModel, fit_tide, predict_on_zeros

# Below 0.03 cycles/hour (periods over ~33 h): the long-period band, SA, SSA, MSM, MM, MSF, MF.
LONG_PERIOD_MAX_CPH = 0.03
LONG_PERIOD_MIN_DAYS = 365.0


def resolvable_constituents(
    span_days: float, rayleigh: float = 1.0, long_period_min_days: float = LONG_PERIOD_MIN_DAYS
) -> list[str]:
    """Constituents utide's ``constit='auto'`` selects for a record of this length, without the
    long-period band until the record spans ``long_period_min_days``."""
    const = ut_constants.const
    if span_days <= 0:
        return []
    keep = const.df >= rayleigh / (24 * span_days)
    if span_days < long_period_min_days:
        keep &= const.freq >= LONG_PERIOD_MAX_CPH
    return [str(n) for n in const.name[keep]]


@dataclass(frozen=True, slots=True)
class RefitPolicy:
    """Defaults: first fit after 15 days (M2/S2 resolved), refit daily on up to a year of history,
    long-period constituents from a year on, at least one held-back day to score a candidate."""

    min_span_days: float = 15.0
    window_days: float = 366.0
    refit_every_days: float = 1.0
    min_coverage: float = 0.6
    long_period_min_days: float = LONG_PERIOD_MIN_DAYS
    min_held_back_days: float = 1.0


@dataclass(frozen=True, slots=True)
class FitWindow:
    start_us: int
    end_us: int
    constituents: list[str]


def refit_window(
    now_us: int,
    history_start_us: int | None,
    last_model: TideModel | None,
    policy: RefitPolicy = RefitPolicy(),
    last_attempt_us: int | None = None,
) -> FitWindow | None:
    """The window to fit now, or None when no fit is due.

    Due when there is no model yet, or the last model took effect (and the last attempt, which the
    caller must keep: a rejected candidate or a monitoring run leaves no new model) at least
    ``refit_every_days`` ago;
    possible when the QC-good history spans ``min_span_days``. The window is the last ``window_days``
    of history (the caller also checks coverage with ``enough_coverage``).
    """
    if history_start_us is None:
        return None
    last_us = None if last_model is None else max(last_model.record_end_us, last_model.effective_from_us)
    if last_attempt_us is not None:
        last_us = last_attempt_us if last_us is None else max(last_us, last_attempt_us)
    if last_us is not None and now_us - last_us < policy.refit_every_days * US_PER_DAY:
        return None
    start_us = max(history_start_us, now_us - int(policy.window_days * US_PER_DAY))
    span_days = (now_us - start_us) / US_PER_DAY
    if span_days < policy.min_span_days:
        return None
    return FitWindow(
        start_us, now_us, resolvable_constituents(span_days, long_period_min_days=policy.long_period_min_days)
    )


def enough_coverage(
    times_us: np.ndarray, window: FitWindow, sampling_interval_s: float, policy: RefitPolicy = RefitPolicy()
) -> bool:
    """True when the window holds at least ``min_coverage`` of its nominal readings."""
    expected = (window.end_us - window.start_us) / (sampling_interval_s * 1e6)
    return expected > 0 and np.asarray(times_us).size >= policy.min_coverage * expected


@dataclass(frozen=True, slots=True)
class RefitOutcome:
    """What a refit decided: ``model`` to publish (None: keep the current one) and why, with the
    residual RMS (m) of candidate and current model on the held-back readings."""

    model: TideModel | None
    reason: str
    candidate: TideModel | None = None
    candidate_rms_m: float | None = None
    current_rms_m: float | None = None
    held_back_readings: int = 0


def residual_rms_m(
    model: TideModel, times_us: np.ndarray, levels_m: np.ndarray, zeros: DatumHistory | None = None
) -> float:
    """Root mean square of observed - predicted (a constant offset counts too), each level above the
    zero in force at its time."""
    predicted = predict_on_zeros(model, times_us, zeros)
    return float(np.sqrt(np.mean((np.asarray(levels_m) - predicted) ** 2)))


def refit(
    times_us: np.ndarray,
    levels_m: np.ndarray,
    latitude: float,
    window: FitWindow,
    current: TideModel | None,
    policy: RefitPolicy = RefitPolicy(),
    *,
    station: str = "",
    inference: Inference | None = None,
    zeros: DatumHistory | None = None,
) -> RefitOutcome:
    """Fit a candidate on the window's QC-good levels and decide whether it replaces ``current``.

    First model: fitted on the whole window and taken. Later: the last ``min_held_back_days`` of
    the window (and anything after the current model's record) are held back; the candidate is fitted
    on the rest and taken only when its residual RMS on the held-back readings, out of sample for both
    models, is not larger than the current model's. A taken candidate takes effect at the window's
    end. Published constants are never replaced: the refit then only monitors them. With
    ``inference``, constituents the record cannot separate (P1, K2) are inferred from the reference.
    ``zeros``, the station zero's levelling history: a candidate is fitted on the levels moved onto
    the zero in force at the window's end (where it takes effect), so a window across a re-levelling
    does not mix two zeros, and both models are scored on the zero of each held-back reading.
    """
    times_us = np.asarray(times_us, dtype=np.int64)
    levels_m = np.asarray(levels_m, dtype=float)
    good = np.isfinite(levels_m)
    times_us, levels_m = times_us[good], levels_m[good]
    on_end_zero = levels_m
    if zeros is not None:
        on_end_zero = levels_m + zero_shift_m(zeros, times_us, window.end_us)

    def fit(t: np.ndarray, h: np.ndarray) -> TideModel:
        span_days = (int(t.max()) - int(t.min())) / US_PER_DAY
        constit = [
            c
            for c in resolvable_constituents(span_days, long_period_min_days=policy.long_period_min_days)
            if c in window.constituents
        ]
        infer = inference.to_utide(constit) if inference is not None else None
        return fit_tide(
            t, h, latitude, station=station, constit=constit, infer=infer, effective_from_us=window.end_us
        )

    if current is None:
        return RefitOutcome(fit(times_us, on_end_zero), "first model")
    split_us = window.end_us - int(policy.min_held_back_days * US_PER_DAY)
    if current.source != "official" and split_us <= current.record_end_us:
        return RefitOutcome(None, "no readings since the current model's record beyond the held-back days")
    held = times_us > split_us
    if not held.any() or held.all():
        return RefitOutcome(None, "no readings to hold back")
    candidate = fit(times_us[~held], on_end_zero[~held])
    candidate_rms = residual_rms_m(candidate, times_us[held], levels_m[held], zeros)
    current_rms = residual_rms_m(current, times_us[held], levels_m[held], zeros)
    scores: dict[str, Any] = {
        "candidate": candidate,
        "candidate_rms_m": candidate_rms,
        "current_rms_m": current_rms,
        "held_back_readings": int(held.sum()),
    }
    if current.source == "official":
        return RefitOutcome(None, "official constants: monitoring only", **scores)
    if candidate_rms > current_rms:
        return RefitOutcome(None, "candidate worse on held-back days", **scores)
    return RefitOutcome(candidate, "candidate not worse on held-back days", **scores)
