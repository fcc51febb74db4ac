"""Astronomical tide model: a utide fit on a station's QC-good history, serialisable and cheap to use.

The fit runs on bin means (6 min for a month, coarser for longer records) because utide's cost grows with
the number of points while the tides need no more; the averaging attenuates each constituent by a known
factor, which is divided out. Predictions are made on a fixed 6-minute grid per UTC day and interpolated
linearly (error below 0.1 mm for a 3 m M2), so a reading's prediction is the same number whichever batch
it arrives in, and one utide call serves a whole day of readings.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Any

import numpy as np
import orjson
import utide
from utide.utilities import Bunch

from schemas.datums import DatumHistory, zero_shift_m

US_PER_S = 1_000_000
US_PER_DAY = 86_400 * US_PER_S
PREDICTION_STEP_US = 360 * US_PER_S
_GRID_PER_DAY = US_PER_DAY // PREDICTION_STEP_US
_FIT_BINS_S = (360, 600, 900, 1200, 1800, 3600)
_MAX_FIT_POINTS = 12_000
_EPOCH = "1970-01-01"
_OPT_KEYS = ("twodim", "nodsatlint", "nodsatnone", "gwchlint", "gwchnone", "prefilt", "nodiagn", "notrend")
MIN_FIT_SPAN_S = 2 * 86_400


def _days(times_us: np.ndarray) -> np.ndarray:
    return np.asarray(times_us, dtype=np.int64) / US_PER_DAY


def fit_bin_s(span_s: float) -> int:
    """Smallest standard bin that keeps a fit under ~12,000 points (0.2-0.5 s of utide.solve here)."""
    for bin_s in _FIT_BINS_S:
        if span_s / bin_s <= _MAX_FIT_POINTS:
            return bin_s
    return _FIT_BINS_S[-1]


def bin_means(
    times_us: np.ndarray, values: np.ndarray, bin_s: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean time, mean value and count of readings per fixed bin.

    Bins are centred on multiples of ``bin_s`` since the epoch, so readings taken on the hour (with the
    jitter of float time stamps) fall mid-bin instead of straddling two bins.
    """
    times_us = np.asarray(times_us, dtype=np.int64)
    values = np.asarray(values, dtype=float)
    good = np.isfinite(values)
    times_us, values = times_us[good], values[good]
    bin_us = bin_s * US_PER_S
    keys = (times_us + bin_us // 2) // bin_us
    uniq, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    mean_t = np.bincount(inverse, weights=(times_us - uniq[inverse] * bin_us)) / counts
    mean_t_us = uniq * bin_us + np.rint(mean_t).astype(np.int64)
    mean_v = np.bincount(inverse, weights=values) / counts
    return mean_t_us, mean_v, counts


def averaging_gain(freq_cph: np.ndarray, n: int, spacing_h: float) -> np.ndarray:
    """Amplitude gain of the mean of n samples spaced spacing_h hours, at each frequency (cycles/hour)."""
    freq_cph = np.asarray(freq_cph, dtype=float)
    if n <= 1:
        return np.ones_like(freq_cph)
    x = np.pi * freq_cph * spacing_h
    with np.errstate(invalid="ignore", divide="ignore"):
        gain = np.sin(n * x) / (n * np.sin(x))
    return np.where(x == 0, 1.0, gain)


def _to_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _to_jsonable(v) for k, v in value.items()}
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    return value


def _coef_from_json(doc: dict[str, Any]) -> Bunch:
    aux = doc["aux"]
    return Bunch(
        name=np.asarray(doc["name"], dtype=object),
        A=np.asarray(doc["A"], dtype=float),
        g=np.asarray(doc["g"], dtype=float),
        A_ci=np.asarray(doc["A_ci"], dtype=float),
        g_ci=np.asarray(doc["g_ci"], dtype=float),
        SNR=np.asarray(doc["SNR"], dtype=float),
        PE=np.asarray(doc["PE"], dtype=float),
        mean=float(doc["mean"]),
        slope=float(doc["slope"]),
        aux=Bunch(
            frq=np.asarray(aux["frq"], dtype=float),
            lind=np.asarray(aux["lind"], dtype=np.int64),
            reftime=float(aux["reftime"]),
            lat=float(aux["lat"]),
            opt=Bunch(aux["opt"]),
        ),
    )


