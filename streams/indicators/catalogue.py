"""Every indicator the stream computes: what the database's indicator catalogue lists."""

from __future__ import annotations

from schemas.indicators import IndicatorSpec
from streams.indicators.ecology import CATALOGUE as ECOLOGY
from streams.indicators.sealevel import CATALOGUE as SEA_LEVEL

INDICATORS: tuple[IndicatorSpec, ...] = (*SEA_LEVEL.values(), *ECOLOGY.values())
