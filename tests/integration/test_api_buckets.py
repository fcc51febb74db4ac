"""Buckets of `/api/v1/observations` and its export against numpy: fixed widths and percentiles, UTC
calendar months, quarters and years, their QC filters, pages and exports (the seeded database:
tests/support/api_seeded.py).
"""

from __future__ import annotations

import csv
import io
import json

import httpx
import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.support import api_seeded
from tests.support.api_seeded import get_json, level_url
from tests.support.api_series import (
    DAY0_US,
    HOUR_US,
    MINUTE_US,
    MONTH_F,
    MONTH_T,
    MONTHS_END_US,
    MONTHS_START_US,
    iso,
    numpy_buckets,
    numpy_month_buckets,
    utc_us,
)

pytestmark = pytest.mark.integration

# The fixtures `settings` and `client`: this module's own seeded database and the app on it.
settings_fixture, client_fixture = api_seeded.settings_fixture, api_seeded.client_fixture


@pytest.mark.parametrize(
    ("bucket", "width_us"), [("1h", HOUR_US), ("PT6H", 6 * HOUR_US), ("1d", 24 * HOUR_US)]
)
async def test_buckets_match_numpy(client: httpx.AsyncClient, bucket: str, width_us: int) -> None:
    body = await get_json(client, level_url(f"&bucket={bucket}&agg=mean,std,min,max,count,p10,median,p90"))
    expected = numpy_buckets(width_us, {1, 2}, [0.1, 0.9])  # default qc for buckets: usable
    assert body["meta"]["method"].startswith("date_bin")
    assert [r["time"] for r in body["data"]] == [e["time"] for e in expected]
    for got, want in zip(body["data"], expected, strict=True):
        assert got["count"] == want["count"]
        assert (got["unit"], got["qc_flags"]) == ("m", "good+not_evaluated")
        assert "p50" not in got  # median is named as asked
        for key in ("mean", "std", "min", "max", "p10", "median", "p90"):
            assert got[key] == pytest.approx(want[key], rel=1e-12), (got["time"], key)


async def test_bucket_qc_filter_and_widened_range(client: httpx.AsyncClient) -> None:
    # A range starting mid-bucket grows to whole 6-hour buckets: the first bucket is complete.
    start = DAY0_US + 7 * HOUR_US + 20 * MINUTE_US
    url = (
        f"/api/v1/observations?station=dalian&variable=water_level_m&start={iso(start)}"
        f"&end={iso(DAY0_US + 13 * HOUR_US)}&bucket=6h&agg=count,max&qc=good"
    )
    body = await get_json(client, url)
    expected = [
        e
        for e in numpy_buckets(6 * HOUR_US, {1}, [])
        if e["time"] in (iso(DAY0_US + 6 * HOUR_US), iso(DAY0_US + 12 * HOUR_US))
    ]
    assert body["meta"]["start"] == iso(DAY0_US + 6 * HOUR_US) and body["meta"]["end"] == iso(
        DAY0_US + 18 * HOUR_US
    )
    assert [(r["time"], r["count"]) for r in body["data"]] == [(e["time"], e["count"]) for e in expected]
    assert [r["max"] for r in body["data"]] == pytest.approx([e["max"] for e in expected])
    assert set(body["data"][0]) == {"time", "station_id", "variable", "unit", "count", "max", "qc_flags"}


async def test_bucket_pages_and_export_agree(client: httpx.AsyncClient) -> None:
    url = level_url("&bucket=1h&agg=mean,p95&limit=7")
    collected = []
    while url:
        body = await get_json(client, url)
        collected += body["data"]
        url = body["next"]
    assert len(collected) == 48
    export = await client.get(
        level_url("&bucket=1h&agg=mean,p95").replace("/observations?", "/observations/export?")
        + "&format=ndjson"
    )
    assert [json.loads(line) for line in export.text.splitlines()] == collected


# ---------------------------------------------------------------------------------------------------
# Calendar buckets: UTC months, quarters and years against numpy's datetime64 months


def month_url(bucket: str, extra: str = "", path: str = "/api/v1/observations") -> str:
    span = f"start={iso(MONTHS_START_US)}&end={iso(MONTHS_END_US)}"
    return f"{path}?station=bayuquan&variable=water_level_m&{span}&bucket={bucket}{extra}"


