"""``tidewatch tide load-constants`` against the running pipeline (real PostgreSQL, Mosquitto, Tansu):
a gauge with no history of its own gets its published constants as its tide model; the worker then
publishes the trusted surge (observed minus the constants' tide) of every reading from the model's
effective time, where without a model it publishes none."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import numpy as np
import pytest

from schemas.registry import TideInference
from services.db.indicators import latest_tide_model
from services.tide_constants import add_parser
from streams.indicators.sealevel.constants import load_constants_csv
from streams.indicators.sealevel.inference import station_inference
from streams.indicators.sealevel.tide import TideModel
from tests.support.pipeline import message, wait_for_count

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

STATION = "dalian"
LATITUDE = 38.868
MINUTE_US = 60_000_000
DAY_US = 86_400 * 1_000_000
T0 = 1_780_000_000 * 1_000_000 // DAY_US * DAY_US  # a UTC midnight in 2026, in the past
SURGE_M = 0.25
CONSTANTS = (
    "constituent,amplitude_m,phase_deg\nZ0,1.80,0\nM2,1.05,35.0\nS2,0.32,78.0\nK1,0.28,201.0\nO1,0.22,168.0\n"
)


def _args(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_parser(parser.add_subparsers())
    return parser.parse_args(["tide", "load-constants", *argv])


async def test_published_constants_drive_the_trusted_surge(pipeline, publisher, db, tmp_path: Path) -> None:
    path = tmp_path / "dalian_constants.csv"
    path.write_text(CONSTANTS)
    args = _args("--station", STATION, "--file", str(path), "--effective-from", "2026-05-28T00:00:00Z")
    assert args.effective_from <= T0
    assert await asyncio.to_thread(args.func, args, pipeline.settings) == 0
    stored = await db.fetchrow(
        "SELECT model->>'source' AS source, constituents FROM tide_models WHERE station_id = $1", STATION
    )
    assert stored["source"] == "official" and set(stored["constituents"]) == {"M2", "S2", "K1", "O1"}
    # What a gauge inferring from this one reads back: the model itself, which gives no P1/K2 ratios.
    latest = TideModel.from_dict(await latest_tide_model(db, STATION) or {})
    assert (
        latest.amplitude_phase()
        == load_constants_csv(STATION, LATITUDE, path, args.effective_from).amplitude_phase()
    )
    assert station_inference(TideInference(reference_station=STATION), latest) is None
    assert await latest_tide_model(db, "no-such-gauge") is None

    n = 180  # three hours of 1-minute levels: the constants' tide plus a steady 0.25 m surge
    times = T0 + np.arange(n, dtype=np.int64) * MINUTE_US
    tide = load_constants_csv(STATION, LATITUDE, path, args.effective_from).predict(times)
    publisher.publish_many(
        (STATION, message(STATION, int(t), {"water_level_m": float(h + SURGE_M)}))
        for t, h in zip(times, tide, strict=True)
    )
    count = await wait_for_count(
        db, "SELECT count(*) FROM indicators WHERE station_id = $1 AND indicator = 'surge_m'", STATION,
        expected=n - 1, timeout_s=120,
    )  # fmt: skip
    assert count >= n - 1  # the newest reading may still wait for its spike-test neighbour
    surges = await db.fetch(
        "SELECT value FROM indicators WHERE station_id = $1 AND indicator = 'surge_m'", STATION
    )
    np.testing.assert_allclose([r["value"] for r in surges], SURGE_M, atol=2e-6)  # µm-stored levels
    provisional = await db.fetchval(
        "SELECT count(*) FROM indicators WHERE station_id = $1 AND indicator = 'surge_provisional_m'", STATION
    )
    assert provisional == 0  # published constants pass the quality bar


async def test_bad_files_and_an_earlier_effective_time_are_refused(pipeline, tmp_path: Path, capsys) -> None:
    path = tmp_path / "c.csv"
    path.write_text(CONSTANTS)
    june = _args("--station", "lushun", "--file", str(path), "--effective-from", "2026-06-01T00:00:00Z")
    assert await asyncio.to_thread(june.func, june, pipeline.settings) == 0
    earlier = _args("--station", "lushun", "--file", str(path), "--effective-from", "2026-01-01T00:00:00Z")
    assert await asyncio.to_thread(earlier.func, earlier, pipeline.settings) == 2  # the June model is later
    assert "give a later --effective-from" in capsys.readouterr().err
    bad = tmp_path / "bad.csv"
    bad.write_text("constituent,amplitude_m,phase_deg\nZ0,1.8,0\nM2,-1,0\n")
    cases = (
        ("--station", STATION, "--file", str(bad)),  # a negative amplitude
        ("--station", "liaodong-bay-buoy", "--file", str(path)),  # not a tide gauge
        ("--station", STATION, "--file", str(tmp_path / "missing.csv")),
    )
    for argv in cases:
        args = _args(*argv, "--effective-from", "2027-01-01T00:00:00Z")
        assert await asyncio.to_thread(args.func, args, pipeline.settings) == 2, argv
    with pytest.raises(SystemExit):
        _args("--station", STATION, "--file", str(path), "--effective-from", "2026-01-01T00:00:00")