@dataclass(eq=False)
class TideModel:
    """Fitted harmonic constants with the record they came from; JSON round-trips exactly.

    ``effective_from_us``: readings at or after this time use this model (default: the end of its
    record, so a prediction never uses data from its own future).
    """

    station: str
    latitude: float
    record_start_us: int
    record_end_us: int
    n_readings: int
    n_fit_points: int
    bin_s: int
    effective_from_us: int
    coef: dict[str, Any]
    min_snr: float = 2.0
    # Quality carried with the model (see quality.py): "fit" or "official" (published constants), the
    # solver, the sd of the fit's residuals (m, on its bin means), and the constituents inferred
    # from a reference (not resolved by the record). Defaults keep models stored before them loadable.
    source: str = "fit"
    method: str = "ols"
    residual_sd_m: float | None = None
    inferred: tuple[str, ...] = ()
    _bunch: Bunch | None = field(default=None, repr=False)
    _cache: OrderedDict[int, np.ndarray] = field(default_factory=OrderedDict, repr=False)
    _resolved: list[str] | None = field(default=None, repr=False, compare=False)

    @property
    def constituents(self) -> list[str]:
        return list(self.coef["name"])

    @property
    def record_days(self) -> float:
        return (self.record_end_us - self.record_start_us) / US_PER_DAY

    @property
    def resolved(self) -> list[str]:
        """Constituents the record itself determined: fitted (not inferred) with SNR >= ``min_snr``.

        Computed once: the quality bar asks at every stream update."""
        if self._resolved is None:
            self._resolved = [
                str(n)
                for n, snr in zip(self.coef["name"], self.coef["SNR"], strict=True)
                if snr >= self.min_snr and n not in self.inferred
            ]
        return self._resolved

    def amplitude_phase(self) -> dict[str, tuple[float, float]]:
        """Constituent -> (amplitude m, Greenwich phase deg)."""
        return {
            n: (float(a), float(g))
            for n, a, g in zip(self.coef["name"], self.coef["A"], self.coef["g"], strict=True)
        }

    def _coef_bunch(self) -> Bunch:
        if self._bunch is None:
            self._bunch = _coef_from_json(self.coef)
        return self._bunch

    def _day_grid(self, day: int) -> np.ndarray:
        grid = self._cache.get(day)
        if grid is None:
            times_us = day * US_PER_DAY + np.arange(_GRID_PER_DAY + 1, dtype=np.int64) * PREDICTION_STEP_US
            out = utide.reconstruct(
                _days(times_us), self._coef_bunch(), epoch=_EPOCH, verbose=False, min_SNR=self.min_snr
            )
            grid = np.asarray(out.h, dtype=float)
            self._cache[day] = grid
            while len(self._cache) > 8:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(day)
        return grid

    def predict(self, times_us: np.ndarray) -> np.ndarray:
        """Predicted tide (m above station datum) at each time; one utide call per UTC day touched."""
        times_us = np.asarray(times_us, dtype=np.int64)
        out = np.empty(times_us.shape, dtype=float)
        days = times_us // US_PER_DAY
        if days.size > 1 and bool(np.all(days[1:] >= days[:-1])):
            # Sorted (a stream window): each day is one slice, no mask over the whole window per day.
            cuts = [0, *(np.flatnonzero(np.diff(days)) + 1).tolist(), days.size]
            parts = [(int(days[a]), slice(a, b)) for a, b in pairwise(cuts)]
        else:
            parts = [(int(day), days == day) for day in np.unique(days)]
        for day, sel in parts:
            offset = times_us[sel] - day * US_PER_DAY
            index = offset // PREDICTION_STEP_US
            frac = (offset - index * PREDICTION_STEP_US) / PREDICTION_STEP_US
            grid = self._day_grid(day)
            out[sel] = grid[index] + frac * (grid[index + 1] - grid[index])
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "station": self.station,
            "latitude": self.latitude,
            "record_start_us": self.record_start_us,
            "record_end_us": self.record_end_us,
            "n_readings": self.n_readings,
            "n_fit_points": self.n_fit_points,
            "bin_s": self.bin_s,
            "effective_from_us": self.effective_from_us,
            "min_snr": self.min_snr,
            "source": self.source,
            "method": self.method,
            "residual_sd_m": self.residual_sd_m,
            "inferred": list(self.inferred),
            "utide_version": utide.__version__,
            "constituents": self.constituents,
            "coef": self.coef,
        }

    def to_json(self) -> bytes:
        return orjson.dumps(self.to_dict())

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> TideModel:
        return cls(
            station=doc["station"],
            latitude=float(doc["latitude"]),
            record_start_us=int(doc["record_start_us"]),
            record_end_us=int(doc["record_end_us"]),
            n_readings=int(doc["n_readings"]),
            n_fit_points=int(doc["n_fit_points"]),
            bin_s=int(doc["bin_s"]),
            effective_from_us=int(doc["effective_from_us"]),
            coef=doc["coef"],
            min_snr=float(doc.get("min_snr", 2.0)),
            source=str(doc.get("source", "fit")),
            method=str(doc.get("method", "ols")),
            residual_sd_m=None if doc.get("residual_sd_m") is None else float(doc["residual_sd_m"]),
            inferred=tuple(doc.get("inferred", ())),
        )

    @classmethod
    def from_json(cls, data: bytes | str) -> TideModel:
        return cls.from_dict(orjson.loads(data))


