"""When to refit a station's tide model, on what window, and what that window can resolve.

Pure decisions, so the scheduler (a daily job in the stream layer) only reads history, calls
``fit_tide`` and stores the result: the Rayleigh criterion (two constituents separate when the record
is at least 1/|f1 - f2| long) decides which constituents a record length resolves, e.g. ~15 days
separates M2 from S2, ~28 days N2 from M2, ~183 days K1 from P1 and S2 from K2.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from utide._ut_constants import ut_constants

from streams.indicators.sealevel.tide import US_PER_DAY, TideModel


def resolvable_constituents(span_days: float, rayleigh: float = 1.0) -> list[str]:
    """Constituents utide's ``constit='auto'`` selects for a record of this length."""
    const = ut_constants.const
    if span_days <= 0:
        return []
    return [str(n) for n in const.name[const.df >= rayleigh / (24 * span_days)]]


@dataclass(frozen=True, slots=True)
class RefitPolicy:
    """Defaults: first fit after 15 days (M2/S2 resolved), refit daily on up to a year of history."""

    min_span_days: float = 15.0
    window_days: float = 366.0
    refit_every_days: float = 1.0
    min_coverage: float = 0.6


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
) -> FitWindow | None:
    """The window to fit now, or None when no fit is due.

    Due when there is no model yet, or the last model's record ended at least ``refit_every_days`` ago;
    possible when the QC-good history spans ``min_span_days``. The window is the last ``window_days``
    of history (the caller also checks coverage with ``enough_coverage``).
    """
    if history_start_us is None:
        return None
    if last_model is not None and now_us - last_model.record_end_us < policy.refit_every_days * US_PER_DAY:
        return None
    start_us = max(history_start_us, now_us - int(policy.window_days * US_PER_DAY))
    span_days = (now_us - start_us) / US_PER_DAY
    if span_days < policy.min_span_days:
        return None
    return FitWindow(start_us, now_us, resolvable_constituents(span_days))


def enough_coverage(
    times_us: np.ndarray, window: FitWindow, sampling_interval_s: float, policy: RefitPolicy = RefitPolicy()
) -> bool:
    """True when the window holds at least ``min_coverage`` of its nominal readings."""
    expected = (window.end_us - window.start_us) / (sampling_interval_s * 1e6)
    return expected > 0 and np.asarray(times_us).size >= policy.min_coverage * expected
