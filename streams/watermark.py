"""Which results the alert engine has judged already: repeats from a worker that died between sending
and storing are skipped (see ``SourceWatermark``)."""

from __future__ import annotations

from typing import TypeVar

T = TypeVar("T")


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
