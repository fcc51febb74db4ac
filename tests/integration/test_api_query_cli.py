"""`tidewatch query` against the API served by uvicorn on a free port (the seeded database:
tests/support/api_seeded.py).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import csv
import io
import json
import re
import socket
import subprocess
import sys
from collections.abc import AsyncIterator

import httpx
import pytest

from services.api import query_cli
from services.api.app import serve
from services.config import Settings, load_settings
from tests.support import api_seeded
from tests.support.api_series import (
    DAY0_US,
    MONTHS_END_US,
    MONTHS_START_US,
    N_LEVEL,
    iso,
    numpy_month_buckets,
)

pytestmark = pytest.mark.integration

# The fixture `settings`: this module's own seeded database.
settings_fixture = api_seeded.settings_fixture


@pytest.fixture(scope="module")
async def base_url(settings: Settings) -> AsyncIterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = asyncio.Event()
    task = asyncio.create_task(serve(settings, port, stop))
    url = f"http://127.0.0.1:{port}"
    async with httpx.AsyncClient() as http:
        for _ in range(100):
            try:
                if (await http.get(url + "/health")).status_code == 200:
                    break
            except httpx.TransportError:
                await asyncio.sleep(0.05)
    try:
        yield url
    finally:
        stop.set()
        await task


async def cli(base_url: str, *argv: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    query_cli.add_arguments(parser)
    args = parser.parse_args([*argv, "--base-url", base_url])
    out, err = io.StringIO(), io.StringIO()

    def run() -> int:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            return query_cli.main(args, load_settings())

    code = await asyncio.to_thread(run)
    return code, out.getvalue(), err.getvalue()


async def test_query_cli_prints_tables_csv_and_json(base_url: str) -> None:
    code, out, _ = await cli(base_url, "stations", "-s", "dalian")
    lines = out.splitlines()
    assert code == 0 and lines[0].split()[:3] == ["station_id", "name", "kind"]
    assert set(lines[1]) <= {"-", " "} and len(lines) == 2 + 4  # header, rule, dalian's 4 variables
    span = ["--start", iso(DAY0_US), "--end", iso(DAY0_US + 2 * 86_400_000_000)]
    code, out, _ = await cli(
        base_url, "observations", "-s", "dalian", "-V", "water_level_m", *span, "-o", "csv", "--limit", "5"
    )
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5 and rows[0]["unit"] == "m" and rows[0]["time"] == iso(DAY0_US)
    code, out, _ = await cli(base_url, "observations", "-s", "dalian", *span, "-o", "csv", "--all")
    assert len(list(csv.DictReader(io.StringIO(out)))) == N_LEVEL + 24
    code, out, _ = await cli(
        base_url, "observations", "-s", "dalian", "-V", "water_level_m", *span, "--limit", "100", "--all"
    )
    assert len(out.splitlines()) == 2 + N_LEVEL  # table: pages followed through next links
    code, out, _ = await cli(
        base_url, "observations", "-s", "lushun", "-V", "battery_voltage_v", "--last", "1d", "-o", "json"
    )
    assert len(json.loads(out)["data"]) == 6
    code, out, _ = await cli(
        base_url,
        "observations",
        "-s",
        "dalian",
        "-V",
        "water_level_m",
        *span,
        "--bucket",
        "1d",
        "--agg",
        "mean,p90",
    )
    assert [line.split()[:2] for line in out.splitlines()[2:]] == [
        [iso(DAY0_US), "dalian"],
        [iso(DAY0_US + 86_400_000_000), "dalian"],
    ]
    code, out, _ = await cli(base_url, "alerts", "--state", "firing", *span)
    assert code == 0 and "liaodong-bay-buoy" in out and "lushun/" not in out
    code, out, _ = await cli(base_url, "stations", "-o", "geojson")
    assert json.loads(out)["type"] == "FeatureCollection"


async def test_query_cli_calendar_buckets(base_url: str) -> None:
    span = ["--start", iso(MONTHS_START_US), "--end", iso(MONTHS_END_US)]
    argv = ["observations", "-s", "bayuquan", "-V", "water_level_m", *span, "--agg", "mean,count,p90"]
    code, out, _ = await cli(base_url, *argv, "--bucket", "3mo", "-o", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    quarters = numpy_month_buckets(3, {1, 2}, [0.9])
    assert code == 0 and [(r["time"], int(r["count"])) for r in rows] == [
        (q["time"], q["count"]) for q in quarters
    ]
    assert [float(r["p90"]) for r in rows] == pytest.approx([q["p90"] for q in quarters], rel=1e-12)
    # Every month through the streamed export, and through next links page by page: the same months.
    months = [m["time"] for m in numpy_month_buckets(1, {1, 2}, [])]
    code, streamed, _ = await cli(base_url, *argv, "--bucket", "1mo", "--all")
    assert code == 0 and [line.split()[0] for line in streamed.splitlines()[2:]] == months
    code, paged, _ = await cli(base_url, *argv, "--bucket", "1mo", "--limit", "2", "--all", "-o", "json")
    pages = [json.loads(page) for page in re.split(r"(?m)^(?=\{)", paged) if page]  # one document a page
    assert code == 0 and len(pages) == 3 and [r["time"] for p in pages for r in p["data"]] == months
    code, _, err = await cli(base_url, *argv, "--bucket", "1m")
    assert code == 2 and "400: bucket: '1m' is ambiguous" in err


async def test_query_cli_reports_api_refusals(base_url: str) -> None:
    code, out, err = await cli(base_url, "observations", "-s", "atlantis")
    assert code == 2 and out == ""
    assert "400: station: unknown station 'atlantis'" in err
    code, out, _ = await cli(base_url, "observations", "-s", "dalian", "--bucket", "1h", "--url")
    assert code == 0 and out.strip() == f"{base_url}/api/v1/observations?station=dalian&bucket=1h&format=csv"
    code, _, err = await cli("http://127.0.0.1:9", "stations")
    assert code == 2 and "cannot reach the API" in err
    code, out, _ = await cli(base_url, "observations", "-s", "lushun", "--datum", "chart", "--url")
    assert code == 0 and out.strip().endswith("?station=lushun&datum=chart&format=csv")
    code, _, err = await cli(base_url, "indicators", "--datum", "chart")
    assert code == 2 and "--datum is for observations" in err


async def test_query_cli_into_head_ends_quietly(base_url: str) -> None:
    """``tidewatch query … | head`` closes the pipe early: no BrokenPipeError, exit status 0."""
    command = (
        f"{sys.executable} -m services.cli query --base-url {base_url} observations -s dalian "
        f"-V water_level_m --start {iso(DAY0_US)} --end {iso(DAY0_US + 2 * 86_400_000_000)} "
        "--limit 5 --all -o json | head -2"
    )
    done = await asyncio.to_thread(
        subprocess.run, ["bash", "-o", "pipefail", "-c", command], capture_output=True, text=True, timeout=60
    )
    assert len(done.stdout.splitlines()) == 2
    assert "BrokenPipe" not in done.stderr and "Traceback" not in done.stderr, done.stderr
    assert done.returncode == 0, done.stderr