@pytest.mark.parametrize(
    ("bucket", "months", "widened"),
    [
        ("1mo", 1, ((2023, 10, 1), (2024, 3, 1))),
        ("P1M", 1, ((2023, 10, 1), (2024, 3, 1))),
        ("3mo", 3, ((2023, 10, 1), (2024, 4, 1))),  # quarters start in January, April, July, October
        ("2months", 2, ((2023, 9, 1), (2024, 3, 1))),  # counted from January 2000: Sep–Oct, Nov–Dec …
        ("1y", 12, ((2023, 1, 1), (2025, 1, 1))),  # longer than the range: widened to whole years
    ],
)
async def test_calendar_buckets_match_numpy(
    client: httpx.AsyncClient, bucket: str, months: int, widened: tuple
) -> None:
    response = await client.get(month_url(bucket, "&agg=mean,std,min,max,count,p10,median,p90&qc=all"))
    assert response.status_code == 200, response.text
    body = response.json()
    expected = numpy_month_buckets(months, {1, 2, 3, 4, 9}, [0.1, 0.5, 0.9])
    assert response.headers["x-tidewatch-method"] == "calendar_months"
    assert (body["meta"]["start"], body["meta"]["end"]) == (
        iso(utc_us(*widened[0])),
        iso(utc_us(*widened[1])),
    )
    assert (
        body["meta"]["bucket"]["months"] == months
        and body["meta"]["bucket"]["origin"] == "2000-01-01T00:00:00Z"
    )
    assert [r["time"] for r in body["data"]] == [e["time"] for e in expected]
    assert all(r["time"].endswith("-01T00:00:00Z") for r in body["data"])  # UTC month starts
    for got, want in zip(body["data"], expected, strict=True):
        assert got["count"] == want["count"] and got["unit"] == "m"
        assert "p50" not in got  # median is named as asked
        for key in ("mean", "std", "min", "max", "p10", "median", "p90"):
            assert got[key] == pytest.approx(want[key], rel=1e-12), (got["time"], key)


async def test_monthly_counts_follow_the_qc_filter_and_month_edges(client: httpx.AsyncClient) -> None:
    usable = (await get_json(client, month_url("1mo", "&agg=count,max")))["data"]  # the default for buckets
    expected = numpy_month_buckets(1, {1, 2}, [])
    assert [(r["time"], r["count"]) for r in usable] == [(e["time"], e["count"]) for e in expected]
    assert [r["max"] for r in usable] == pytest.approx([e["max"] for e in expected], rel=1e-12)
    # The last microsecond of December and of February (a leap day) count in their own month.
    edges = np.isin(MONTH_T, [utc_us(2024, 1, 1) - 1, utc_us(2024, 3, 1) - 1])
    assert edges.sum() == 2 and (MONTH_F[edges] != 9).all()
    every_flag = (await get_json(client, month_url("1mo", "&agg=count&qc=all")))["data"]
    counts, times = {r["time"]: r["count"] for r in every_flag}, MONTH_T
    for first, after in [
        ((2023, 12, 1), (2024, 1, 1)),
        ((2024, 1, 1), (2024, 2, 1)),
        ((2024, 2, 1), (2024, 3, 1)),
    ]:
        inside = (times >= utc_us(*first)) & (times < utc_us(*after)) & (MONTH_F != 9)
        assert counts[iso(utc_us(*first))] == int(inside.sum()), first


async def test_calendar_bucket_pages_and_exports_agree(client: httpx.AsyncClient) -> None:
    whole = (await get_json(client, month_url("1mo", "&agg=mean,count,p95&limit=1000")))["data"]
    assert len(whole) == 5
    url, collected, pages = month_url("1mo", "&agg=mean,count,p95&limit=2"), [], 0
    while url:
        response = await client.get(url)
        body = response.json()
        collected += body["data"]
        pages += 1
        if body["next"]:
            following = httpx.URL(body["next"])
            assert following.params["start"] == "2023-10-01T00:00:00Z"  # the widened range, frozen
            assert following.params["bucket"] == "1mo"
        url = body["next"]
    assert collected == whole and pages == 3
    export = await client.get(
        month_url("1mo", "&agg=mean,count,p95&format=ndjson", "/api/v1/observations/export")
    )
    assert [json.loads(line) for line in export.text.splitlines()] == whole


async def test_calendar_bucket_csv_and_parquet_exports(client: httpx.AsyncClient) -> None:
    app = client.app  # type: ignore[attr-defined]
    app.state.db.export_chunk_rows = 2  # five monthly buckets in three cursor fetches
    expected = numpy_month_buckets(1, {1, 2}, [0.9])
    export = "/api/v1/observations/export"
    response = await client.get(month_url("1mo", "&agg=mean,count,p90&format=csv", export))
    assert response.status_code == 200 and "attachment" in response.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["time"], int(r["count"]), r["qc_flags"]) for r in rows] == [
        (e["time"], e["count"], "good+not_evaluated") for e in expected
    ]
    assert [float(r["mean"]) for r in rows] == pytest.approx([e["mean"] for e in expected], rel=1e-12)
    assert [float(r["p90"]) for r in rows] == pytest.approx([e["p90"] for e in expected], rel=1e-12)
    response = await client.get(month_url("3mo", "&agg=mean,count&format=parquet", export))
    parquet = pq.ParquetFile(io.BytesIO(response.content))
    assert parquet.num_row_groups == 1  # two quarters, one fetch
    table = parquet.read()
    assert str(table.schema.field("time").type) == "timestamp[us, tz=UTC]"
    quarters = numpy_month_buckets(3, {1, 2}, [])
    times = [t.strftime("%Y-%m-%dT%H:%M:%SZ") for t in table.column("time").to_pylist()]
    assert times == [q["time"] for q in quarters] == ["2023-10-01T00:00:00Z", "2024-01-01T00:00:00Z"]
    assert table.column("count").to_pylist() == [q["count"] for q in quarters]
    assert table.column("mean").to_pylist() == pytest.approx([q["mean"] for q in quarters], rel=1e-12)
    meta = json.loads(table.schema.metadata[b"tidewatch"])
    assert meta["bucket"]["months"] == 3 and meta["method"].startswith("UTC calendar months")
