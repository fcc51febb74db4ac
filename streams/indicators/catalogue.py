"""Every indicator the stream computes: what the database's indicator catalogue lists."""

from __future__ import annotations

from streams.indicators.ecology import CATALOGUE as ECOLOGY
from streams.indicators.records import IndicatorSpec
from streams.indicators.sealevel import CATALOGUE as SEA_LEVEL

INDICATORS: tuple[IndicatorSpec, ...] = (*SEA_LEVEL.values(), *ECOLOGY.values())
