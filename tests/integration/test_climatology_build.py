"""``tidewatch climatology build`` on the real PostgreSQL: the heatwaveR sst_WA series (1982-2014) as
a station's readings, turned into stored daily means by the indicator computation the worker runs,
written through the service's writer; the command's file, read by the worker's loader, must equal the
marineHeatWaves reference climatology for a 1990-1999 baseline (whose edge windows reach into 1989 and
2000), and carry the baseline and its coverage.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import numpy as np
import pandas as pd
import pytest

from schemas.indicators import Indicator
from schemas.records import Sample
from schemas.registry import default_registry_path, load_registry
from services.cli import build_parser
from services.climatology import run_build
from services.config import Settings
from services.db.indicators import write_indicators
from services.db.writers import prepare_connection
from services.years import parse_year_span
from streams.indicators.ecology import (
    compute_batch,
    compute_climatology,
    load_climatology_csv,
    params_for_station,
)
from streams.indicators.ecology.calendar import DAY_US, from_date
from streams.indicators.ecology.catalogue import CATALOGUE as ECO_CATALOGUE
from streams.indicators.ecology.climatology import climatology_notes
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

STATION = "dalian"
ROOT = Path(__file__).resolve().parents[2]
REFERENCE = ROOT / "tests" / "data" / "reference" / "heatwaveR"
BASELINE_REFERENCE = ROOT / "tests" / "unit" / "indicators" / "data" / "clim_py_sst_WA_baseline_1990_1999.csv"
TOLERANCE = 1e-9  # °C
# Days removed from the stored history for the coverage case: most of 1994 and a week at the 2000 edge.
GAP_1994 = (from_date(pd.Timestamp("1994-02-01").date()), from_date(pd.Timestamp("1994-11-30").date()))


def _sst_wa() -> tuple[np.ndarray, np.ndarray]:
    sst = pd.read_csv(REFERENCE / "sst_WA.csv")["x"].to_numpy()
    first = from_date(pd.Timestamp("1982-01-01").date())
    return np.arange(first, first + sst.size), sst


async def _seed(url: str, station: str, days: np.ndarray, sst: np.ndarray) -> None:
    """Hourly readings at each day's value, through the stream's ecology computation into indicators."""
    params = params_for_station(load_registry(default_registry_path()).stations[STATION])
    samples = [
        Sample(int(d) * DAY_US + h * 3_600_000_000, {"water_temperature_degC": float(v)})
        for d, v in zip(days, sst, strict=True)
        for h in (0, 12)
    ]
    items = [
        Indicator(station, k, t, v, ECO_CATALOGUE[k].unit)
        for (k, t), v in compute_batch(station, samples, params).items()
        if k == "sst_daily_mean_degC"
    ]
    conn = await asyncpg.connect(url)
    try:
        await prepare_connection(conn)
        await write_indicators(conn, items)
    finally:
        await conn.close()


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_climatology") as settings:
        days, sst = _sst_wa()
        await _seed(settings.database_url, STATION, days, sst)
        keep = ~((days >= GAP_1994[0]) & (days <= GAP_1994[1]))
        await _seed(settings.database_url, "lushun", days[keep], sst[keep])
        yield settings


def _args(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["climatology", "build", *argv])


def test_the_command_file_equals_the_reference_baseline_climatology(
    settings: Settings, tmp_path: Path
) -> None:
    code = run_build(
        _args("--station", STATION, "--baseline", "1990-1999"), settings.with_(climatology_dir=str(tmp_path))
    )
    assert code == 0
    path = tmp_path / f"{STATION}.csv"
    clim = load_climatology_csv(path)  # the worker's loader
    days, _ = _sst_wa()
    reference = pd.read_csv(BASELINE_REFERENCE)
    seas, thresh = clim.at(days)
    np.testing.assert_allclose(seas, reference["seas"], rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(thresh, reference["thresh"], rtol=0, atol=TOLERANCE)
    notes = climatology_notes(path)
    assert notes["baseline"] == "1990-1999"
    assert notes["station"] == STATION
    assert notes["coverage_pct"] == "100.00"
    assert notes["coverage"].startswith("3652 of 3652 days (100.0 %), 10 of 10 years with data")


def test_coverage_of_a_gappy_baseline_is_recorded_and_the_curves_use_what_is_stored(
    settings: Settings, tmp_path: Path
) -> None:
    out = tmp_path / "lushun.csv"
    assert (
        run_build(_args("--station", "lushun", "--baseline", "1990-1999", "--out", str(out)), settings) == 0
    )
    days, sst = _sst_wa()
    keep = ~((days >= GAP_1994[0]) & (days <= GAP_1994[1]))
    missing = GAP_1994[1] - GAP_1994[0] + 1
    notes = climatology_notes(out)
    assert notes["coverage"].startswith(
        f"{3652 - missing} of 3652 days ({100 * (3652 - missing) / 3652:.1f} %)"
    )
    expected = compute_climatology(days[keep], sst[keep], baseline_years=(1990, 1999))
    loaded = load_climatology_csv(out)
    np.testing.assert_array_equal(loaded.seas_degC, expected.seas_degC)
    np.testing.assert_array_equal(loaded.thresh_degC, expected.thresh_degC)


def test_a_baseline_the_record_does_not_cover_is_refused_and_nothing_written(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # 1975-2004: the record starts in 1982, so 23 of 30 years (76 %) < 80 %.
    target = settings.with_(climatology_dir=str(tmp_path))
    assert run_build(_args("--station", STATION, "--baseline", "1975-2004"), target) == 2
    assert "76." in capsys.readouterr().err
    assert not list(tmp_path.iterdir())
    assert (
        run_build(_args("--station", STATION, "--baseline", "1975-2004", "--min-coverage-pct", "70"), target)
        == 0
    )
    assert climatology_notes(tmp_path / f"{STATION}.csv")["baseline"] == "1975-2004"
    assert run_build(_args("--station", "no-such-station", "--baseline", "1990-1999"), target) == 2
    with pytest.raises(argparse.ArgumentTypeError):
        parse_year_span("2020-1991")


def test_all_stations_are_rebuilt_where_their_record_covers_the_baseline(
    settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The periodic rebuild: every station measuring water temperature; those without the baseline's
    data are named and keep whatever file they had."""
    kept = tmp_path / "yingkou.csv"
    kept.write_text("an operator's satellite climatology\n")
    code = run_build(_args("--all", "--baseline", "1990-1999"), settings.with_(climatology_dir=str(tmp_path)))
    assert code == 0
    assert sorted(p.name for p in tmp_path.glob("*.csv")) == ["dalian.csv", "lushun.csv", "yingkou.csv"]
    assert kept.read_text() == "an operator's satellite climatology\n"
    assert "station yingkou: baseline 1990-1999 has daily SST on 0 of 3652 days" in capsys.readouterr().err
    assert run_build(_args("--all", "--baseline", "1990-1999"), settings.with_(climatology_dir=None)) == 2
