"""Real-time QARTOD quality control: pure, vectorised over many series, stateful per series (no I/O)."""

from schemas.quality import FAIL, GOOD, MISSING, NOT_EVALUATED, SUSPECT, TESTS, QcResult, decode
from streams.qc.config import QcConfig, QcConfigError, SeriesConfig, load_qc_config, parse_qc_config
from streams.qc.engine import QcEngine, state_key
from streams.qc.readings import Readings, flag_counts, readings_from_batch

__all__ = [
    "FAIL",
    "GOOD",
    "MISSING",
    "NOT_EVALUATED",
    "SUSPECT",
    "TESTS",
    "QcConfig",
    "QcConfigError",
    "QcEngine",
    "QcResult",
    "Readings",
    "SeriesConfig",
    "decode",
    "flag_counts",
    "load_qc_config",
    "parse_qc_config",
    "readings_from_batch",
    "state_key",
]
