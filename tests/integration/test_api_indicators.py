"""`/api/v1/indicators`, its export and catalogue against the real PostgreSQL: raw values, fixed and
monthly buckets against numpy, refusals (the seeded database: tests/support/api_seeded.py).
"""

from __future__ import annotations

import csv
import io
import json

import httpx
import numpy as np
import pytest

from tests.support import api_seeded
from tests.support.api_seeded import INDICATOR_MONTH_ROWS, INDICATOR_ROWS, get_json, parse_iso_us
from tests.support.api_series import DAY0_US, iso, numpy_aggregates, numpy_month_starts, utc_us

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


async def test_indicators_in_monthly_buckets(client: httpx.AsyncClient) -> None:
    span = f"start={iso(utc_us(2023, 11, 1))}&end={iso(utc_us(2024, 3, 1))}"
    url = f"/api/v1/indicators?station=bayuquan&indicator=msl_daily_m&{span}&bucket=1mo&agg=mean,count,median"
    data = (await get_json(client, url))["data"]
    times = np.array([r[0] for r in INDICATOR_MONTH_ROWS])
    values = np.array([r[3] for r in INDICATOR_MONTH_ROWS])
    expected = numpy_aggregates(
        numpy_month_starts(times, 1), values, np.ones(len(values), int), {1}, [0.5], None
    )
    assert [(r["time"], r["count"], r["unit"]) for r in data] == [
        (e["time"], e["count"], "m") for e in expected
    ]
    assert [r["count"] for r in data] == [30, 31, 31, 29]  # November … February of a leap year
    assert [r["mean"] for r in data] == pytest.approx([e["mean"] for e in expected], rel=1e-12)
    assert [r["median"] for r in data] == pytest.approx([e["median"] for e in expected], rel=1e-12)
    export = url.replace("/indicators?", "/indicators/export?").replace("bucket=1mo", "bucket=1y")
    lines = (await client.get(export + "&format=ndjson")).text.splitlines()
    years = numpy_aggregates(
        numpy_month_starts(times, 12), values, np.ones(len(values), int), {1}, [0.5], None
    )
    assert [(r["time"], r["count"]) for r in map(json.loads, lines)] == [
        (e["time"], e["count"]) for e in years
    ]
    assert [e["time"] for e in years] == ["2023-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]


async def test_indicators_raw_buckets_and_catalogue(client: httpx.AsyncClient) -> None:
    span = f"start={iso(DAY0_US)}&end={iso(DAY0_US + 2 * 86_400_000_000)}"
    raw = (await get_json(client, f"/api/v1/indicators?station=dalian&indicator=msl_daily_m&{span}"))["data"]
    assert [(parse_iso_us(r["time"]), r["value"], r["unit"]) for r in raw] == [
        (t, v, u) for t, _, _, v, u in INDICATOR_ROWS
    ]
    daily = (await get_json(client, f"/api/v1/indicators?{span}&bucket=1d&agg=mean,count"))["data"]
    values = np.array([r[3] for r in INDICATOR_ROWS])
    assert [(r["count"], r["unit"]) for r in daily] == [(4, "m"), (4, "m")]
    assert [r["mean"] for r in daily] == pytest.approx([values[:4].mean(), values[4:].mean()])
    # The catalogue is the one the migration mirrored from the indicator packages.
    catalogue = {c["id"]: c for c in (await get_json(client, "/api/v1/indicators/catalogue"))["indicators"]}
    assert catalogue["msl_daily_m"]["unit"] == "m" and catalogue["do_saturation_pct"]["unit"] == "%"
    refused = await get_json(client, "/api/v1/indicators?indicator=sea_monster_index", 400)
    assert "sea_monster_index" in refused["error"]["message"]
    assert (await get_json(client, "/api/v1/indicators?qc=good", 400))["error"]["message"].startswith("qc:")
    csv_text = (await client.get(f"/api/v1/indicators/export?{span}")).text
    assert len(list(csv.DictReader(io.StringIO(csv_text)))) == len(INDICATOR_ROWS)
