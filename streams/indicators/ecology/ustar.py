"""Friction-velocity (u*) threshold from the data: the moving point test (Papale et al. 2006) with the
binning, checks and aggregation REddyProc uses, and its bootstrap distribution.

Under weak turbulence at night the tower under-measures respiration: night-time NEE rises with u*
and levels off above the threshold. Per season the valid night records (Rg < 10 W m-2, NEE, u*, Tair
known) are split into 7 air-temperature classes of equal size, each into 20 u* classes; the
threshold of a temperature class is the mean u* of the first u* class whose mean NEE reaches 95 % of
the mean of the next 10 classes (and the next class does too), skipped when u* and Tair correlate
(|r| >= 0.5) or the first class's u* is already above 0.2 m s-1. A season's value is the median over
its temperature classes (none when fewer than 20 % gave one); the year's threshold is the largest
season's, or, with fewer than 3000 valid records in the year or no seasonal value, the estimate on
the whole year at once. Seasons within a calendar year: Jan-Feb, Mar-May, Jun-Aug, Sep-Nov, Dec.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

NIGHT_RG_W_M2 = 10.0
TA_CLASSES = 7
USTAR_CLASSES = 20
PLATEAU_FWD = 10
PLATEAU_CRIT = 0.95
CORR_CHECK = 0.5
FIRST_USTAR_MEAN_CHECK_M_S = 0.2
MIN_VALID_TA_CLASSES = 0.2
MIN_PLATEAU_CLASSES = 3
MIN_RECORDS_TA_CLASS = 100
MIN_RECORDS_SEASON = 160
MIN_RECORDS_YEAR = 3000
SEASON_START_MONTHS = (1, 3, 6, 9, 12)


def season_of_month(month: np.ndarray) -> np.ndarray:
    """Season index 0..4 (Jan-Feb, MAM, JJA, SON, Dec) of calendar months 1..12."""
    return np.searchsorted(np.array(SEASON_START_MONTHS), np.asarray(month), side="right") - 1


def _temperature_classes(sorted_tair: np.ndarray, n_class: int, tol: float = 1e-8) -> np.ndarray:
    """Classes 1..n of nearly equal size over sorted values, equal values kept in one class."""
    classes = np.ones(sorted_tair.size, dtype=np.int64)
    size = sorted_tair.size // n_class
    starts = np.flatnonzero(np.diff(sorted_tair) > tol) + 1  # first position of each new value
    for k in range(2, n_class + 1):
        i = np.searchsorted(starts, (k - 1) * size, side="left")
        if i < starts.size:
            classes[starts[i] :] = k
    return classes


def _ustar_classes(sorted_ustar: np.ndarray, n_class: int, tol: float = 1e-14) -> np.ndarray:
    """Classes 1..n of at least floor(n / classes) values over sorted u*, never splitting equal
    values; a short last class joins the one before."""
    n = sorted_ustar.size
    classes = np.zeros(n, dtype=np.int64)
    size = n // n_class
    ends = np.flatnonzero(np.diff(sorted_ustar) > tol)  # last position before each new value
    end, k, first = -1, 0, 0  # last position of the previous class; class; first end to consider
    while end < n - 1:
        k += 1
        start = end + 1
        i = max(int(np.searchsorted(ends, end + size, side="left")), first)
        if i >= ends.size:
            if n - start < size * 0.9 and k != 1:
                k -= 1
            classes[start:] = k
            break
        end, first = int(ends[i]), i + 1
        classes[start : end + 1] = k
    return np.minimum(classes, n_class)


def _plateau_threshold(ustar_mean: np.ndarray, nee_mean: np.ndarray) -> float | None:
    """Mean u* of the first class whose NEE, and the next class's, reach 95 % of the next 10's mean."""
    n = nee_mean.size
    for u in range(n - max(2, MIN_PLATEAU_CLASSES)):
        ahead = nee_mean[u + 1 : u + 1 + PLATEAU_FWD]
        ahead_next = nee_mean[u + 2 : u + 2 + PLATEAU_FWD]
        if nee_mean[u] >= PLATEAU_CRIT * ahead.mean() and nee_mean[u + 1] >= PLATEAU_CRIT * ahead_next.mean():
            return float(ustar_mean[u])
    return None


def _class_threshold(nee: np.ndarray, ustar: np.ndarray) -> float | None:
    order = np.argsort(ustar, kind="stable")
    u, f = ustar[order], nee[order]
    classes = _ustar_classes(u, USTAR_CLASSES)
    ids = np.unique(classes)
    ustar_mean = np.array([u[classes == c].mean() for c in ids])
    nee_mean = np.array([f[classes == c].mean() for c in ids])
    if ustar_mean[0] > FIRST_USTAR_MEAN_CHECK_M_S:
        return None
    return _plateau_threshold(ustar_mean, nee_mean)


def season_threshold(nee: np.ndarray, ustar: np.ndarray, tair: np.ndarray) -> float | None:
    """The moving point test on one season's valid night records."""
    n = nee.size
    if n < MIN_RECORDS_SEASON or n / TA_CLASSES < MIN_RECORDS_TA_CLASS:
        return None
    order = np.argsort(tair, kind="stable")
    nee, ustar, tair = nee[order], ustar[order], tair[order]
    classes = _temperature_classes(tair, TA_CLASSES)
    found = []
    for k in range(1, TA_CLASSES + 1):
        sel = classes == k
        if sel.sum() < 2 or np.std(ustar[sel]) == 0 or np.std(tair[sel]) == 0:
            found.append(np.nan)
            continue
        r = abs(float(np.corrcoef(ustar[sel], tair[sel])[0, 1]))
        value = _class_threshold(nee[sel], ustar[sel]) if np.isfinite(r) and r < CORR_CHECK else None
        found.append(np.nan if value is None else value)
    values = np.array(found)
    if np.isfinite(values).sum() / TA_CLASSES < MIN_VALID_TA_CLASSES:
        return None
    return float(np.nanmedian(values))


