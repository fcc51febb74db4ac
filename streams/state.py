"""Per-station stream state as keyed pieces: the one state mechanism of every stateful agent.

Each agent's state objects name their own pieces (``"<variable>/<chunk>"``, ``"raw/<slot>"``,
``"rows/<day>"`` …) and hand over only the pieces a batch changed, with None for a piece to delete.
``PieceTable`` stores each piece under ``"<station>/<piece>"`` in a changelog table on the station's
partition, so a batch writes in proportion to what it changed, not to how large the state has grown.

Every changelog record is bounded: a piece whose encoding exceeds ``MAX_PIECE_BYTES`` (far below the
broker's 1 MiB message limit) is written as numbered parts, so no input rate, burst or history length
makes a changelog write fail and stop the worker for every station; such pieces are counted in
``tidewatch_state_split_total`` (a sign of a station sending far faster than its sampling interval).

``Assignment`` tells an agent when the partitions it owns have changed: records of a newly assigned
partition can arrive before the rebalance signal, so agents compare the assignment itself at every
batch and rebuild their live state from the table before judging anything.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

import faust
import orjson

from schemas.records import partition_for
from streams import metrics
from streams.app import app, settings

log = logging.getLogger(__name__)

# Largest changelog record the state tables write; a larger piece is split into parts.
MAX_PIECE_BYTES = 256 * 1024
_PARTS = b"\x00parts:"  # a split piece's head record (JSON never starts with a NUL byte)


def partition_owner(partition: int) -> str:
    """The owner name of pieces that belong to a partition rather than to a station (e.g. how far an
    agent has applied that partition's log)."""
    return f"@{partition}"


def owned_partition(owner: str) -> int | None:
    """The partition a ``partition_owner`` name stands for (None: the owner is a station)."""
    return int(owner[1:]) if owner.startswith("@") else None


def _partition_of(owner: str) -> int:
    partition = owned_partition(owner)
    return partition_for(owner, settings.topic_partitions) if partition is None else partition


class _StationKeyed(faust.Table):
    """A changelog table whose keys start with a station id (or a partition owner): its changelog
    partition is the station's (``partition_for``), the one its readings arrive on, so a write from a
    batch of many records (where faust has no current event to take the partition from) recovers on
    the right worker."""

    def partition_for_key(self, key: object) -> int:
        return _partition_of(str(key).split("/", 1)[0])


class PieceTable:
    """Pieces of per-station state in one changelog table, encoded once, bounded per record."""

    def __init__(self, name: str) -> None:
        self.name = name
        metrics.STATE_SPLIT.labels(name)  # the series exists at 0 from the start
        metrics.STATE_BYTES.labels(name)
        table = _StationKeyed(
            app,
            name=name,
            default=None,
            beacon=app.tables.beacon,
            partitions=settings.topic_partitions,
            # The types choose every codec of the table, its store and its changelog: JSON keys, raw
            # bytes values (encoded once here). A schema alone left the table's own codec at JSON, and
            # values recovered on another worker came back decoded.
            key_type=str,
            value_type=bytes,
        )
        app.tables.add(table)  # returns its argument, typed only as a collection
        self.table = table
        self._parts: dict[str, int] = {}  # split pieces: key → number of parts written

    def write(self, station: str, pieces: Mapping[str, Any]) -> int:
        """Store pieces (None deletes one); returns the bytes written."""
        written = 0
        for piece, value in pieces.items():
            key = f"{station}/{piece}"
            if value is None:
                self._delete(key)
                continue
            data = orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
            written += len(data)
            head, *parts = split_piece(data)
            for i, part in enumerate(parts):
                self.table[f"{key}#{i}"] = part
            self._drop_parts(key, keep=len(parts))
            if parts:
                self._parts[key] = len(parts)
                metrics.STATE_SPLIT.labels(self.name).inc()
                log.warning(
                    "%s piece %s is %d bytes: written in %d parts", self.name, key, len(data), len(parts)
                )
            self.table[key] = head
        metrics.STATE_BYTES.labels(self.name).inc(written)
        return written

    def _delete(self, key: str) -> None:
        self._drop_parts(key, keep=0)
        if key in self.table:
            del self.table[key]

    def _drop_parts(self, key: str, keep: int) -> None:
        for i in range(keep, self._parts.pop(key, 0)):
            self.table.pop(f"{key}#{i}", None)

    def load(self, partitions: frozenset[int]) -> dict[str, dict[str, Any]]:
        """Every stored piece of the stations (and partition owners) on these partitions:
        {owner: {piece: value}}."""
        raw: dict[str, bytes] = {}
        for key, value in self.table.items():
            key = str(key)
            if value is not None and _partition_of(key.split("/", 1)[0]) in partitions:
                raw[key] = value
        self._parts.clear()
        out: dict[str, dict[str, Any]] = defaultdict(dict)
        for key, data in raw.items():
            if "#" in key or "/" not in key:
                continue  # a part (read with its head below), or a key of an older layout
            try:
                count = part_count(data)
                if count:
                    self._parts[key] = count
                    data = b"".join(raw[f"{key}#{i}"] for i in range(count))
                value = orjson.loads(data)
            except (KeyError, ValueError, TypeError, AttributeError) as exc:
                # One unreadable piece costs its station's state (rebuilt), never the worker.
                log.error("%s piece %s unreadable (%r): left out", self.name, key, exc)
                continue
            station, piece = key.split("/", 1)
            out[station][piece] = value
        return dict(out)

    def forget(self, station: str, pieces: Iterable[str]) -> None:
        """Delete a station's pieces (a state that could not be restored: rebuild it from scratch)."""
        self.write(station, dict.fromkeys(pieces))


def split_piece(data: bytes) -> list[bytes]:
    """The records of one encoded piece: itself, or a head naming the part count and the parts."""
    if len(data) <= MAX_PIECE_BYTES:
        return [data]
    parts = [data[i : i + MAX_PIECE_BYTES] for i in range(0, len(data), MAX_PIECE_BYTES)]
    return [_PARTS + str(len(parts)).encode(), *parts]


def part_count(head: bytes) -> int:
    """How many parts follow a piece's head record (0: the record is the whole piece)."""
    return int(head[len(_PARTS) :]) if head.startswith(_PARTS) else 0


class Assignment:
    """The partitions of one input topic this worker owns, and whether that changed since last asked.

    A completed rebalance counts as a change even when the set is the same again: the partitions may
    have been another worker's in between, and the table then holds that worker's newer state.
    """

    def __init__(self, topic: str) -> None:
        self.topic = topic
        self.partitions: frozenset[int] | None = None
        _assignments.append(self)

    def current(self) -> frozenset[int]:
        return frozenset(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == self.topic)

    def changed(self) -> bool:
        now = self.current()
        if now == self.partitions:
            return False
        self.partitions = now
        return True


_assignments: list[Assignment] = []


@app.on_rebalance_complete.connect
async def _partitions_moved(sender: object, /, *args: object, **kwargs: object) -> None:
    for assignment in _assignments:
        assignment.partitions = None
