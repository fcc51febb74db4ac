"""Engine behaviour: many series at once, late and duplicate readings, missing values, location,
climatology, corrections, retention and state; every flag checked against ioos_qc or by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest
from ioos_qc import qartod
from qc_helpers import (
    Worker,
    columns_of,
    feed,
    late_batches,
    max_lateness_us,
    reference,
    registry_of,
    rows,
    station,
)

from schemas.quality import TEST_INDEX
from schemas.records import ReadingBatch, Sample, StationReadings
from streams.qc import QcEngine, Readings, flag_counts, parse_qc_config, readings_from_batch
from streams.qc.flags import aggregate

MINUTE_US = 60_000_000
START_US = 1_706_724_000_000_000  # 2024-01-31T18:00Z: the 1-min series runs into February

SERIES = {
    # (station, variable): (sampling interval s, samples, start level, random-walk step, spike size)
    ("g1", "water_level_m"): (60, 900, 1.5, 0.01, 0.8),
    ("g1", "water_temperature_degC"): (60, 900, 5.0, 0.004, 2.0),
    ("g2", "water_level_m"): (60, 700, 2.0, 0.01, 0.8),
    ("b1", "wave_height_m"): (600, 400, 1.0, 0.02, 1.5),
    ("w1", "co2_flux_umol_m2_s"): (1800, 200, -2.0, 0.5, 20.0),
}
DOCUMENT = {
    "late_horizon_s": 48 * 3600,
    "common": {"gap": {"fail_intervals": 4}},
    "defaults": {
        "water_level_m": {
            "gross_range": {"fail_span": [-3, 6], "suspect_span": [0, 3]},
            "spike": {"suspect_threshold": 0.15, "fail_threshold": 0.5},
            "rate_of_change": {"threshold": 0.004, "fail_threshold": 0.01},
            "flat_line": {"suspect_threshold": 300, "fail_threshold": 600, "tolerance": 0.001},
        },
        "water_temperature_degC": {
            "gross_range": {"fail_span": [-2, 30], "suspect_span": [0, 20]},
            "spike": {"suspect_threshold": 0.5, "fail_threshold": 1.5},
            "flat_line": {"suspect_threshold": 600, "fail_threshold": 1200, "tolerance": 0.0005},
        },
        "wave_height_m": {
            "gross_range": {"fail_span": [0, 20], "suspect_span": [0, 2.5]},
            "spike": {"suspect_threshold": 0.5, "fail_threshold": 1.2},
            "attenuated_signal": {
                "suspect_threshold": 0.05,
                "fail_threshold": 0.02,
                "test_period": 10800,
                "min_obs": 6,
            },
        },
        "co2_flux_umol_m2_s": {
            "spike": {"suspect_threshold": 5, "fail_threshold": 15, "method": "differential"}
        },
    },
    "stations": {"g1": {"water_temperature_degC": {"climatology": {"monthly": [[3, 6]] + [None] * 11}}}},
}


@pytest.fixture(scope="module")
def network():
    registry = registry_of(
        station("g1", ["water_level_m", "water_temperature_degC"]),
        station("g2", ["water_level_m"]),
        station("b1", ["wave_height_m"], interval_s=600, kind="buoy"),
        station("w1", ["co2_flux_umol_m2_s"], interval_s=1800, kind="wetland"),
    )
    return parse_qc_config(DOCUMENT, registry)


def synthetic(rng: np.random.Generator, interval_s: int, n: int, level: float, step: float, spike: float):
    """A random walk with flat stretches, quiet stretches, spikes, missing values and dropped samples."""
    x = level + np.cumsum(rng.normal(0, step, n))
    for start in rng.choice(n - 30, 4, replace=False):
        x[start : start + rng.integers(4, 25)] = x[start]
    for start in rng.choice(n - 30, 2, replace=False):
        x[start : start + 25] = x[start] + rng.normal(0, step / 20, 25)
    picks = rng.choice(n, 6, replace=False)
    x[picks] += rng.choice([-1.0, 1.0], 6) * spike * rng.uniform(0.5, 1.5, 6)
    x[rng.random(n) < 0.03] = np.nan
    times = START_US + np.arange(n, dtype=np.int64) * interval_s * 1_000_000
    keep = rng.random(n) > 0.05
    keep[:3] = True
    times = times[keep]
    # A few silences long enough for the gap test.
    for at in rng.choice(np.arange(10, len(times)), 2, replace=False):
        times[at:] += 5 * interval_s * 1_000_000
    return times, x[keep]


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(11)
    return {key: synthetic(rng, *spec[:2], *spec[2:]) for key, spec in SERIES.items()}


def interleaved(data) -> Readings:
    """Every reading of every series in one time-ordered set of columns."""
    parts = [(k, t, v) for k, (t, v) in data.items()]
    station_ids = np.concatenate([[k[0]] * len(t) for k, t, _ in parts])
    variables = np.concatenate([[k[1]] * len(t) for k, t, _ in parts])
    times = np.concatenate([t for _, t, _ in parts])
    values = np.concatenate([v for _, _, v in parts])
    order = np.argsort(times, kind="stable")
    return Readings(station_ids[order].tolist(), variables[order].tolist(), times[order], values[order])


def pick(readings: Readings, index: np.ndarray) -> Readings:
    return Readings(
        [readings.station[i] for i in index],
        [readings.variable[i] for i in index],
        readings.time_us[index],
        readings.value[index],
    )


def assert_equals_reference(last, network, data):
    for (station_id, variable), (times, values) in data.items():
        flags, tests = reference(network.get(station_id, variable), times, values)
        got_flags, got_tests = columns_of(last, station_id, variable, times)
        np.testing.assert_array_equal(got_tests, tests, err_msg=f"{station_id}/{variable}")
        np.testing.assert_array_equal(got_flags, flags, err_msg=f"{station_id}/{variable}")


def test_reference_data_exercise_every_test(network, data):
    """The equality tests below are only worth something if every test raises flags here."""
    seen = {}
    for (station_id, variable), (times, values) in data.items():
        _, tests = reference(network.get(station_id, variable), times, values)
        for name, column in TEST_INDEX.items():
            seen.setdefault(name, set()).update(tests[:, column].tolist())
    for name in ("gap", "gross_range", "spike", "rate_of_change", "flat_line", "attenuated_signal"):
        assert {3, 4} & seen[name], name
    assert {1, 2, 3} <= seen["climatology"]


def test_many_series_in_mixed_batches_equal_ioos_qc_per_series(network, data):
    readings = interleaved(data)
    rng = np.random.default_rng(3)
    cuts = np.sort(rng.choice(np.arange(1, len(readings)), 60, replace=False))
    batches = np.split(np.arange(len(readings)), cuts)
    last = feed(QcEngine(network), (pick(readings, b) for b in batches))
    assert_equals_reference(last, network, data)


def test_many_series_shuffled_in_late_batches_equal_ioos_qc_per_series(network, data):
    readings = interleaved(data)
    batches = late_batches(len(readings), np.random.default_rng(5), block=80, parts=4)
    for key, (times, _) in data.items():
        mine = [
            b[[readings.station[i] == key[0] and readings.variable[i] == key[1] for i in b]] for b in batches
        ]
        local = [np.searchsorted(times, readings.time_us[b]) for b in mine if len(b)]
        assert max_lateness_us(times, local) <= network.late_horizon_s * 1e6
    last = feed(QcEngine(network), (pick(readings, b) for b in batches))
    assert_equals_reference(last, network, data)


def gauge_engine(document=None):
    registry = registry_of(station("g", ["water_level_m"]))
    document = document or {
        "common": {"gap": {"fail_span_s": 300}},
        "defaults": {"water_level_m": DOCUMENT["defaults"]["water_level_m"]},
    }
    return QcEngine(parse_qc_config(document, registry))


def test_missing_values_are_flagged_9_and_their_neighbours_as_ioos_qc_does():
    engine = gauge_engine()
    values = np.array([1.0, 1.1, np.nan, 1.2, 1.25, np.nan, np.nan, 1.3, 1.31, 1.32])
    times = START_US + np.arange(len(values)) * MINUTE_US
    last = feed(
        engine,
        [
            Readings.from_rows(
                ("g", "water_level_m", int(t), None if np.isnan(v) else v)
                for t, v in zip(times, values, strict=True)
            )
        ],
    )
    flags, tests = columns_of(last, "g", "water_level_m", times)
    assert flags.tolist() == [1, 1, 9, 1, 1, 9, 9, 1, 1, 1]
    assert last[("g", "water_level_m", int(times[2]))].value is None
    # Around a missing value the spike test cannot be evaluated (2), and the gap test still ran.
    assert tests[[1, 3, 4, 7], TEST_INDEX["spike"]].tolist() == [2, 2, 2, 2]
    assert tests[2, TEST_INDEX["gap"]] == 1
    expected_flags, expected_tests = reference(engine.config.get("g", "water_level_m"), times, values)
    np.testing.assert_array_equal(tests, expected_tests)
    np.testing.assert_array_equal(flags, expected_flags)


def test_duplicates_count_once_and_the_first_value_wins():
    engine = gauge_engine()
    times = START_US + np.arange(5) * MINUTE_US
    first = rows("g", "water_level_m", times, np.array([1.0, 1.1, 1.2, 1.3, 1.4]))
    assert len(engine.process(first)) == 5
    assert engine.process(first) == []  # a redelivered Kafka record changes nothing
    twice = Readings(
        ["g", "g"], ["water_level_m"] * 2, np.array([times[-1] + MINUTE_US] * 2), np.array([1.5, 9.9])
    )
    results = engine.process(twice)
    newest = [r for r in results if r.time_us == times[-1] + MINUTE_US]
    assert len(newest) == 1 and newest[0].value == 1.5
    assert len(engine.series_flags("g", "water_level_m")[0]) == 6


def test_a_spike_is_provisional_until_the_next_reading_confirms_it():
    engine = gauge_engine()
    times = START_US + np.arange(4) * MINUTE_US
    engine.process(rows("g", "water_level_m", times[:2], np.array([1.0, 1.01])))
    first = engine.process(rows("g", "water_level_m", times[2:3], np.array([2.0])))
    newest = next(r for r in first if r.time_us == times[2])
    assert newest.test_flags()["spike"] == 2 and not newest.revised
    later = engine.process(rows("g", "water_level_m", times[3:4], np.array([1.02])))
    corrected = next(r for r in later if r.time_us == times[2])
    # |2.0 - (1.01 + 1.02) / 2| = 0.985 m: above the 0.5 m fail threshold.
    assert corrected.revised and corrected.test_flags()["spike"] == 4 and corrected.flag == 4


def test_climatology_by_month_of_the_reading():
    registry = registry_of(station("c", ["water_temperature_degC"], interval_s=3600))
    monthly = [[-1.5, 6.0], None, None, None, None, None, [18.0, 27.0], None, None, None, None, None]
    document = {
        "defaults": {"water_temperature_degC": {"gross_range": None, "climatology": {"monthly": monthly}}}
    }
    engine = QcEngine(parse_qc_config(document, registry))
    january, march, july = 1_704_067_200_000_000, 1_709_251_200_000_000, 1_719_792_000_000_000
    times = np.array([january, january + 3_600_000_000, march, july, july + 3_600_000_000], dtype=np.int64)
    values = np.array([5.0, 7.0, 5.0, 5.0, 20.0])
    flags, tests = columns_of(
        feed(engine, [rows("c", "water_temperature_degC", times, values)]),
        "c",
        "water_temperature_degC",
        times,
    )
    # January [-1.5, 6]: 5 good, 7 suspect; March has no span: 2; July [18, 27]: 5 suspect, 20 good.
    assert tests[:, TEST_INDEX["climatology"]].tolist() == [1, 3, 2, 3, 1]
    assert flags.tolist() == [1, 3, 2, 3, 1]


BUOY_LAT, BUOY_LON = 40.3, 121.3
KM_PER_DEG = 6371.0088 * np.pi / 180


def buoy_engine():
    registry = registry_of(
        station(
            "buoy",
            ["latitude_deg", "longitude_deg"],
            interval_s=600,
            kind="buoy",
            latitude=BUOY_LAT,
            longitude=BUOY_LON,
            thresholds={"watch_circle_km": 1.0},
        )
    )
    document = {"location": {"bbox": [117.5, 36.5, 125.5, 41.5], "fail_distance_km": 5.0}}
    return QcEngine(parse_qc_config(document, registry))


def position(times, lat, lon) -> Readings:
    n = len(times)
    return Readings(
        ["buoy"] * 2 * n,
        ["latitude_deg"] * n + ["longitude_deg"] * n,
        np.concatenate([times, times]),
        np.concatenate([lat, lon]),
    )


def test_location_of_a_drifting_buoy():
    engine = buoy_engine()
    north_km = np.array([0.0, 0.5, 2.0, 8.0, 0.0, np.nan, np.nan])
    lat = BUOY_LAT + north_km / KM_PER_DEG
    lon = np.array([BUOY_LON] * 4 + [126.0, BUOY_LON, np.nan])
    lat[5] = BUOY_LAT
    lon[5] = np.nan  # only one coordinate: ioos_qc's location test says FAIL
    times = START_US + np.arange(7) * 600_000_000
    last = feed(engine, [position(times, lat, lon)])
    lat_flags, lat_tests = columns_of(last, "buoy", "latitude_deg", times)
    lon_flags, lon_tests = columns_of(last, "buoy", "longitude_deg", times)
    # on station, inside the 1 km watch circle, 2 km away (suspect), 8 km away (> 5 km: fail),
    # 126°E (outside the box and ~400 km away), one coordinate missing, both missing.
    expected = [1, 1, 3, 4, 4, 4, 9]
    assert lat_tests[:, TEST_INDEX["location"]].tolist() == expected
    assert lon_tests[:, TEST_INDEX["location"]].tolist() == expected
    assert lon_flags.tolist() == [1, 1, 3, 4, 4, 9, 9]  # the missing longitude itself is 9
    assert lat_flags.tolist() == [1, 1, 3, 4, 4, 4, 9]


def test_location_waits_for_the_other_coordinate():
    engine = buoy_engine()
    times = START_US + np.arange(2) * 600_000_000
    lat = np.array([BUOY_LAT, BUOY_LAT + 2.0 / KM_PER_DEG])
    first = engine.process(rows("buoy", "latitude_deg", times, lat))
    assert [r.test_flags()["location"] for r in first] == [2, 2]
    later = engine.process(rows("buoy", "longitude_deg", times, np.array([BUOY_LON, BUOY_LON])))
    by_variable = {(r.variable, r.time_us): r for r in later}
    assert by_variable[("latitude_deg", times[1])].test_flags()["location"] == 3
    assert by_variable[("latitude_deg", times[1])].revised
    assert by_variable[("longitude_deg", times[1])].flag == 3


def test_readings_older_than_the_retained_context_get_the_pointwise_tests_only():
    engine = gauge_engine(
        {"late_horizon_s": 600, "defaults": {"water_level_m": DOCUMENT["defaults"]["water_level_m"]}}
    )
    n = 400
    times = START_US + np.arange(n) * MINUTE_US
    values = 1.5 + 0.01 * np.sin(np.arange(n) / 5)
    feed(
        engine, (rows("g", "water_level_m", times[i : i + 20], values[i : i + 20]) for i in range(20, n, 20))
    )
    kept = engine.series_flags("g", "water_level_m")[0]
    assert kept[0] > times[20]  # old readings were dropped
    # 600 s horizon + the 10-sample flat-line context + at most one eviction step (64 readings).
    assert len(kept) <= 10 + 10 + 2 + 64
    stale = engine.process(rows("g", "water_level_m", times[:2], np.array([1.5, 3.5])))
    assert [r.time_us for r in stale] == times[:2].tolist()
    assert [r.test_flags() for r in stale] == [
        {"gross_range": 1, "spike": 2, "rate_of_change": 2, "flat_line": 2},
        {"gross_range": 3, "spike": 2, "rate_of_change": 2, "flat_line": 2},
    ]
    assert [r.flag for r in stale] == [1, 3]
    assert np.array_equal(engine.series_flags("g", "water_level_m")[0], kept)


def test_changelog_entries_are_json_and_restore_exactly(network, data):
    readings = interleaved(data)
    batches = np.array_split(np.arange(len(readings)), 40)
    worker = Worker(network)
    for batch in batches[:25]:
        worker.process(pick(readings, batch))
    # The table built from incremental exports (changed chunks, deleted chunks) equals a full export.
    everything = worker.engine.export_state([f"{s}/{v}" for s, v in data])
    assert worker.table == everything
    json.dumps(worker.table, allow_nan=False)
    assert worker.engine.export_state() == {}  # nothing changed since the last export
    before = {k: worker.engine.series_flags(*k) for k in data}
    fresh = Worker(network)
    fresh.table = dict(worker.table)
    fresh.restart()
    for key, (times, codes) in before.items():
        np.testing.assert_array_equal(fresh.engine.series_flags(*key)[0], times)
        np.testing.assert_array_equal(fresh.engine.series_flags(*key)[1], codes)
    for batch in batches[25:]:
        assert worker.process(pick(readings, batch)) == fresh.process(pick(readings, batch))


def test_a_station_handed_to_another_worker_is_forgotten_and_restored(network, data):
    readings = interleaved(data)
    worker = Worker(network)
    worker.process(pick(readings, np.arange(300)))
    worker.engine.forget(["g1"])
    assert len(worker.engine.series_flags("g1", "water_level_m")[0]) == 0
    assert len(worker.engine.series_flags("g2", "water_level_m")[0]) > 0
    worker.engine.import_state({k: v for k, v in worker.table.items() if k.startswith("g1/")})
    assert len(worker.engine.series_flags("g1", "water_level_m")[0]) > 0


def test_a_new_reading_rewrites_only_the_newest_chunk():
    worker = Worker(gauge_engine().config)
    times = START_US + np.arange(1000) * MINUTE_US
    values = 1.5 + 0.3 * np.sin(np.arange(1000) / 50)
    for i in range(0, 999, 111):
        worker.process(rows("g", "water_level_m", times[i : i + 111], values[i : i + 111]))
    before = len(worker.table)
    worker.engine.process(rows("g", "water_level_m", times[999:], values[999:]))
    written = worker.engine.export_state()
    # The header and the newest chunk (16 one-minute samples); older chunks are untouched.
    assert set(written) == {"g/water_level_m", f"g/water_level_m/{times[999] // (16 * MINUTE_US)}"}
    assert before > 5


def test_unknown_series_are_not_evaluated():
    results = gauge_engine().process(
        Readings.from_rows(
            [
                ("elsewhere", "water_level_m", START_US, 1.0),
                ("elsewhere", "water_level_m", START_US + 1, None),
            ]
        )
    )
    assert [(r.flag, r.tests) for r in results] == [(2, 0), (9, 0)]


def test_ioos_qc_climatology_quirk():
    """ioos_qc gives a missing value 1 in its climatology test; the engine gives 9 (see qc_helpers)."""
    members = qartod.ClimatologyConfig()
    members.add(tspan=(1, 1), vspan=(0, 10), period="month")
    times = np.array(["2024-01-01", "2024-01-02"], dtype="datetime64[ns]")
    assert qartod.climatology_test(members, np.array([1.0, np.nan]), times, np.full(2, np.nan)).tolist() == [
        1,
        1,
    ]
    engine = QcEngine(
        parse_qc_config(
            {"defaults": {"water_temperature_degC": {"climatology": {"monthly": [[0, 10]] + [None] * 11}}}},
            registry_of(station("c", ["water_temperature_degC"])),
        )
    )
    results = engine.process(
        rows(
            "c",
            "water_temperature_degC",
            times.astype("datetime64[us]").astype(np.int64),
            np.array([1.0, np.nan]),
        )
    )
    assert [r.test_flags()["climatology"] for r in results] == [1, 9]


def test_aggregate_takes_the_worst_flag_like_qartod_compare():
    rng = np.random.default_rng(2)
    columns = rng.choice(np.array([0, 1, 2, 3, 4, 9], dtype=np.uint8), size=(500, 8))
    columns[:, 0] = rng.choice(np.array([1, 2, 3, 4, 9], dtype=np.uint8), size=500)
    expected = np.asarray(qartod.qartod_compare(list(columns.T)))
    np.testing.assert_array_equal(aggregate(columns, np.zeros(500, dtype=bool)), expected)


def test_flag_counts_and_kafka_batches():
    batch = ReadingBatch(
        [
            StationReadings(
                "g",
                0,
                [
                    Sample(START_US, {"water_level_m": 1.0}),
                    Sample(START_US + MINUTE_US, {"water_level_m": None}),
                ],
            ),
            StationReadings("g", 0, [Sample(START_US + 2 * MINUTE_US, {"water_level_m": 9.0})]),
        ]
    )
    readings = readings_from_batch(batch)
    assert readings.time_us.tolist() == [START_US, START_US + MINUTE_US, START_US + 2 * MINUTE_US]
    results = gauge_engine().process(readings)
    assert flag_counts(results) == {
        ("g", "water_level_m", 1): 1,
        ("g", "water_level_m", 9): 1,
        ("g", "water_level_m", 4): 1,
    }


def test_an_export_in_slices_writes_what_one_export_writes(network, data):
    """The worker spreads a checkpoint over several batches (``at_most`` series each): the table it
    ends with equals the one written at once, and series changed meanwhile still go out."""
    readings = interleaved(data)
    batches = np.array_split(np.arange(len(readings)), 20)
    at_once, sliced = Worker(network), Worker(network)
    for batch in batches[:10]:
        at_once.process(pick(readings, batch))
        sliced.engine.process(pick(readings, batch))
    assert sliced.engine.unexported() == len(data)
    while sliced.engine.unexported():
        for key, value in sliced.engine.export_state(at_most=2).items():
            if value is None:
                sliced.table.pop(key, None)
            else:
                sliced.table[key] = value
    assert sliced.table == at_once.table
    assert sliced.engine.export_state(at_most=2) == {}