def fit_tide(
    times_us: np.ndarray,
    levels_m: np.ndarray,
    latitude: float,
    *,
    station: str = "",
    bin_s: int | None = None,
    constit: str | list[str] = "auto",
    trend: bool = False,
    effective_from_us: int | None = None,
    method: str = "robust",
    infer: dict[str, Any] | None = None,
) -> TideModel:
    """Harmonic fit (utide.solve, linear confidence intervals) on QC-good water levels.

    ``method='robust'`` (utide's iteratively reweighted least squares, Cauchy weights) by default: a
    storm inside the record is down-weighted instead of being fitted into the mean and the long-period
    constituents; ``'ols'`` reproduces the published MATLAB UTide runs. ``trend`` defaults to False: a
    linear trend fitted on weeks of data would drift when extrapolated, and the sea-level trend is its
    own indicator. ``constit='auto'`` lets the Rayleigh criterion pick the constituents (the refit
    passes ``refit.resolvable_constituents``). ``infer`` is utide's inference option (see
    ``inference.Inference.to_utide``) for constituents the record cannot separate.
    """
    times_us = np.asarray(times_us, dtype=np.int64)
    levels_m = np.asarray(levels_m, dtype=float)
    good = np.isfinite(levels_m)
    times_us, levels_m = times_us[good], levels_m[good]
    if times_us.size < 2 or times_us.max() - times_us.min() < MIN_FIT_SPAN_S * US_PER_S:
        raise ValueError(
            f"station {station!r}: tide fit needs at least {MIN_FIT_SPAN_S // 86_400} days of water levels"
        )
    start_us, end_us = int(times_us.min()), int(times_us.max())
    bin_s = bin_s or fit_bin_s((end_us - start_us) / US_PER_S)
    fit_t, fit_h, counts = bin_means(times_us, levels_m, bin_s)
    coef = utide.solve(
        _days(fit_t),
        fit_h,
        lat=latitude,
        epoch=_EPOCH,
        constit=constit,
        method=method,
        conf_int="linear",
        trend=trend,
        infer=None if infer is None else Bunch(infer),
        verbose=False,
    )
    fitted = utide.reconstruct(_days(fit_t), coef, epoch=_EPOCH, verbose=False, min_SNR=0).h
    residual_sd_m = float(np.std(fit_h - fitted))
    n_per_bin = int(np.median(counts))
    if n_per_bin > 1:
        gain = averaging_gain(coef["aux"]["frq"], n_per_bin, bin_s / 3600 / n_per_bin)
        coef["A"] = coef["A"] / gain
        coef["A_ci"] = coef["A_ci"] / gain
    return TideModel(
        station=station,
        latitude=float(latitude),
        record_start_us=start_us,
        record_end_us=end_us,
        n_readings=int(times_us.size),
        n_fit_points=int(fit_t.size),
        bin_s=int(bin_s),
        effective_from_us=end_us if effective_from_us is None else int(effective_from_us),
        coef=coef_document(coef),
        source="fit",
        method=method,
        residual_sd_m=residual_sd_m,
        inferred=tuple(infer["inferred_names"]) if infer else (),
    )


