"""Record formats of the topics between stream agents (JSON via msgspec, times in µs UTC).

Every record goes to the partition of its station (``schemas.records.partition_for``), so each
agent's per-station state stays on one partition whichever topic feeds it.
"""

from __future__ import annotations

import msgspec

from streams.indicators.records import Indicator
from streams.qc import QcResult


class ObservationBatch(msgspec.Struct, frozen=True, tag="observations/v1"):
    """QC results of one partition: a new reading's first flags, or a later correction (``revised``).

    ``wall_us``: when the record was written (UTC µs); on the alert-inputs topic it is when the
    readings reached the alert engine's log, which makes a station's clock and its lateness."""

    results: list[QcResult]
    wall_us: int = 0


class IndicatorBatch(msgspec.Struct, frozen=True, tag="indicators/v1"):
    """Indicator values of one partition; a None value retracts that (station, indicator, time)."""

    items: list[Indicator]
    wall_us: int = 0


class Tick(msgspec.Struct, frozen=True, tag="tick/v1"):
    """A clock tick in one partition of the alert-inputs topic: timers fire on it (silent station,
    re-notify, silence end), and a replay of the log sees the same ticks in the same places."""

    wall_us: int


class TideModelUpdate(msgspec.Struct, frozen=True, tag="tide-model/v1"):
    """A newly fitted tide model (``TideModel.to_dict()``) for the station's indicator state."""

    station: str
    model: dict


# Items per record: well under Kafka's default 1 MB message limit (an item encodes to ~60–150 bytes).
MAX_ITEMS_PER_RECORD = 2000


def chunks(items: list, size: int = MAX_ITEMS_PER_RECORD) -> list[list]:
    """Split a partition's items into records that stay below the broker's message size limit."""
    return [items[i : i + size] for i in range(0, len(items), size)]


_encoder = msgspec.json.Encoder()
_observations = msgspec.json.Decoder(ObservationBatch)
_indicators = msgspec.json.Decoder(IndicatorBatch)
_tide_model = msgspec.json.Decoder(TideModelUpdate)


def encode(record: ObservationBatch | IndicatorBatch | Tick | TideModelUpdate) -> bytes:
    return _encoder.encode(record)


def decode_observations(data: bytes) -> ObservationBatch:
    return _observations.decode(data)


def decode_indicators(data: bytes) -> IndicatorBatch:
    return _indicators.decode(data)


def decode_tide_model(data: bytes) -> TideModelUpdate:
    return _tide_model.decode(data)
