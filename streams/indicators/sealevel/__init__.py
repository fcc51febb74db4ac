"""Sea-level indicators of tide stations: tide prediction, surge, high/low waters, mean sea level,
trend and warning levels (GB/T 17839 practice). Pure: no I/O; the stream layer stores and publishes."""

from schemas.indicators import Indicator, IndicatorSpec
from streams.indicators.sealevel.catalogue import CATALOGUE
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.constants import ConstantsError, load_constants_csv, model_from_constants
from streams.indicators.sealevel.extrema import ExtremaParams, Extremum, find_extrema
from streams.indicators.sealevel.inference import Inference
from streams.indicators.sealevel.quality import QualityBar, is_provisional, shortfalls
from streams.indicators.sealevel.refit import (
    FitWindow,
    RefitOutcome,
    RefitPolicy,
    refit,
    refit_window,
    resolvable_constituents,
)
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import TideModel, fit_tide, predict_with, select_model
from streams.indicators.sealevel.trend import TrendResult, sea_level_trend, trend_indicators
from streams.indicators.sealevel.warnings import ThresholdError, WarningThresholds, classify, parse_thresholds

__all__ = [
    "CATALOGUE",
    "ConstantsError",
    "ExtremaParams",
    "Extremum",
    "FitWindow",
    "Indicator",
    "IndicatorSpec",
    "Inference",
    "QualityBar",
    "RefitOutcome",
    "RefitPolicy",
    "SeaLevelConfig",
    "SeaLevelState",
    "ThresholdError",
    "TideModel",
    "TrendResult",
    "WarningThresholds",
    "classify",
    "compute_indicators",
    "find_extrema",
    "fit_tide",
    "is_provisional",
    "load_constants_csv",
    "model_from_constants",
    "parse_thresholds",
    "predict_with",
    "refit",
    "refit_window",
    "resolvable_constituents",
    "sea_level_trend",
    "select_model",
    "shortfalls",
    "trend_indicators",
]
