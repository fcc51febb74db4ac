"""A span of calendar years as operators type it (``1991-2020``), for command-line baselines."""

from __future__ import annotations

import argparse
import re

_SPAN = re.compile(r"^(\d{4})-(\d{4})$")


def parse_year_span(text: str) -> tuple[int, int]:
    """``1991-2020`` → (1991, 2020); an argparse type, so a bad span is a usage error naming it."""
    match = _SPAN.match(text.strip())
    if not match or int(match[2]) < int(match[1]):
        raise argparse.ArgumentTypeError(f"years must be FIRST-LAST, e.g. 1991-2020, got {text!r}")
    return int(match[1]), int(match[2])
