"""Eddy-covariance post-processing for carbon budgets: friction-velocity (u*) filtering, gap filling by
marginal distribution sampling (MDS; Reichstein et al. 2005, with the steps, tolerances and quality
flags REddyProc uses) and the random uncertainty of a sum (REddyProc's aggregation: the records'
gap-filling standard deviations, with the effective number of observations from the autocorrelation
of the measured-minus-modelled residuals, Zieba 2011, as lognorm computes it).

Batch and pure numpy: the annual report runs it over a station-year of half-hours; the stream keeps
its measured-only sums (carbon.py). Series are on a regular grid, NaN = no good measurement.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streams.indicators.ecology.carbon import C_G_MOL
from streams.indicators.ecology.ustar import NIGHT_RG_W_M2, ustar_threshold, ustar_threshold_quantiles

Z_95 = 1.6448536  # the 95 % point of the normal distribution: 5-95 % spans 2 x 1.645 sigma
RG_TOLERANCE_W_M2 = 50.0  # LUT tolerances (REddyProc defaults)
RG_TOLERANCE_MIN_W_M2 = 20.0  # the Rg tolerance shrinks to the gap's own Rg, but not below this
VPD_TOLERANCE_HPA = 5.0
TAIR_TOLERANCE_DEGC = 2.5
MDC_HALF_WIDTH_RECORDS = 2  # mean diurnal course: the same time of day +/- 2 records
PPFD_PER_RG = 2.11  # µmol photons J-1: PPFD_IN ~ 2.11 x SW_IN when only PAR is measured
_CHUNK_CELLS = 2_000_000  # bound the (gaps x window) work arrays

# quality of a value: 0 measured, 1-3 filled (REddyProc's _fqc), 9 left unfilled
MEASURED, UNFILLED = 0, 9
LUT_ALL, LUT_RG, MDC = 1, 2, 3  # fill method (REddyProc's _fmeth)
# u* filter flags (REddyProc's Ustar_fqc): 0 kept, 1 below the threshold, 4 no u* at night
USTAR_KEPT, USTAR_LOW, USTAR_MISSING = 0, 1, 4


def ustar_filter_flags(
    ustar_m_s: np.ndarray,
    rg_w_m2: np.ndarray,
    threshold_m_s: float,
    *,
    night_rg_w_m2: float = NIGHT_RG_W_M2,
) -> np.ndarray:
    """Night-time records (Rg below `night_rg_w_m2`, or Rg unknown) whose u* is below the threshold or
    unknown: under weak turbulence the tower under-measures night respiration, so those fluxes are
    dropped and gap filled. Day-time records are kept, as REddyProc does by default."""
    ustar = np.asarray(ustar_m_s, dtype=float)
    rg = np.asarray(rg_w_m2, dtype=float)
    night = ~(rg >= night_rg_w_m2)
    flags = np.zeros(ustar.shape, dtype=np.int8)
    flags[night & (ustar < threshold_m_s)] = USTAR_LOW
    flags[night & ~np.isfinite(ustar)] = USTAR_MISSING
    return flags


@dataclass(frozen=True, slots=True)
class GapFilled:
    """MDS result per record."""

    filled: np.ndarray  # the measurement where there is one, else the MDS estimate (NaN if none)
    modelled: np.ndarray  # the MDS estimate of every record, measured ones too (REddyProc's _fall)
    sd: np.ndarray  # standard deviation of the values pooled for the estimate (_fsd)
    n_pooled: np.ndarray  # how many values were pooled (_fnum)
    quality: np.ndarray  # 0 measured, 1 good, 2 medium, 3 poor fill, 9 unfilled
    method: np.ndarray  # 1 LUT on Rg, VPD and Tair; 2 LUT on Rg; 3 mean diurnal course; 0 none


@dataclass(frozen=True, slots=True)
class _Condition:
    driver: np.ndarray
    tolerance: float
    is_rg: bool = False


def _lut_quality(window_d: int, conditions: int) -> int:
    """REddyProc's flags on the full window length 2 x days: <= 14 good; <= 56 (3 drivers) or <= 28
    (Rg only) medium; else poor."""
    full = 2 * window_d
    if full <= 14:
        return 1
    return 2 if full <= (56 if conditions == 3 else 28) else 3


def _mdc_quality(window_d: int) -> int:
    full = 2 * window_d + 1
    return 1 if full <= 1 else 2 if full <= 5 else 3


def _pool(
    flux: np.ndarray, todo: np.ndarray, offsets: np.ndarray, conditions: Sequence[_Condition]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, sample sd and count of the measured values at `todo + offsets` meeting every condition."""
    n = flux.size
    mean = np.full(todo.size, np.nan)
    sd = np.full(todo.size, np.nan)
    count = np.zeros(todo.size, dtype=np.int64)
    step = max(1, _CHUNK_CELLS // offsets.size)
    for lo in range(0, todo.size, step):
        rows = todo[lo : lo + step]
        cols = rows[:, None] + offsets[None, :]
        inside = (cols >= 0) & (cols < n)
        cols = np.clip(cols, 0, n - 1)
        values = flux[cols]
        ok = inside & np.isfinite(values)
        for c in conditions:
            own = c.driver[rows]
            tol = np.full(rows.size, c.tolerance)
            if c.is_rg:
                tol = np.maximum(np.fmin(tol, own), RG_TOLERANCE_MIN_W_M2)
            with np.errstate(invalid="ignore"):
                ok &= np.abs(c.driver[cols] - own[:, None]) < tol[:, None]
        k = ok.sum(axis=1)
        total = np.where(ok, values, 0.0).sum(axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            m = total / k
            dev = np.where(ok, values - m[:, None], 0.0)
            s = np.sqrt((dev**2).sum(axis=1) / (k - 1))
        mean[lo : lo + rows.size], sd[lo : lo + rows.size], count[lo : lo + rows.size] = m, s, k
    return mean, sd, count


def _usable(driver: np.ndarray | None) -> bool:
    return driver is not None and bool(np.isfinite(driver).any())


def mds_gap_fill(
    flux: np.ndarray,
    rg_w_m2: np.ndarray | None,
    vpd_hpa: np.ndarray | None = None,
    tair_degC: np.ndarray | None = None,
    *,
    records_per_day: int = 48,
) -> GapFilled:
    """Marginal distribution sampling over a regular series (NaN = gap), every record estimated (so
    measured records get an sd too): look-up tables of measured values under similar meteorology
    (Rg +/- 20..50 W m-2, VPD +/- 5 hPa, Tair +/- 2.5 degC) in windows growing from +/- 7 days, and the
    mean diurnal course (same time of day +/- 2 records) in windows from the same day, in REddyProc's
    order. A value needs at least two pooled measurements. Without VPD and Tair only the Rg table and
    the diurnal course are used (REddyProc's limited MDS); without Rg only the diurnal course."""
    flux = np.asarray(flux, dtype=float)
    n = flux.size
    rpd = records_per_day
    rg = None if rg_w_m2 is None else np.asarray(rg_w_m2, dtype=float)
    full = _usable(rg) and _usable(vpd_hpa) and _usable(tair_degC)
    steps: list[tuple[str, int]] = []
    if full:
        steps += [("all", 7), ("all", 14)]
    if _usable(rg):
        steps += [("rg", 7)]
    steps += [("mdc", 0), ("mdc", 1), ("mdc", 2)]
    if full:
        steps += [("all", d) for d in range(21, 71, 7)]
    if _usable(rg):
        steps += [("rg", d) for d in range(14, 71, 7)]
    steps += [("mdc", d) for d in range(7, 211, 7)]
    rg_condition = [_Condition(rg, RG_TOLERANCE_W_M2, is_rg=True)] if rg is not None else []
    all_conditions = rg_condition + (
        [
            _Condition(np.asarray(vpd_hpa, dtype=float), VPD_TOLERANCE_HPA),
            _Condition(np.asarray(tair_degC, dtype=float), TAIR_TOLERANCE_DEGC),
        ]
        if full
        else []
    )
    modelled, sd = np.full(n, np.nan), np.full(n, np.nan)
    n_pooled, quality = np.zeros(n, dtype=np.int64), np.full(n, UNFILLED, dtype=np.int8)
    method = np.zeros(n, dtype=np.int8)
    todo = np.arange(n)
    hour = np.arange(-MDC_HALF_WIDTH_RECORDS, MDC_HALF_WIDTH_RECORDS + 1)
    for kind, days in steps:
        if todo.size == 0:
            break
        if kind == "mdc":
            offsets = np.unique((np.arange(-days, days + 1)[:, None] * rpd + hour[None, :]).ravel())
            conditions, meth, q = [], MDC, _mdc_quality(days)
        else:
            offsets = np.arange(-days * rpd, days * rpd + 1)
            conditions = all_conditions if kind == "all" else rg_condition
            meth = LUT_ALL if kind == "all" else LUT_RG
            q = _lut_quality(days, 3 if kind == "all" else 1)
        mean, s, k = _pool(flux, todo, offsets, conditions)
        done = k > 1
        rows = todo[done]
        modelled[rows], sd[rows], n_pooled[rows] = mean[done], s[done], k[done]
        quality[rows], method[rows] = q, meth
        todo = todo[~done]
    measured = np.isfinite(flux)
    quality[measured] = MEASURED
    return GapFilled(np.where(measured, flux, modelled), modelled, sd, n_pooled, quality, method)


def effective_autocorrelation(residuals: np.ndarray) -> np.ndarray:
    """Autocorrelation of a series with gaps (pairs where both are finite, R's acf with na.pass: sum
    over the nu pairs / (nu + lag), over the lag-0 value) from lag 0 up to the lag before it first
    drops to or below zero (at least lag 0). All lags at once by FFT, so a series whose
    autocorrelation never crosses zero costs n log n, not n^2."""
    x = np.asarray(residuals, dtype=float)
    ok = np.isfinite(x)
    if ok.sum() < 2:
        return np.ones(1)
    d = np.where(ok, x - x[ok].mean(), 0.0)
    n = x.size
    size = 1 << (2 * n - 1).bit_length()

    def lagged_sums(v: np.ndarray) -> np.ndarray:
        spectrum = np.fft.rfft(v, size)
        return np.fft.irfft(spectrum * np.conj(spectrum), size)[:n]

    products, pairs = lagged_sums(d), np.rint(lagged_sums(ok.astype(float)))
    c0 = products[0] / pairs[0]
    if c0 <= 0:
        return np.ones(1)
    lags = np.arange(n)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = products / (pairs + lags) / c0
    stop = np.flatnonzero((r[1:] <= 0) | (pairs[1:] == 0))
    last = stop[0] + 1 if stop.size else n
    clipped: np.ndarray = np.minimum(r[:last], 1.0)
    return clipped


def effective_observations(residuals: np.ndarray, acf: np.ndarray | None = None) -> float:
    """Effective number of independent observations of a series with gaps (lognorm's
    computeEffectiveNumObs with exact NA handling): n_f / (1 + 2 / n_f x sum_k (n - k - m_k) rho_k),
    with n the trimmed length, n_f its finite values, m_k the lag-k pairs with a gap."""
    x = np.asarray(residuals, dtype=float)
    finite = np.flatnonzero(np.isfinite(x))
    if finite.size == 0:
        return 0.0
    x = x[finite[0] : finite[-1] + 1]
    n = x.size
    acf = effective_autocorrelation(x) if acf is None else np.asarray(acf, dtype=float)
    lags = np.arange(1, min(n - 1, acf.size - 1) + 1)
    gap = ~np.isfinite(x)
    nf = n - int(gap.sum())
    if lags.size == 0 or n < 2:
        return float(nf)
    m = np.array([int((gap[k:] | gap[:-k]).sum()) for k in lags])
    return float(nf / (1.0 + 2.0 / nf * ((n - lags - m) * acf[lags]).sum()))


@dataclass(frozen=True, slots=True)
class FilledSum:
    """A sum over a period of a gap-filled flux, in flux units x records (convert with the record's
    duration), beside the measured-only sum; sd_random is the 1-sigma random uncertainty."""

    filled: float
    measured: float
    n_records: int
    n_measured: int
    n_unfilled: int
    sd_random: float | None
    n_effective: float | None

    @property
    def coverage_pct(self) -> float:
        return 100.0 * self.n_measured / self.n_records if self.n_records else 0.0


def filled_sum(flux: np.ndarray, result: GapFilled) -> FilledSum:
    """Sum of the gap-filled series with the random uncertainty of REddyProc's aggregation: the
    variance of the mean is mean(sd_i^2 over measured records) / (n_eff - 1), n_eff from the
    residuals measured - modelled; gap-filled records add no replicates. Sum = n x mean."""
    flux = np.asarray(flux, dtype=float)
    measured = np.isfinite(flux)
    filled = result.filled
    have = np.isfinite(filled)
    resid = np.where(measured, flux - result.modelled, np.nan)
    n_eff = effective_observations(resid) if np.isfinite(resid).sum() > 1 else None
    sd_measured = result.sd[measured & np.isfinite(result.sd)]
    sd_random = None
    if n_eff is not None and n_eff > 1 and sd_measured.size:
        sd_random = float(flux.size * np.sqrt(np.mean(sd_measured**2) / (n_eff - 1.0)))
    return FilledSum(
        filled=float(filled[have].sum()),
        measured=float(flux[measured].sum()),
        n_records=int(flux.size),
        n_measured=int(measured.sum()),
        n_unfilled=int((~have).sum()),
        sd_random=sd_random,
        n_effective=n_eff,
    )


def on_grid(
    times_us: np.ndarray, values: np.ndarray, start_us: int, end_us: int, interval_s: float
) -> np.ndarray:
    """Values on the regular grid start_us, start_us + interval, ... < end_us; a reading goes to the
    record it falls in (the last one wins), records without one are NaN."""
    step = round(interval_s * 1e6)
    grid = np.full((end_us - start_us) // step, np.nan)
    t = np.asarray(times_us, dtype=np.int64)
    keep = (t >= start_us) & (t < start_us + grid.size * step)
    grid[(t[keep] - start_us) // step] = np.asarray(values, dtype=float)[keep]
    return grid


@dataclass(frozen=True, slots=True)
class FluxYear:
    """One flux's gap-filled sum over a period in g C m-2 (negative = uptake), beside its measured-only
    sum and coverage (after u* filtering), with the 1-sigma random uncertainty."""

    filled_gC_m2: float
    sd_gC_m2: float | None
    measured_gC_m2: float
    coverage_pct: float
    unfilled_pct: float
    quality_pct: dict[int, float]  # share of all records gap filled with quality 1, 2, 3


@dataclass(frozen=True, slots=True)
class GapFilledBudget:
    nee: FluxYear
    ch4: FluxYear | None
    ustar_threshold_m_s: float | None  # the threshold filtered with; None: no u* filtering
    ustar_source: str | None  # "registry", "estimated" (moving point test) or None (not filtered)
    ustar_removed_pct: float | None  # share of CO2 records dropped by the u* filter
    # u* threshold uncertainty (estimated thresholds only): 5/50/95 % of its bootstrap, and the NEE
    # gap filled with the 5 % and the 95 % threshold
    ustar_quantiles_m_s: tuple[float, ...] | None = None
    nee_ustar_range_gC_m2: tuple[float, float] | None = None

    @property
    def nee_ustar_sd_gC_m2(self) -> float | None:
        """The u* part of the NEE uncertainty, 1 sigma: the 5-95 % range over 2 x 1.645."""
        if self.nee_ustar_range_gC_m2 is None:
            return None
        low, high = self.nee_ustar_range_gC_m2
        return abs(high - low) / (2 * Z_95)

    @property
    def nee_sd_gC_m2(self) -> float | None:
        """Random and u*-threshold uncertainty of the NEE sum together (independent), 1 sigma."""
        if self.nee.sd_gC_m2 is None:
            return None
        return float(np.hypot(self.nee.sd_gC_m2, self.nee_ustar_sd_gC_m2 or 0.0))

    @property
    def net_gC_m2(self) -> float:
        return self.nee.filled_gC_m2 + (self.ch4.filled_gC_m2 if self.ch4 else 0.0)

    @property
    def net_sd_gC_m2(self) -> float | None:
        parts = [self.nee_sd_gC_m2] + ([self.ch4.sd_gC_m2] if self.ch4 else [])
        known = [p for p in parts if p is not None]
        return None if len(known) < len(parts) else float(np.sqrt(sum(p * p for p in known)))


def _flux_year(flux: np.ndarray, rg: np.ndarray | None, g_per_unit: float, rpd: int) -> FluxYear:
    result = mds_gap_fill(flux, rg, records_per_day=rpd)
    total = filled_sum(flux, result)
    n = max(total.n_records, 1)
    return FluxYear(
        filled_gC_m2=total.filled * g_per_unit,
        sd_gC_m2=None if total.sd_random is None else total.sd_random * g_per_unit,
        measured_gC_m2=total.measured * g_per_unit,
        coverage_pct=total.coverage_pct,
        unfilled_pct=100.0 * total.n_unfilled / n,
        quality_pct={q: 100.0 * int((result.quality == q).sum()) / n for q in (1, 2, 3)},
    )


def _ustar_filtered(
    co2: np.ndarray, ustar: np.ndarray, rg: np.ndarray | None, threshold_m_s: float
) -> tuple[np.ndarray, float]:
    """CO2 with the night-time low-u* records removed, and the share of measured records removed."""
    flags = ustar_filter_flags(ustar, rg if rg is not None else np.full(co2.size, np.nan), threshold_m_s)
    dropped = np.isfinite(co2) & (flags != USTAR_KEPT)
    return np.where(dropped, np.nan, co2), 100.0 * int(dropped.sum()) / max(int(np.isfinite(co2).sum()), 1)


def gap_filled_budget(
    co2_umol_m2_s: np.ndarray,
    *,
    interval_s: float,
    ch4_nmol_m2_s: np.ndarray | None = None,
    rg_w_m2: np.ndarray | None = None,
    ustar_m_s: np.ndarray | None = None,
    ustar_threshold_m_s: float | None = None,
    tair_degC: np.ndarray | None = None,
    month: np.ndarray | None = None,
) -> GapFilledBudget:
    """A station-year's carbon budget from its QC-good records on a regular grid (one calendar year;
    `month` 1..12 per record). Where u* is measured, CO2 is u*-filtered at night first: with the
    registry's threshold, or else with the one the moving point test finds in the year's data (then
    also gap filled with its bootstrap 5 % and 95 % thresholds, for the u* part of the uncertainty).
    Both fluxes are then MDS gap filled (CH4 with the same method, REddyProc's generic use; FLUXNET-CH4
    prefers machine-learning fills) and summed. The stations measure no VPD, so the look-up tables use
    Rg only: REddyProc's limited MDS."""
    rpd = round(86400 / interval_s)
    g_co2, g_ch4 = 1e-6 * C_G_MOL * interval_s, 1e-9 * C_G_MOL * interval_s
    co2 = np.asarray(co2_umol_m2_s, dtype=float)
    threshold, quantiles = ustar_threshold_m_s, None
    source: str | None = "registry"
    measured_ustar = ustar_m_s is not None and bool(np.isfinite(ustar_m_s).any())
    if (
        ustar_m_s is not None
        and measured_ustar
        and threshold is None
        and tair_degC is not None
        and rg_w_m2 is not None
        and month is not None
    ):
        threshold = ustar_threshold(co2, ustar_m_s, tair_degC, rg_w_m2, month).year_m_s
        source = "estimated"
        if threshold is not None:
            quantiles = ustar_threshold_quantiles(co2, ustar_m_s, tair_degC, rg_w_m2, month)
    removed: float | None = None
    ustar_range: tuple[float, float] | None = None
    if ustar_m_s is not None and measured_ustar and threshold is not None:
        filtered, removed = _ustar_filtered(co2, ustar_m_s, rg_w_m2, threshold)
        if quantiles is not None:
            low, high = (
                _flux_year(_ustar_filtered(co2, ustar_m_s, rg_w_m2, q)[0], rg_w_m2, g_co2, rpd).filled_gC_m2
                for q in (quantiles[0], quantiles[-1])
            )
            ustar_range = (low, high)
        co2 = filtered
    else:
        threshold = source = None
    nee = _flux_year(co2, rg_w_m2, g_co2, rpd)
    ch4 = None
    if ch4_nmol_m2_s is not None and np.isfinite(ch4_nmol_m2_s).any():
        ch4 = _flux_year(np.asarray(ch4_nmol_m2_s, dtype=float), rg_w_m2, g_ch4, rpd)
    return GapFilledBudget(nee, ch4, threshold, source, removed, quantiles, ustar_range)
