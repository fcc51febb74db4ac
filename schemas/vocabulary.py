"""The controlled vocabulary of variables: canonical units, CF names and physical ranges.

Kept as data (``vocabulary.yaml``) so a new sensor type is a reviewed data change, not code.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


@dataclass(frozen=True, slots=True)
class Variable:
    id: str
    description: str
    unit: str
    cf: str
    physical_min: float
    physical_max: float
    resolution: float | None = None  # a power of ten in the unit; None: not stated

    @property
    def decimals(self) -> int | None:
        """Decimal places of the resolution (0.001 → 3, 1 → 0): what aggregates are rounded to."""
        return None if self.resolution is None else decimals_of(self.resolution)


def decimals_of(resolution: float) -> int:
    """0.001 → 3, 1 → 0, 10 → -1 (``round``'s ndigits); a resolution not a power of ten is refused."""
    exponent = math.log10(resolution) if resolution > 0 else math.nan
    if not math.isfinite(exponent) or abs(exponent - round(exponent)) > 1e-9:
        raise ValueError(f"resolution {resolution!r} is not a positive power of ten (0.01, 0.1, 1 …)")
    return -round(exponent)


class VocabularyError(ValueError):
    """The vocabulary file itself is inconsistent."""


def parse_vocabulary(document: dict[str, Any]) -> dict[str, Variable]:
    variables: dict[str, Variable] = {}
    for var_id, spec in (document.get("variables") or {}).items():
        try:
            low, high = (float(x) for x in spec["physical"])
            variables[var_id] = Variable(
                id=var_id,
                description=str(spec["description"]),
                unit=str(spec["unit"]),
                cf=str(spec["cf"]),
                physical_min=low,
                physical_max=high,
                resolution=None if spec.get("resolution") is None else float(spec["resolution"]),
            )
            _ = variables[var_id].decimals  # a resolution not a power of ten is refused here
        except (KeyError, TypeError, ValueError) as exc:
            raise VocabularyError(f"variable {var_id!r}: {exc!r}") from exc
        if low >= high:
            raise VocabularyError(f"variable {var_id!r}: physical range [{low}, {high}] is empty")
    if not variables:
        raise VocabularyError("the vocabulary defines no variables")
    return variables


@cache
def load_vocabulary() -> dict[str, Variable]:
    """The packaged vocabulary, parsed once per process."""
    text = resources.files("schemas").joinpath("vocabulary.yaml").read_text(encoding="utf-8")
    return parse_vocabulary(yaml.safe_load(text))
