"""Record formats of the topics between stream agents (JSON via msgspec, times in µs UTC).

Every record goes to the partition of its station (``schemas.records.partition_for``), so each
agent's per-station state stays on one partition whichever topic feeds it.
"""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from schemas.indicators import Indicator
from schemas.quality import QcResult

T = TypeVar("T")


class ObservationBatch(msgspec.Struct, frozen=True, tag="observations/v1"):
    """QC results of one partition: a new reading's first flags, or a later correction (``revised``).

    ``wall_us``: when the record was written (UTC µs); on the alert-inputs topic it is when the
    readings reached the alert engine's log, which makes a station's clock and its lateness.
    ``sources`` (alert-inputs only), one per result: the offset of the readings record that carried
    the reading (a correction: the newest record of the partition in that QC batch). A worker that
    dies after sending and before storing sends the same results again; see ``SourceWatermark``."""

    results: list[QcResult]
    wall_us: int = 0
    sources: list[int] = []


class IndicatorBatch(msgspec.Struct, frozen=True, tag="indicators/v1"):
    """Indicator values of one partition; a None value retracts that (station, indicator, time).

    ``sources``, one per item: the observations-topic offset of the record whose QC results made it
    (-1: made by a tide model); see ``SourceWatermark``."""

    items: list[Indicator]
    wall_us: int = 0
    sources: list[int] = []


class Tick(msgspec.Struct, frozen=True, tag="tick/v1"):
    """A clock tick in one partition of the alert-inputs topic: timers fire on it (silent station,
    re-notify, silence end), and a replay of the log sees the same ticks in the same places."""

    wall_us: int


class TideModelUpdate(msgspec.Struct, frozen=True, tag="tide-model/v1"):
    """A newly fitted tide model (``TideModel.to_dict()``) for the station's indicator state."""

    station: str
    model: dict[str, Any]


# Items per record: well under Kafka's default 1 MB message limit (an item encodes to ~60–150 bytes).
MAX_ITEMS_PER_RECORD = 2000


def chunks(items: list[T], size: int = MAX_ITEMS_PER_RECORD) -> list[list[T]]:
    """Split a partition's items into records that stay below the broker's message size limit."""
    return [items[i : i + size] for i in range(0, len(items), size)]


_encoder = msgspec.json.Encoder()


def encode(record: ObservationBatch | IndicatorBatch | Tick | TideModelUpdate) -> bytes:
    return _encoder.encode(record)
