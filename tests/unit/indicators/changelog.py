"""A changelog table in a dict: what the state tables hold after writes of exported pieces."""

from __future__ import annotations

import json
from collections.abc import Mapping


def apply_pieces(changelog: dict[str, object], pieces: Mapping[str, object]) -> None:
    """Write pieces through JSON (as the table encodes them); None deletes a piece."""
    for key, value in pieces.items():
        if value is None:
            changelog.pop(key, None)
        else:
            changelog[key] = json.loads(json.dumps(value))


def torn_table(writes: list[list[tuple[str, object]]], batch: int, cut: int) -> dict[str, object]:
    """What the changelog holds when the export of ``batch`` was cut after ``cut`` of its records
    (every earlier batch's records written whole): a worker killed while writing its state."""
    table: dict[str, object] = {}
    for b, records in enumerate(writes[: batch + 1]):
        for key, value in records if b < batch else records[:cut]:
            if value is None:
                table.pop(key, None)
            else:
                table[key] = value
    return table
