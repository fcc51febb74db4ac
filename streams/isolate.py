"""One station's failure stays that station's: the rest of the batch goes on.

An agent's work on a batch is per station (QC series, indicator states, alert states are all keyed by
station), so a bug or an input no one foresaw at one station must not stop the agent for every other
station, nor crash-loop the worker on the same record. Each station's part runs under ``Isolated.run``:
an exception is logged with the station, counted (``tidewatch_station_failures_total{agent}``) and the
station's inputs of that batch become a dead letter (reason ``processing_failed``, the exception as
detail), so nothing is lost and it can be reprocessed once fixed.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections.abc import Callable
from typing import TypeVar

from schemas.contract import PROCESSING_FAILED
from schemas.records import DeadLetter, storable_text
from streams import metrics

T = TypeVar("T")
log = logging.getLogger(__name__)


class Isolated:
    """The failures of one batch of one agent, as dead letters to store with the batch."""

    def __init__(self, agent: str) -> None:
        self.agent = agent
        self.letters: list[DeadLetter] = []

    def run(self, station: str, work: Callable[[], list[T]], inputs: Callable[[], bytes]) -> list[T] | None:
        """``work()``'s results, or None if it raised (then ``inputs()`` is kept in a dead letter)."""
        try:
            return work()
        except Exception as exc:
            metrics.STATION_FAILURES.labels(self.agent).inc()
            log.exception(
                "%s failed on station %s: its part of the batch is a dead letter",
                self.agent,
                station,
            )
            where = traceback.extract_tb(exc.__traceback__)[-1]
            detail = f"{type(exc).__name__}: {exc} ({where.filename.rsplit('/', 1)[-1]}:{where.lineno})"
            self.letters.append(
                DeadLetter(
                    time.time_ns() // 1000,
                    f"worker:{self.agent}",
                    PROCESSING_FAILED,
                    storable_text(detail)[:4096],
                    inputs(),
                    station,
                )
            )
            return None
