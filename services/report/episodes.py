"""Storm-surge episodes from the stored cycle surge maxima, and station outages from the gaps between
stored readings: two run-finding rules of the report, pure numpy, parameters from report.yaml."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from services.report.settings import ReportSettings

HOUR_US = 3_600_000_000


@dataclass(frozen=True)
class SurgeEpisode:
    start_us: int  # time of the first cycle maximum at or above the threshold
    end_us: int  # time of the last one
    cycles: int
    peak_m: float
    peak_us: int
    highest_warning: int  # highest water_level_warning (0..4) of the high waters in the episode


def surge_episodes(
    surge_t: np.ndarray,
    surge_m: np.ndarray,
    warn_t: np.ndarray,
    warn_level: np.ndarray,
    settings: ReportSettings,
) -> list[SurgeEpisode]:
    """Runs of cycles with max surge >= threshold, joined while the next is <= max gap later; a high
    water belongs to an episode when it lies within half a tidal day (12.42 h) of its span."""
    sel = np.isfinite(surge_m) & (surge_m >= settings.surge_threshold_m)
    t, v = surge_t[sel], surge_m[sel]
    if t.size == 0:
        return []
    breaks = np.flatnonzero(np.diff(t) > settings.surge_max_gap_h * HOUR_US) + 1
    half_cycle = int(12.42 * HOUR_US / 2)
    out = []
    for idx in np.split(np.arange(t.size), breaks):
        top = idx[int(np.argmax(v[idx]))]
        start, end = int(t[idx[0]]), int(t[idx[-1]])
        near = (warn_t >= start - half_cycle) & (warn_t <= end + half_cycle) & np.isfinite(warn_level)
        out.append(
            SurgeEpisode(
                start_us=start,
                end_us=end,
                cycles=int(idx.size),
                peak_m=float(v[top]),
                peak_us=int(t[top]),
                highest_warning=int(warn_level[near].max()) if near.any() else 0,
            )
        )
    return out


@dataclass(frozen=True)
class Outage:
    start_us: int  # last reading before the gap (or the start of the span)
    end_us: int  # first reading after it (or the end of the span)

    @property
    def hours(self) -> float:
        return (self.end_us - self.start_us) / HOUR_US


def outage_gap_us(sampling_interval_s: float, settings: ReportSettings) -> int:
    return int(max(settings.outage_min_gap_s, settings.outage_min_intervals * sampling_interval_s) * 1e6)


def outages(
    reading_gaps: list[tuple[int, int]],
    first_us: int | None,
    last_us: int | None,
    span: tuple[int, int],
    sampling_interval_s: float,
    settings: ReportSettings,
) -> list[Outage]:
    """Gaps longer than the outage rule between readings, and before the first / after the last reading
    of the span (span end: the year's end or the newest reading in scope, whichever is earlier)."""
    limit = outage_gap_us(sampling_interval_s, settings)
    if first_us is None or last_us is None:
        return [Outage(*span)] if span[1] - span[0] > limit else []
    cuts = [(span[0], first_us), *reading_gaps, (last_us, span[1])]
    return [Outage(a, b) for a, b in cuts if b - a > limit]


def availability_pct(readings: int, span: tuple[int, int], sampling_interval_s: float) -> float | None:
    """Stored readings / nominal readings of the span, capped at 100 %."""
    if sampling_interval_s <= 0 or span[1] <= span[0]:
        return None
    expected = (span[1] - span[0]) / (sampling_interval_s * 1e6)
    return min(100.0, 100.0 * readings / expected)
