"""Whether a tide model is good enough for its surge to be trusted, from the quality it carries.

A model fitted on 15 days has not separated N2 from M2 and leaves tens of centimetres of false surge
for weeks; its surge is still worth showing but not worth warning on. Surge from a model below the
bar is published as ``surge_provisional_m`` instead of ``surge_m`` (see ``compute.reading_indicators``),
so no rule on ``surge_m`` can ever read it. Published constants (``source == "official"``) pass.
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.indicators.sealevel.tide import TideModel

MAJOR_CONSTITUENTS = ("M2", "S2", "N2", "K1", "O1")


@dataclass(frozen=True, slots=True)
class QualityBar:
    """Defaults: a lunar month of record (N2 resolved by Rayleigh at 27.6 d), the five major
    constituents resolved (fitted with SNR >= the model's min_snr), fit residual sd at most 0.30 m."""

    min_record_days: float = 27.6
    required: tuple[str, ...] = MAJOR_CONSTITUENTS
    max_residual_sd_m: float = 0.30


def shortfalls(model: TideModel, bar: QualityBar = QualityBar()) -> list[str]:
    """Why a model is below the bar (empty: it passes); readable in a log line or the API."""
    if model.source == "official":
        return []
    out = []
    if model.record_days < bar.min_record_days:
        out.append(f"record {model.record_days:.1f} d < {bar.min_record_days:g} d")
    missing = [c for c in bar.required if c not in model.resolved]
    if missing:
        out.append("not resolved: " + ", ".join(missing))
    if model.residual_sd_m is None or model.residual_sd_m > bar.max_residual_sd_m:
        out.append(f"residual sd {model.residual_sd_m} m > {bar.max_residual_sd_m:g} m")
    return out


def is_provisional(model: TideModel, bar: QualityBar = QualityBar()) -> bool:
    return bool(shortfalls(model, bar))
