"""The indicator record and catalogue entry shared by every indicator family.

Ids carry their unit, so a row in the indicators table or a message on the indicators topic reads
without a lookup; the catalogue's method strings go into the README and the database for auditors.
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec


class Indicator(msgspec.Struct, frozen=True, array_like=True):
    """One indicator value of one station at one event time (int µs since the epoch, UTC).

    Consumers upsert by (station, indicator, time_us); a None value retracts the key because a late
    reading moved it (a high water, a tidal cycle, an event or episode start).
    """

    station: str
    indicator: str
    time_us: int
    value: float | None
    unit: str


@dataclass(frozen=True, slots=True)
class IndicatorSpec:
    id: str
    unit: str
    definition: str
    inputs: str
    parameters: str
    method: str
