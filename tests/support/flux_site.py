"""A synthetic eddy-covariance site-year whose true half-hourly NEE is known, and a tower's gaps in it."""

from __future__ import annotations

import numpy as np

DAYS = 365
RPD = 48


def site_year(seed: int) -> dict[str, np.ndarray]:
    """A temperate marsh year: Rg, Tair, VPD, u*, and true NEE = Lloyd-Taylor respiration - a
    rectangular-hyperbola GPP limited by VPD, plus heteroscedastic noise (µmol m-2 s-1)."""
    rng = np.random.default_rng(seed)
    i = np.arange(DAYS * RPD)
    doy, hour = i // RPD, (i % RPD + 0.5) / 2
    season = np.sin(2 * np.pi * (doy - 80) / 365)
    clouds = np.clip(1 - 0.6 * rng.beta(0.8, 1.6, DAYS), 0.1, 1)[doy]
    rg = np.maximum(0.0, (450 + 350 * season) * np.sin(np.pi * (hour - 6) / 12)) * clouds
    rg = np.where((hour > 6) & (hour < 18), rg, 0.0)
    tair = 11 + 13 * np.sin(2 * np.pi * (doy - 110) / 365) + 4 * np.sin(2 * np.pi * (hour - 9) / 24)
    tair += np.repeat(rng.normal(0, 2.0, DAYS), RPD)
    vpd = np.maximum(0.2, 0.5 * np.maximum(tair, 0) * (0.5 + clouds) + rng.normal(0, 0.5, i.size))
    reco = 1.2 * np.exp(308.56 * (1 / 56.02 - 1 / (tair + 46.02)))
    pmax = 45 * np.clip(np.sin(2 * np.pi * (doy - 95) / 365), 0.05, None)
    gpp = 0.04 * rg * pmax / (0.04 * rg + pmax) * np.exp(-0.03 * np.maximum(vpd - 10, 0))
    truth = reco - gpp
    noise = rng.normal(0, 0.4 + 0.15 * np.abs(truth))
    ustar = rng.lognormal(np.log(0.28), 0.5, i.size)
    return {"rg": rg, "tair": tair, "vpd": vpd, "truth": truth + noise, "ustar": ustar, "doy": doy}


def site_gaps(site: dict[str, np.ndarray], seed: int) -> np.ndarray:
    """What a tower loses: half the nights and a fifth of the days at random, and three outages."""
    rng = np.random.default_rng(seed)
    night = site["rg"] < 10
    lost = rng.random(night.size) < np.where(night, 0.5, 0.2)
    for first, days in ((40, 6), (150, 11), (290, 4)):
        lost[first * RPD : (first + days) * RPD] = True
    return lost
