"""The report's own settings (report.yaml beside this file, or a file given with --settings): storm-surge
episode and outage rules, scorecard grading bands. Read once, checked, hashed into the report's stamp."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import yaml

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
    grading: dict[str, tuple[Band, ...]] | None = None
    sha256: str = ""

    def grade(self, indicator: str, value: float | None) -> str | None:
        """The grade of a value, or None when it has no value or the indicator has no bands."""
        if value is None or not self.grading or indicator not in self.grading:
            return None
        return next((b.grade for b in self.grading[indicator] if b.holds(value)), None)


def load_settings(path: str | Path | None = None) -> ReportSettings:
    p = Path(path) if path else DEFAULT_PATH
    try:
        raw = p.read_bytes()
        data = yaml.safe_load(raw) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise ReportError(f"report settings {p}: {exc}") from exc
    try:
        surge, outage = data.get("surge_episode", {}), data.get("outage", {})
        grading = {}
        for name, bands in (data.get("grading") or {}).items():
            parsed = tuple(Band(str(b["grade"]), b.get("min"), b.get("max")) for b in bands)
            bad = [b.grade for b in parsed if b.grade not in GRADES]
            if bad:
                raise ReportError(f"report settings {p}: grading.{name}: unknown grade {bad[0]!r}")
            grading[name] = parsed
        return ReportSettings(
            surge_threshold_m=float(surge.get("threshold_m", 0.5)),
            surge_max_gap_h=float(surge.get("max_gap_h", 26.0)),
            outage_min_gap_s=float(outage.get("min_gap_s", 3600)),
            outage_min_intervals=float(outage.get("min_intervals", 3)),
            grading=grading,
            sha256=hashlib.sha256(raw).hexdigest()[:16],
        )
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        if isinstance(exc, ReportError):
            raise
        raise ReportError(f"report settings {p}: {exc!r}") from exc
