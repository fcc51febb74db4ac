"""The demo's live line: stations reporting judged so a fast replay does not make them look silent."""

from __future__ import annotations

from services.demo import StationActivity, _last_seen, describe_lag

INTERVALS = {"dalian": 60.0, "liaohe-reedbed": 1800.0, "yingkou": 60.0}
WALL = 1_800_000_000.0  # wall clock, s
REPLAY = WALL - 10 * 86_400  # data ten days behind


def metrics_page(seen: dict[str, float]) -> str:
    lines = ["# HELP tidewatch_station_last_seen_timestamp_seconds Sample time of the newest stored reading"]
    lines += [
        f'tidewatch_station_last_seen_timestamp_seconds{{kind="tide_gauge",station="{s}"}} {t!r}'
        for s, t in seen.items()
    ]
    return "\n".join(lines)


def test_last_seen_is_read_per_station_from_the_metrics_page():
    page = metrics_page({"dalian": 1.5e9, "yingkou": 1.6e9}) + "\ntidewatch_open_alerts 3.0"
    assert _last_seen(page) == {"dalian": 1.5e9, "yingkou": 1.6e9}


def test_replay_stations_hours_apart_in_data_time_all_report():
    """Partitions a few seconds apart at 4 h a second: 10 h apart in data time, all still moving."""
    activity = StationActivity(INTERVALS)
    activity.update({"dalian": REPLAY, "liaohe-reedbed": REPLAY, "yingkou": REPLAY}, WALL)
    moved = {"dalian": REPLAY + 36_000, "liaohe-reedbed": REPLAY + 3_600, "yingkou": REPLAY + 7_200}
    assert activity.update(moved, WALL + 2) == 3
    assert describe_lag(activity.data_lag_s(WALL + 2)) == "data: replay, 9.6 d behind now"


def test_a_station_that_stops_moving_stops_reporting():
    activity = StationActivity(INTERVALS, moved_within_s=20)
    activity.update({"dalian": REPLAY, "yingkou": REPLAY}, WALL)
    assert activity.update({"dalian": REPLAY + 600, "yingkou": REPLAY}, WALL + 10) == 2  # moved 10 s ago
    assert activity.update({"dalian": REPLAY + 1200, "yingkou": REPLAY}, WALL + 30) == 1


def test_live_a_half_hourly_station_reports_between_its_samples():
    activity = StationActivity(INTERVALS, moved_within_s=20, live_intervals=3)
    activity.update({"liaohe-reedbed": WALL - 60, "dalian": WALL - 30}, WALL)
    later = WALL + 1500  # no new sample for 25 min: within 3 × 30 min, silent for a 1-min gauge
    assert activity.update({"liaohe-reedbed": WALL - 60, "dalian": WALL - 30}, later) == 1
    assert activity.reporting("liaohe-reedbed", later) and not activity.reporting("dalian", later)
    assert describe_lag(activity.data_lag_s(WALL)) == "data: live"


def test_no_data_yet():
    activity = StationActivity(INTERVALS)
    assert activity.update({}, WALL) == 0 and describe_lag(activity.data_lag_s(WALL)) == "data: none yet"
    assert activity.update({"dalian": 0.0}, WALL) == 0  # a gauge created at 0 before any reading
