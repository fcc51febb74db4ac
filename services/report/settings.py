"""The report's own settings (report.yaml beside this file, or a file given with --settings): storm-surge
episode and outage rules, the mean-sea-level baseline period, scorecard grading bands. Read once,
checked, hashed into the report's stamp."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from alerts.loader import defined_rule_ids
from schemas.documents import Problem, convert, parse_yaml
from services.report.base import ReportError

DEFAULT_PATH = Path(__file__).with_name("report.yaml")
GRADES = ("good", "fair", "poor")


@dataclass(frozen=True)
class Band:
    grade: str
    min: float | None = None
    max: float | None = None

    def holds(self, value: float) -> bool:
        return (self.min is None or value >= self.min) and (self.max is None or value <= self.max)


@dataclass(frozen=True)
class ReportSettings:
    surge_threshold_m: float = 0.5
    surge_max_gap_h: float = 26.0
    outage_min_gap_s: float = 3600.0
    outage_min_intervals: float = 3.0
    # MSL anomaly baseline (China's Sea Level Bulletin: 1993-2011) and the share of its months a
    # station must have for an anomaly to be given
    msl_baseline_years: tuple[int, int] = (1993, 2011)
    msl_baseline_min_coverage_pct: float = 80.0
    grading: dict[str, tuple[Band, ...]] | None = None
    # alert rules about the stations themselves (sensors, silence, power): counted in the data-quality
    # annex, not among the hazard warnings of the summary and coastal-hazard sections
    station_health_rules: tuple[str, ...] = (
        "sensor_flat_line",
        "sensor_repeated_fail",
        "station_silent",
        "battery_low",
    )
    # a scorecard year resting on less than this share of its days is not graded and is no baseline
    scorecard_min_coverage_pct: float = 80.0
    sha256: str = ""

    def grade(self, indicator: str, value: float | None) -> str | None:
        """The grade of a value, or None when it has no value or the indicator has no bands."""
        if value is None or not self.grading or indicator not in self.grading:
            return None
        return next((b.grade for b in self.grading[indicator] if b.holds(value)), None)


class _SurgeEpisodeSpec(msgspec.Struct):
    threshold_m: float = ReportSettings.surge_threshold_m
    max_gap_h: float = ReportSettings.surge_max_gap_h


class _OutageSpec(msgspec.Struct):
    min_gap_s: float = ReportSettings.outage_min_gap_s
    min_intervals: float = ReportSettings.outage_min_intervals


class _SeaLevelSpec(msgspec.Struct):
    baseline_years: tuple[int, int] = ReportSettings.msl_baseline_years
    baseline_min_coverage_pct: float = ReportSettings.msl_baseline_min_coverage_pct


class _AlertsSpec(msgspec.Struct):
    station_health_rules: tuple[str, ...] = ReportSettings.station_health_rules


class _ScorecardSpec(msgspec.Struct):
    min_coverage_pct: float = ReportSettings.scorecard_min_coverage_pct


class _BandSpec(msgspec.Struct):
    grade: str
    min: float | None = None
    max: float | None = None


class _ReportSpec(msgspec.Struct):
    """report.yaml as written; grading bands are read per indicator so an error can name it."""

    surge_episode: _SurgeEpisodeSpec = msgspec.field(default_factory=_SurgeEpisodeSpec)
    outage: _OutageSpec = msgspec.field(default_factory=_OutageSpec)
    sea_level: _SeaLevelSpec = msgspec.field(default_factory=_SeaLevelSpec)
    alerts: _AlertsSpec = msgspec.field(default_factory=_AlertsSpec)
    scorecard: _ScorecardSpec = msgspec.field(default_factory=_ScorecardSpec)
    grading: dict[str, Any] | None = None


def load_settings(path: str | Path | None = None) -> ReportSettings:
    p = Path(path) if path else DEFAULT_PATH
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise ReportError(f"report settings {p}: {exc}") from exc

    def error(where: str) -> Callable[[Problem], ReportError]:
        def report_error(problem: Problem) -> ReportError:
            field = problem.within(where)
            return ReportError(f"report settings {p}: {field + ': ' if field else ''}{problem.complaint()}")

        return report_error

    document = parse_yaml(raw, lambda reason: ReportError(f"report settings {p}: {reason}")) or {}
    spec = convert(document, _ReportSpec, error(""))
    first, last = spec.sea_level.baseline_years
    if not 1900 <= first <= last <= 2100:
        raise ReportError(
            f"report settings {p}: sea_level.baseline_years {first}-{last} is not a span of years"
        )
    if not 0.0 <= spec.sea_level.baseline_min_coverage_pct <= 100.0:
        raise ReportError(f"report settings {p}: sea_level.baseline_min_coverage_pct must be 0..100")
    if not 0.0 <= spec.scorecard.min_coverage_pct <= 100.0:
        raise ReportError(f"report settings {p}: scorecard.min_coverage_pct must be 0..100")
    unknown = sorted(set(spec.alerts.station_health_rules) - defined_rule_ids())
    if unknown:
        raise ReportError(f"report settings {p}: alerts.station_health_rules: no alert rule {unknown[0]!r}")
    grading = {}
    for name, given in (spec.grading or {}).items():
        bands = convert(given, list[_BandSpec], error(f"grading.{name}"))
        bad = [b.grade for b in bands if b.grade not in GRADES]
        if bad:
            raise ReportError(f"report settings {p}: grading.{name}: unknown grade {bad[0]!r}")
        grading[name] = tuple(Band(b.grade, b.min, b.max) for b in bands)
    return ReportSettings(
        surge_threshold_m=spec.surge_episode.threshold_m,
        surge_max_gap_h=spec.surge_episode.max_gap_h,
        outage_min_gap_s=spec.outage.min_gap_s,
        outage_min_intervals=spec.outage.min_intervals,
        msl_baseline_years=(first, last),
        msl_baseline_min_coverage_pct=spec.sea_level.baseline_min_coverage_pct,
        grading=grading,
        station_health_rules=tuple(spec.alerts.station_health_rules),
        scorecard_min_coverage_pct=spec.scorecard.min_coverage_pct,
        sha256=hashlib.sha256(raw).hexdigest()[:16],
    )
