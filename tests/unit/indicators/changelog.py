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
