"""The QARTOD tests over arrays, one parameter set per call.

Gap, gross range, spike, rate of change, attenuated signal and location call ``ioos_qc.qartod``:
their cost is per call (~0.4 ms) and nearly flat in length, so the engine runs each of them once
over many series joined with separators. Two tests are vectorised here with the exact ioos_qc
semantics (the tests compare them with ioos_qc point for point):

* flat line: ioos_qc builds a (points × window) masked copy of the whole array it is given, so
  its cost grows with the context each series needs (360 samples for six hours of 1-min data),
  not with the few new readings; here only the windows of the readings being flagged are read.
* climatology: every station has its own monthly spans, and ioos_qc's ``ClimatologyConfig`` costs
  ~2 ms per call, i.e. per series; here any number of readings costs one table look-up.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from ioos_qc import qartod
from numpy.lib.stride_tricks import sliding_window_view

from schemas.quality import FAIL, GOOD, MISSING, NOT_EVALUATED, SUSPECT
from streams.qc.config import (
    AttenuatedSignalTest,
    ClimatologyTest,
    FlatLineTest,
    GapTest,
    GrossRangeTest,
    LocationTest,
    RateOfChangeTest,
    SpikeTest,
)

EARTH_RADIUS_KM = 6371.0088  # IUGG mean radius
_FLAT_LINE_CHUNK = 4096  # readings per gather, bounds memory to chunk × window values


def _flags(result: np.ndarray) -> np.ndarray:
    return np.asarray(result, dtype=np.uint8)


def gross_range(values: np.ndarray, test: GrossRangeTest) -> np.ndarray:
    return _flags(qartod.gross_range_test(values, fail_span=test.fail_span, suspect_span=test.suspect_span))


def spike(values: np.ndarray, test: SpikeTest) -> np.ndarray:
    return _flags(qartod.spike_test(values, test.suspect_threshold, test.fail_threshold, test.method))


def rate_of_change(values: np.ndarray, times_us: np.ndarray, test: RateOfChangeTest) -> np.ndarray:
    times = times_us.astype("datetime64[us]")
    return _flags(qartod.rate_of_change_test(values, times, test.threshold, test.fail_threshold))


def gap(times: np.ndarray, test: GapTest) -> np.ndarray:
    """``times`` as datetime64 (NaT allowed); ioos_qc takes hours and truncates to whole seconds."""
    return _flags(qartod.time_gap_test(times, fail_span=(test.fail_span_s + 0.5) / 3600.0))


def attenuated_signal(values: np.ndarray, times_us: np.ndarray, test: AttenuatedSignalTest) -> np.ndarray:
    return _flags(
        qartod.attenuated_signal_test(
            values,
            times_us.astype("datetime64[us]"),
            test.suspect_threshold,
            test.fail_threshold,
            test_period=test.test_period,
            min_obs=test.min_obs,
            check_type=test.check_type,
        )
    )


@cache
def _monthly_table(test: ClimatologyTest) -> np.ndarray:
    """(12, 4): suspect low/high, fail low/high per month; NaN where there is none."""
    fail = test.fail_span or (-np.inf, np.inf)
    rows = [(*span, *fail) if span else (np.nan, np.nan, -np.inf, np.inf) for span in test.monthly]
    return np.array(rows, dtype=np.float64)


def climatology(
    values: np.ndarray, times_us: np.ndarray, tests: Sequence[ClimatologyTest], which: np.ndarray
) -> np.ndarray:
    """ioos_qc ``climatology_test`` with one member per calendar month (``period='month'``).

    Readings of many series at once: ``which`` picks each reading's configuration in ``tests``.
    """
    month = times_us.astype("datetime64[us]").astype("datetime64[M]").astype(np.int64) % 12
    low, high, fail_low, fail_high = np.stack([_monthly_table(t) for t in tests])[which, month].T
    flags = np.full(len(values), GOOD, dtype=np.uint8)
    with np.errstate(invalid="ignore"):
        flags[(values < low) | (values > high)] = SUSPECT
        flags[(values < fail_low) | (values > fail_high)] = FAIL
    flags[np.isnan(low)] = NOT_EVALUATED
    flags[np.isnan(values)] = MISSING
    return flags


def flat_line(values: np.ndarray, targets: np.ndarray, history: np.ndarray, test: FlatLineTest) -> np.ndarray:
    """ioos_qc ``flat_line_test`` for the readings at ``targets`` of ``values``.

    ``history`` is how many earlier samples of the same series precede each target in ``values``;
    a reading is flagged when the range of itself and its ``count`` predecessors (missing values
    ignored) is below the tolerance, and a reading with fewer predecessors is not flagged.
    """
    flags = np.full(len(targets), GOOD, dtype=np.uint8)
    for count, flag in ((test.suspect_count, SUSPECT), (test.fail_count, FAIL)):
        rows = np.flatnonzero(history >= count)
        if len(rows) == 0:
            continue
        windows = sliding_window_view(values, count + 1)
        for chunk in np.array_split(rows, -(-len(rows) // _FLAT_LINE_CHUNK)):
            window = windows[targets[chunk] - count]
            spread = np.fmax.reduce(window, axis=1) - np.fmin.reduce(window, axis=1)
            with np.errstate(invalid="ignore"):
                flags[chunk[spread < test.tolerance]] = flag
    flags[np.isnan(values[targets])] = MISSING
    return flags


def haversine_km(lat: np.ndarray, lon: np.ndarray, lat0: float, lon0: float) -> np.ndarray:
    phi, phi0 = np.radians(lat), np.radians(lat0)
    a = np.sin((phi - phi0) / 2) ** 2 + np.cos(phi) * np.cos(phi0) * np.sin(np.radians(lon - lon0) / 2) ** 2
    distance_km: np.ndarray = 2 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return distance_km


def location(lat: np.ndarray, lon: np.ndarray, test: LocationTest) -> np.ndarray:
    """ioos_qc location and bounding-box tests, plus the distance from the registered position."""
    results = [_flags(qartod.location_test(lon, lat))]
    if test.bbox is not None:
        results.append(_flags(qartod.location_bounds_test(lon, lat, list(test.bbox))))
    if test.suspect_distance_km is not None or test.fail_distance_km is not None:
        distance = haversine_km(lat, lon, test.station_latitude, test.station_longitude)
        flags = np.full(len(lat), GOOD, dtype=np.uint8)
        with np.errstate(invalid="ignore"):
            for limit, flag in ((test.suspect_distance_km, SUSPECT), (test.fail_distance_km, FAIL)):
                if limit is not None:
                    flags[distance > limit] = flag
        flags[np.isnan(distance)] = MISSING
        results.append(flags)
    return _flags(qartod.qartod_compare(results))
