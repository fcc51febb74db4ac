"""Record formats of the topics between stream agents (JSON via msgspec, times in µs UTC).

Every record goes to the partition of its station (``schemas.records.partition_for``), so each
agent's per-station state stays on one partition whichever topic feeds it.
"""

from __future__ import annotations

from typing import TypeVar

import msgspec

from streams.indicators.records import Indicator
from streams.qc import QcResult

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


class SourceWatermark:
    """Per partition, the newest source offset whose results the alert engine has judged.

    QC reads each readings partition in offset order and sends each batch's results after the previous
    batch's (the indicators agent likewise for the observations partition), so a result whose source
    is not newer than what earlier batches brought has been judged already: it is a repeat from a
    worker that died between sending and storing, and judging it again would replay old readings
    after newer ones (false escalations). A batch may span several records (all stamped with the same
    ``wall_us``, in no offset order among themselves): it counts once all its records are in, when a
    record of another batch comes. A negative source (an item no record made, e.g. from a new tide
    model) always passes. One watermark per source topic. Pure: the agent keeps ``state()``."""

    def __init__(self, state: dict[int, list[int]] | None = None) -> None:
        # partition -> [newest offset of the closed batches, open batch's wall_us, its newest offset]
        self._marks: dict[int, list[int]] = {p: list(m) for p, m in (state or {}).items()}

    def state(self, partition: int) -> list[int]:
        return list(self._marks.get(partition, [-1, 0, -1]))

    def fresh(self, partition: int, wall_us: int, items: list[T], sources: list[int]) -> tuple[list[T], int]:
        """The items of one record not yet judged, and how many were repeats; advances the mark."""
        if not sources:
            return items, 0
        mark = self._marks.setdefault(partition, [-1, 0, -1])
        if wall_us != mark[1]:  # a new batch: the open one is complete
            mark[0], mark[1], mark[2] = max(mark[0], mark[2]), wall_us, -1
        closed = mark[0]
        kept = [item for item, source in zip(items, sources, strict=True) if source < 0 or source > closed]
        mark[2] = max(mark[2], max(sources))
        return kept, len(items) - len(kept)


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
    model: dict


# Items per record: well under Kafka's default 1 MB message limit (an item encodes to ~60–150 bytes).
MAX_ITEMS_PER_RECORD = 2000


def chunks(items: list, size: int = MAX_ITEMS_PER_RECORD) -> list[list]:
    """Split a partition's items into records that stay below the broker's message size limit."""
    return [items[i : i + size] for i in range(0, len(items), size)]


_encoder = msgspec.json.Encoder()


def encode(record: ObservationBatch | IndicatorBatch | Tick | TideModelUpdate) -> bytes:
    return _encoder.encode(record)
