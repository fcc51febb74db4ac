"""Streaming QC against ioos_qc's own results: published vectors and the Kotzebue example series."""

from __future__ import annotations

import numpy as np
import pytest
from qc_helpers import (
    KOTZEBUE_QC,
    Worker,
    columns_of,
    feed,
    kotzebue,
    late_batches,
    max_lateness_us,
    reference,
    registry_of,
    rows,
    station,
)

from streams.qc import QcEngine, parse_qc_config

HOUR_US = 3_600_000_000


@pytest.fixture(scope="module")
def kotzebue_config():
    registry = registry_of(
        station("kotzebue", ["water_level_m"], interval_s=3600, latitude=66.9, longitude=-162.6)
    )
    # Shuffled delivery below is at most a day late; the horizon covers it.
    return parse_qc_config(
        {"late_horizon_s": 48 * 3600, "defaults": {"water_level_m": KOTZEBUE_QC}}, registry
    )


@pytest.fixture(scope="module")
def kotzebue_reference(kotzebue_config):
    times, values = kotzebue()
    flags, tests = reference(kotzebue_config.get("kotzebue", "water_level_m"), times, values)
    return times, values, flags, tests


def test_reference_series_has_every_kind_of_flag(kotzebue_reference):
    """Sanity of the reference itself, so the equality tests below compare something non-trivial."""
    times, _, flags, _ = kotzebue_reference
    assert len(times) == 7241
    assert {1, 3, 4} <= set(flags.tolist())
    # ioos_qc's flat line converts seconds to samples with the median interval: the registry's 1 h.
    assert np.median(np.diff(times)) == HOUR_US


def test_one_reading_at_a_time_with_a_restart_equals_ioos_qc(kotzebue_config, kotzebue_reference):
    times, values, flags, tests = kotzebue_reference
    worker = Worker(kotzebue_config)
    one_by_one = [
        rows("kotzebue", "water_level_m", times[i : i + 1], values[i : i + 1]) for i in range(len(times))
    ]
    half = len(times) // 2
    last = feed(worker, one_by_one[:half])
    worker.restart()
    last |= feed(worker, one_by_one[half:])
    got_flags, got_tests = columns_of(last, "kotzebue", "water_level_m", times)
    np.testing.assert_array_equal(got_tests, tests)
    np.testing.assert_array_equal(got_flags, flags)


def test_shuffled_late_batches_with_a_restart_equal_ioos_qc(kotzebue_config, kotzebue_reference):
    times, values, flags, tests = kotzebue_reference
    batches = late_batches(len(times), np.random.default_rng(7))
    assert max_lateness_us(times, batches) <= kotzebue_config.late_horizon_s * 1e6
    assert max_lateness_us(times, batches) > 6 * HOUR_US  # genuinely late, not just reordered
    worker = Worker(kotzebue_config)
    half = len(batches) // 2
    last = feed(worker, (rows("kotzebue", "water_level_m", times[b], values[b]) for b in batches[:half]))
    worker.restart()
    last |= feed(worker, (rows("kotzebue", "water_level_m", times[b], values[b]) for b in batches[half:]))
    got_flags, got_tests = columns_of(last, "kotzebue", "water_level_m", times)
    np.testing.assert_array_equal(got_tests, tests)
    np.testing.assert_array_equal(got_flags, flags)


def vector_engine(block: dict) -> QcEngine:
    registry = registry_of(station("v", ["water_level_m"]))
    return QcEngine(
        parse_qc_config({"defaults": {"water_level_m": {"gross_range": None, **block}}}, registry)
    )


@pytest.mark.parametrize("order", ["in order", "one batch", "reversed"])
@pytest.mark.parametrize(
    ("block", "values", "expected"),
    [
        (
            {"gross_range": {"fail_span": [10, 50], "suspect_span": [20, 40]}},
            [5, 10, 15, 20, 25, 30, 35, 40, 45, 51],
            [4, 3, 3, 1, 1, 1, 1, 1, 3, 4],
        ),
        (
            {"spike": {"suspect_threshold": 25, "fail_threshold": 50}},
            [10, 12, 999.99, 13, 15, 40, 9, 9],
            [2, 4, 4, 4, 1, 3, 1, 2],
        ),
    ],
    ids=["gross_range", "spike"],
)
def test_published_vectors(block, values, expected, order):
    times = np.arange(len(values), dtype=np.int64) * 60_000_000
    x = np.array(values, dtype=float)
    index = np.arange(len(values))
    batches = {
        "in order": [index[i : i + 1] for i in index],
        "one batch": [index],
        "reversed": [index[i : i + 1] for i in index[::-1]],
    }[order]
    last = feed(vector_engine(block), (rows("v", "water_level_m", times[b], x[b]) for b in batches))
    flags, _ = columns_of(last, "v", "water_level_m", times)
    assert flags.tolist() == expected
