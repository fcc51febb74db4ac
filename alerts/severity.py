"""The alert severity scale: the four colours of China's marine warnings, lowest first.

Severities are compared by rank (0 means "no condition"), so escalation, de-escalation and channel
routing are integer comparisons and the colour names stay data.
"""

from __future__ import annotations

SEVERITIES: tuple[str, ...] = ("blue", "yellow", "orange", "red")
SEVERITY_ZH: dict[str, str] = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}


def rank(severity: str) -> int:
    """1 for blue … 4 for red; raises ValueError for a name outside the scale."""
    return SEVERITIES.index(severity) + 1


def name(severity_rank: int) -> str | None:
    """The colour of a rank, None for rank 0 (no condition)."""
    return SEVERITIES[severity_rank - 1] if severity_rank > 0 else None