def valid_night(nee: np.ndarray, ustar: np.ndarray, tair: np.ndarray, rg_w_m2: np.ndarray) -> np.ndarray:
    ok = np.isfinite(nee) & np.isfinite(ustar) & np.isfinite(tair) & np.isfinite(rg_w_m2)
    night: np.ndarray = ok & (np.nan_to_num(rg_w_m2, nan=np.inf) < NIGHT_RG_W_M2)
    return night


@dataclass(frozen=True, slots=True)
class UstarThreshold:
    """The year's u* threshold (m s-1; None: not found) and each season's (None where not found)."""

    year_m_s: float | None
    seasons_m_s: tuple[float | None, ...]


def _estimate(nee: np.ndarray, ustar: np.ndarray, tair: np.ndarray, season: np.ndarray) -> UstarThreshold:
    seasons = tuple(
        season_threshold(nee[season == s], ustar[season == s], tair[season == s])
        for s in range(len(SEASON_START_MONTHS))
    )
    found = [v for v in seasons if v is not None]
    if nee.size < MIN_RECORDS_YEAR or not found:
        return UstarThreshold(season_threshold(nee, ustar, tair), seasons)
    return UstarThreshold(max(found), seasons)


def ustar_threshold(
    nee: np.ndarray, ustar_m_s: np.ndarray, tair_degC: np.ndarray, rg_w_m2: np.ndarray, month: np.ndarray
) -> UstarThreshold:
    """The year's threshold from one calendar year of records (`month` 1..12 of each record)."""
    ok = valid_night(nee, ustar_m_s, tair_degC, rg_w_m2)
    return _estimate(
        np.asarray(nee)[ok], np.asarray(ustar_m_s)[ok], np.asarray(tair_degC)[ok], season_of_month(month)[ok]
    )


def ustar_threshold_quantiles(
    nee: np.ndarray,
    ustar_m_s: np.ndarray,
    tair_degC: np.ndarray,
    rg_w_m2: np.ndarray,
    month: np.ndarray,
    *,
    n_sample: int = 100,
    probs: tuple[float, ...] = (0.05, 0.5, 0.95),
    seed: int = 0,
) -> tuple[float, ...] | None:
    """Quantiles of the year's threshold over the estimate itself and `n_sample` - 1 bootstrap
    resamples of each season's records (REddyProc's u* scenarios: records drawn with replacement
    within their season, then the valid night ones kept); None when fewer than 40 % give one. The
    seed is fixed, so the same records give the same quantiles."""
    arrays = [np.asarray(a) for a in (nee, ustar_m_s, tair_degC, rg_w_m2)]
    season = season_of_month(month)
    rng = np.random.default_rng(seed)
    groups = [np.flatnonzero(season == k) for k in range(len(SEASON_START_MONTHS))]
    first = ustar_threshold(arrays[0], arrays[1], arrays[2], arrays[3], month).year_m_s
    found = [] if first is None else [first]
    for _ in range(n_sample - 1):
        pick = np.concatenate([rng.choice(g, g.size) for g in groups if g.size])
        f, u, t, r = (a[pick] for a in arrays)
        ok = valid_night(f, u, t, r)
        value = _estimate(f[ok], u[ok], t[ok], season[pick][ok]).year_m_s
        if value is not None:
            found.append(value)
    if len(found) < 0.4 * n_sample:
        return None
    return tuple(float(q) for q in np.quantile(found, probs))
