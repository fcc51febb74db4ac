"""Inference of constituents a short record cannot separate (utide's ``infer``), from a reference.

Below ~6 months (Rayleigh: 182.6 d for K1/P1, 182.6 d for S2/K2) P1 and K2 are not resolved; left out,
their energy beats into K1 and S2 and the prediction drifts by centimetres over the half-year. utide
fits K1 and S2 with P1 and K2 tied to them by an amplitude ratio and a phase offset; those come from
a reference: the station's published constants or a long-record model of a nearby station.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from schemas.registry import TideInference
from streams.indicators.sealevel.tide import TideModel

# (inferred, reference) pairs, each inferred one within the Rayleigh limit of its reference.
DEFAULT_PAIRS = (("P1", "K1"), ("K2", "S2"))


@dataclass(frozen=True, slots=True)
class Inference:
    """Ratios for utide: amplitude inferred/reference, phase offset reference - inferred (deg), i.e.
    utide's convention ``a_inferred = ratio * exp(i offset) * a_reference`` on the complex amplitude."""

    inferred: tuple[str, ...]
    reference: tuple[str, ...]
    amp_ratios: tuple[float, ...]
    phase_offsets_deg: tuple[float, ...]

    @classmethod
    def from_constants(
        cls, constants: Mapping[str, tuple[float, float]], pairs: tuple[tuple[str, str], ...] = DEFAULT_PAIRS
    ) -> Inference:
        """From (amplitude, Greenwich phase deg) per constituent: ``TideModel.amplitude_phase()`` of a
        reference model, or published constants. Pairs whose constituents are missing are skipped."""
        rows = [(i, r) for i, r in pairs if i in constants and r in constants and constants[r][0] > 0]
        return cls(
            tuple(i for i, _ in rows),
            tuple(r for _, r in rows),
            tuple(constants[i][0] / constants[r][0] for i, r in rows),
            tuple((constants[r][1] - constants[i][1]) % 360.0 for i, r in rows),
        )

    def to_utide(self, constit: list[str]) -> dict[str, Any] | None:
        """utide's ``infer`` for a fit of ``constit``: only pairs whose inferred constituent is not
        fitted itself and whose reference is; None when no pair applies."""
        rows = [
            k
            for k, (i, r) in enumerate(zip(self.inferred, self.reference, strict=True))
            if i not in constit and r in constit
        ]
        if not rows:
            return None
        return {
            "inferred_names": [self.inferred[k] for k in rows],
            "reference_names": [self.reference[k] for k in rows],
            "amp_ratios": [self.amp_ratios[k] for k in rows],
            "phase_offsets": [self.phase_offsets_deg[k] for k in rows],
        }


def station_inference(spec: TideInference | None, reference: TideModel | None = None) -> Inference | None:
    """A gauge's inference from its registry entry (``Station.tide_inference``): the ratios given there,
    or those of the reference gauge's current model (``reference``) for the pairs that model resolves
    itself (published constants count as resolved). None: fit without inference."""
    if spec is None:
        return None
    if spec.ratios:
        return Inference(
            tuple(r.constituent for r in spec.ratios),
            tuple(r.reference for r in spec.ratios),
            tuple(r.amplitude_ratio for r in spec.ratios),
            tuple(r.phase_offset_deg % 360.0 for r in spec.ratios),
        )
    if reference is None:
        return None
    known = set(reference.constituents if reference.source == "official" else reference.resolved)
    pairs = tuple((i, r) for i, r in DEFAULT_PAIRS if i in known and r in known)
    inference = Inference.from_constants(reference.amplitude_phase(), pairs)
    return inference if inference.inferred else None