def coef_document(coef: Any) -> dict[str, Any]:
    """The part of a utide coefficient Bunch that ``utide.reconstruct`` needs, as plain JSON types."""
    keep = {k: coef[k] for k in ("name", "A", "g", "A_ci", "g_ci", "SNR", "PE", "mean")}
    keep["slope"] = coef.get("slope", 0.0)
    aux = coef["aux"]
    keep["aux"] = {
        "frq": aux["frq"],
        "lind": aux["lind"],
        "reftime": aux["reftime"],
        "lat": aux["lat"],
        "opt": {k: aux["opt"][k] for k in _OPT_KEYS},
    }
    jsonable: dict[str, Any] = _to_jsonable(keep)
    return jsonable


def select_model(models: list[TideModel], time_us: int) -> TideModel | None:
    """The newest model (by effective_from_us) in effect at an event time, or None before the first."""
    best = None
    for model in models:
        if model.effective_from_us <= time_us and (
            best is None or model.effective_from_us > best.effective_from_us
        ):
            best = model
    return best


def in_effect(models: list[TideModel], times_us: np.ndarray) -> list[tuple[TideModel, np.ndarray]]:
    """Each model with the mask of the times it is in effect for (none before the first model)."""
    times_us = np.asarray(times_us, dtype=np.int64)
    order = sorted(models, key=lambda m: m.effective_from_us)
    out = []
    for i, model in enumerate(order):
        until = order[i + 1].effective_from_us if i + 1 < len(order) else math.inf
        sel = (times_us >= model.effective_from_us) & (times_us < until)
        if sel.any():
            out.append((model, sel))
    return out


def predict_on_zeros(model: TideModel, times_us: np.ndarray, zeros: DatumHistory | None = None) -> np.ndarray:
    """The model's tide above the station zero in force at each time.

    A model's levels are above the zero in force when it takes effect (a fit sees its window's readings
    moved onto that zero, published constants are given on it); after a re-levelling the readings are
    above another zero, and so must be the prediction they are compared with, or the surge carries the
    zero's change."""
    times_us = np.asarray(times_us, dtype=np.int64)
    predicted: np.ndarray = model.predict(times_us)
    if zeros is not None and zeros.levellings:
        predicted = predicted - zero_shift_m(zeros, times_us, model.effective_from_us)
    return predicted


def predict_with(
    models: list[TideModel], times_us: np.ndarray, zeros: DatumHistory | None = None
) -> np.ndarray:
    """Tide at each time (above the zero then in force) from the model in effect then (NaN before the
    first model)."""
    times_us = np.asarray(times_us, dtype=np.int64)
    out = np.full(times_us.shape, np.nan)
    for model, sel in in_effect(models, times_us):
        out[sel] = predict_on_zeros(model, times_us[sel], zeros)
    return out
