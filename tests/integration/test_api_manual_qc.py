"""Manual QC and data status through `tidewatch api` (the API with the console at /console) on the real
PostgreSQL: the console's write routes refuse anonymous, viewer, cross-site and malformed requests; a
judgement changes the stored flags exactly in its range and shows in the time series and the judgement
lists; a review marks readings verified in JSON, CSV and NetCDF (still CF-compliant) exports; nothing
outside a range changes; the command line's `qc verify` is the same mechanism.
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import datetime as dt
import io
import json
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import netCDF4
import pytest
from compliance_checker.runner import CheckSuite, ComplianceChecker

from services.cli import main
from services.config import Settings
from services.db.alerts import create_operator
from services.db.timestamps import us
from services.db.writers import prepare_connection, upsert_observations
from tests.support.api_server import running_api
from tests.support.database import fresh_database

pytestmark = pytest.mark.integration

HOUR_US = 3_600_000_000
DAY0_US = int(dt.datetime(2025, 3, 1, tzinfo=dt.UTC).timestamp()) * 1_000_000
N_HOURS = 48
STATION = "dalian"
LEVEL, TEMPERATURE = "water_level_m", "water_temperature_degC"
WRITE = {"X-Tidewatch-Console": "1"}
PASSWORD = "a long passphrase"


def _iso(time_us: int) -> str:
    return dt.datetime.fromtimestamp(time_us / 1e6, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _at(hour: int) -> int:
    return DAY0_US + hour * HOUR_US


SPAN = f"start={_iso(_at(0))}&end={_iso(_at(N_HOURS))}"


@pytest.fixture(scope="module")
async def settings() -> AsyncIterator[Settings]:
    async with fresh_database("tidewatch_manual_qc") as settings:
        conn = await asyncpg.connect(settings.database_url)
        try:
            await prepare_connection(conn)
            rows = [
                (_at(k), STATION, variable, value, 1, json.dumps({"gross_range": 1}), _at(k), False)
                for k in range(N_HOURS)
                for variable, value in ((LEVEL, 2.0 + 0.01 * k), (TEMPERATURE, 8.0 + 0.1 * k))
            ]
            await upsert_observations(conn, rows)
            await create_operator(conn, "wang", "Wang Fang", PASSWORD, "operator")
            await create_operator(conn, "li", "Li Wei", PASSWORD, "viewer")
            await create_operator(conn, "zhao", "Zhao Min", PASSWORD, "admin")
        finally:
            await conn.close()
        yield settings


@pytest.fixture(scope="module")
async def api(settings: Settings) -> AsyncIterator[str]:
    async with running_api(settings) as running:
        yield running.url


@contextlib.asynccontextmanager
async def _client(url: str, login: str | None) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client, signed in to the console as ``login`` (its session cookie) unless None."""
    async with httpx.AsyncClient(base_url=url, timeout=60) as client:
        if login is not None:
            signed = await client.post(
                "/console/api/session", json={"username": login, "password": PASSWORD}, headers=WRITE
            )
            assert signed.status_code == 200, signed.text
        yield client


async def _stored(settings: Settings) -> dict[tuple[str, int], int]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        rows = await conn.fetch(
            f"SELECT variable, {us('time')} AS t, qc_flag FROM observations WHERE station_id = $1", STATION
        )
    finally:
        await conn.close()
    return {(r["variable"], r["t"]): r["qc_flag"] for r in rows}


def _judgement(**changes: object) -> dict:
    body = {
        "station": STATION, "variable": LEVEL, "start": _iso(_at(10)), "end": _iso(_at(20)), "flag": "bad",
        "reason": "fouled sensor, seen at the site visit",
    }  # fmt: skip
    return {**body, **changes}


async def test_writes_are_refused_without_an_operator_and_with_bad_requests(api: str) -> None:
    async with _client(api, None) as anonymous:
        refused = await anonymous.post("/console/api/qc/flags", json=_judgement(), headers=WRITE)
        assert refused.status_code == 401 and refused.json() == {"error": "sign in first"}
        refused = await anonymous.post("/console/api/qc/reviews", json=_judgement(), headers=WRITE)
        assert refused.status_code == 401
    async with _client(api, "li") as viewer:
        refused = await viewer.post("/console/api/qc/flags", json=_judgement(), headers=WRITE)
        assert refused.status_code == 403
        assert refused.json()["error"] == "li is a viewer; this needs the operator role"
        refused = await viewer.post("/console/api/qc/reviews", json=_judgement(), headers=WRITE)
        assert refused.status_code == 403
    async with _client(api, "wang") as operator:
        cross_site = await operator.post("/console/api/qc/flags", json=_judgement())  # no console header
        assert cross_site.status_code == 403
        assert cross_site.json()["error"] == "writes are accepted from the console page only"
        cases = {
            "unknown station 'nowhere'": _judgement(station="nowhere"),
            "'wave_height_m' is not measured at dalian": _judgement(variable="wave_height_m"),
            "must be after from": _judgement(end=_iso(_at(10))),
            "flag: one of good, suspect, bad, not 'awful'": _judgement(flag="awful"),
            "a manual flag needs a reason": _judgement(reason="   "),
            "before 1990-01-01": _judgement(start="1900-01-01T00:00:00Z"),
            "more than a year ahead of now": _judgement(end="2999-01-01T00:00:00Z"),
            "start: expected ISO 8601": _judgement(start="yesterday"),
        }
        for message, body in cases.items():
            answer = await operator.post("/console/api/qc/flags", json=body, headers=WRITE)
            assert answer.status_code == 400, (message, answer.text)
            assert message in answer.json()["error"], (message, answer.json())
        blank = {k: v for k, v in _judgement().items() if k != "reason"}
        answer = await operator.post("/console/api/qc/flags", json=blank, headers=WRITE)
        assert answer.status_code == 400 and "needs a reason" in answer.json()["error"]
        answer = await operator.post(
            "/console/api/qc/reviews", json=_judgement(status="approved"), headers=WRITE
        )
        assert answer.status_code == 400
        assert answer.json()["error"] == "status: one of preliminary, verified, not 'approved'"
        answer = await operator.post("/console/api/qc/flags", content=b"{", headers=WRITE)
        assert answer.status_code == 415  # not JSON
    async with _client(api, None) as anonymous:
        listed = await anonymous.get("/api/v1/qc/manual-flags")
        assert listed.json()["data"] == []  # nothing refused was stored


async def test_a_judgement_changes_the_flags_exactly_in_its_range_and_is_listed(
    api: str, settings: Settings
) -> None:
    before = await _stored(settings)
    async with _client(api, "wang") as operator:
        answer = await operator.post("/console/api/qc/flags", json=_judgement(), headers=WRITE)
        assert answer.status_code == 201, answer.text
        assert answer.json()["changed"] == 10
        after = await _stored(settings)
        inside = {(LEVEL, _at(k)) for k in range(10, 20)}
        assert {k: after[k] for k in inside} == dict.fromkeys(inside, 4)
        assert {k: v for k, v in after.items() if k not in inside} == {
            k: v for k, v in before.items() if k not in inside
        }
        page = await operator.get(f"/api/v1/observations?station={STATION}&variable={LEVEL}&{SPAN}")
        flags = {row["time"]: (row["qc_flag"], row["qc_flag_name"]) for row in page.json()["data"]}
        assert flags == {_iso(_at(k)): (4, "fail") if 10 <= k < 20 else (1, "good") for k in range(N_HOURS)}
        listed = (await operator.get(f"/console/api/qc/flags?station={STATION}")).json()["flags"]
        public = (await operator.get(f"/api/v1/qc/manual-flags?station={STATION}")).json()["data"]
        assert listed == public
        assert [
            (m["variable"], m["start"], m["end"], m["flag_name"], m["operator"], m["reason"]) for m in listed
        ] == [(LEVEL, _iso(_at(10)), _iso(_at(20)), "bad", "wang", "fouled sensor, seen at the site visit")]
        run = (await operator.get(f"/api/v1/history/runs/{answer.json()['run_id']}/revisions")).json()
        assert sorted(r["time"] for r in run["data"]) == [_iso(_at(k)) for k in range(10, 20)]
        assert {(r["old_flag"], r["new_flag"]) for r in run["data"]} == {(1, 4)}
        # Then, after the answer, what depends on the judged readings is done again as a reprocess run.
        assert answer.json()["reprocess"] == ["indicators", "alerts"]
        deadline = asyncio.get_running_loop().time() + 60
        done: list = []
        while not done and asyncio.get_running_loop().time() < deadline:
            runs = (await operator.get("/api/v1/history/runs?kind=reprocess")).json()["data"]
            done = [r for r in runs if r["state"] == "done"]
            await asyncio.sleep(0.2)
        assert done, "no reprocess run after the judgement"
        request = done[0]["request"]
        assert (request["stations"], request["what"]) == ([STATION], ["indicators", "alerts"])
        assert (request["from"], request["to"]) == (_iso(_at(10)), _iso(_at(20)))
        counts = done[0]["counts"]
        # Hourly readings are too sparse for this gauge's indicators; the alerts judged both series from
        # the warm-up (3 days, so from the data's start) to the range's end.
        assert counts["indicators_written"] == 0 and counts["alert_inputs"] == 2 * 20
    conn = await asyncpg.connect(settings.database_url)
    try:
        audit = await conn.fetch(
            "SELECT actor, client_address, detail::text AS detail FROM audit_log WHERE action = 'manual_qc'"
        )
    finally:
        await conn.close()
    assert [(a["actor"], a["client_address"]) for a in audit] == [("wang", "127.0.0.1")]
    assert json.loads(audit[0]["detail"])["reason"] == "fouled sensor, seen at the site visit"


def _csv_status(text: str) -> dict[tuple[str, str], str]:
    return {(r["variable"], r["time"]): r["data_status"] for r in csv.DictReader(io.StringIO(text))}


def _expected(verified: set[tuple[str, int]]) -> dict[tuple[str, str], str]:
    return {
        (v, _iso(_at(k))): "verified" if (v, k) in verified else "preliminary"
        for v in (LEVEL, TEMPERATURE)
        for k in range(N_HOURS)
    }


async def test_reviews_mark_readings_verified_in_json_csv_and_netcdf(
    api: str, settings: Settings, tmp_path: Path
) -> None:
    before = await _stored(settings)
    async with _client(api, "zhao") as admin:
        station_wide = {
            "station": STATION,
            "start": _iso(_at(6)),
            "end": _iso(_at(30)),
            "note": "month review",
        }
        answer = await admin.post("/console/api/qc/reviews", json=station_wide, headers=WRITE)
        assert answer.status_code == 201, answer.text
        assert answer.json()["readings"] == 2 * 24 and answer.json()["status"] == "verified"
        back = {**station_wide, "variable": TEMPERATURE, "start": _iso(_at(12)), "end": _iso(_at(14))}
        answer = await admin.post(
            "/console/api/qc/reviews", json={**back, "status": "preliminary"}, headers=WRITE
        )
        assert answer.status_code == 201, answer.text
    verified = {(LEVEL, k) for k in range(6, 30)} | {(TEMPERATURE, k) for k in range(6, 30)}
    verified -= {(TEMPERATURE, 12), (TEMPERATURE, 13)}  # the newest review takes those back
    expected = _expected(verified)
    assert await _stored(settings) == before  # a review rewrites no reading
    async with _client(api, None) as anonymous:
        page = await anonymous.get(f"/api/v1/observations?station={STATION}&{SPAN}&limit=1000")
        body = page.json()
        seen = {(r["variable"], r["time"]): r["data_status"] for r in body["data"]}
        assert seen == expected
        reviews = body["meta"]["data_status"]["reviews"]
        assert [(r["variable"], r["start"], r["end"], r["status"]) for r in reviews] == [
            (None, _iso(_at(6)), _iso(_at(30)), "verified"),
            (TEMPERATURE, _iso(_at(12)), _iso(_at(14)), "preliminary"),
        ]
        buckets = await anonymous.get(f"/api/v1/observations?station={STATION}&{SPAN}&bucket=1d")
        assert len(buckets.json()["meta"]["data_status"]["reviews"]) == 2  # buckets: the ranges
        exported = await anonymous.get(f"/api/v1/observations/export?format=csv&station={STATION}&{SPAN}")
        assert exported.status_code == 200
        assert exported.text.splitlines()[0].endswith(",qc_flag,qc_flag_name,data_status,qc_version")
        assert _csv_status(exported.text) == expected
        paged_csv = await anonymous.get(f"/api/v1/observations?format=csv&station={STATION}&{SPAN}")
        assert _csv_status(paged_csv.text) == expected
        listed = (await anonymous.get(f"/api/v1/qc/reviews?station={STATION}")).json()["data"]
        assert [(r["status"], r["operator"], r["note"]) for r in listed] == [
            ("verified", "zhao", "month review"), ("preliminary", "zhao", "month review")
        ]  # fmt: skip
        nc = await anonymous.get(
            f"/api/v1/observations/export?format=netcdf&station={STATION}&variable={LEVEL},{TEMPERATURE}&{SPAN}"
        )
        assert nc.status_code == 200, nc.text
    path = tmp_path / "reviewed.nc"
    path.write_bytes(nc.content)
    with netCDF4.Dataset(path) as ds:
        times = ds["time"][0].tolist()
        for variable in (LEVEL, TEMPERATURE):
            status = ds[f"{variable}_status"]
            assert status.flag_values.tolist() == [0, 1]
            assert status.flag_meanings.split() == ["preliminary", "verified"]
            assert f"{variable}_status" in ds[variable].ancillary_variables.split()
            values = status[0].tolist()
            got = {(variable, _iso(round(t * 1e6))): ("verified" if s == 1 else "preliminary")
                   for t, s in zip(times, values, strict=True)}  # fmt: skip
            assert got == {k: v for k, v in expected.items() if k[0] == variable}
    CheckSuite.load_all_available_checkers()
    report_path = tmp_path / "report.json"
    ComplianceChecker.run_checker(
        str(path), ["cf:1.8"], 1, "normal", output_filename=str(report_path), output_format="json"
    )
    report = json.loads(report_path.read_text())["cf:1.8"]
    failed = [
        c for c in report["high_priorities"] + report["medium_priorities"] if c["value"][0] < c["value"][1]
    ]
    assert failed == [] and report["scored_points"] == report["possible_points"] > 0


async def test_the_command_line_verifies_with_the_same_mechanism(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TIDEWATCH_DATABASE_URL", settings.database_url)
    span = ["--from", _iso(_at(40)), "--to", _iso(_at(42))]
    base = ["qc", "verify", "--station", STATION, "--variable", LEVEL, *span, "--note", "checked"]
    assert await asyncio.to_thread(main, [*base, "--operator", "li"]) == 2
    assert "not a console operator with the operator or admin role" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*base[:-4], "--to", _iso(_at(40)), "--operator", "wang"]) == 2
    assert "must be after from" in capsys.readouterr().err
    assert await asyncio.to_thread(main, [*base, "--operator", "wang"]) == 0
    assert "2 stored readings now verified" in capsys.readouterr().out
    assert await asyncio.to_thread(main, ["qc", "reviews", "--station", STATION]) == 0
    out = capsys.readouterr().out
    assert f"{LEVEL} [{_iso(_at(40))}, {_iso(_at(42))}) verified by wang" in out
    conn = await asyncpg.connect(settings.database_url)
    try:
        actors = await conn.fetch(
            "SELECT actor, client_address FROM audit_log WHERE action = 'data_review' ORDER BY id"
        )
        status = await conn.fetch(
            f"SELECT {us('time')} AS t, "
            "(SELECT r.status FROM data_reviews r WHERE r.station_id = o.station_id "
            " AND (r.variable IS NULL OR r.variable = o.variable) AND r.time_from <= o.time "
            " AND r.time_to > o.time ORDER BY r.review_id DESC LIMIT 1) AS status "
            "FROM observations o WHERE station_id = $1 AND variable = $2 ORDER BY time",
            STATION,
            LEVEL,
        )
    finally:
        await conn.close()
    assert actors[-1]["actor"].startswith("cli:") and actors[-1]["client_address"] == "local"
    marked = {r["t"] for r in status if r["status"] == "verified"}
    assert marked == {_at(k) for k in (*range(6, 30), 40, 41)}  # the console's review and this one


async def test_the_console_page_judges_a_range_and_lists_it(
    api: str, settings: Settings, tmp_path: Path
) -> None:
    """Headless Chromium: sign in on the page, fill the manual-QC form, see the judgement listed."""
    from tests.support.browser import click, require_chromium, start_browser, wait_for

    require_chromium()
    from selenium.webdriver.common.by import By

    before = await _stored(settings)
    run = asyncio.to_thread
    driver = await run(start_browser, tmp_path / "profile")
    try:
        await run(driver.get, api + "/console/")
        await run(
            wait_for, driver, lambda d: d.find_elements(By.CSS_SELECTOR, "#qc-station option[value=dalian]")
        )
        assert not await run(lambda: driver.find_element(By.ID, "qc-submit").is_enabled())  # signed out
        await run(lambda: driver.find_element(By.ID, "signin-user").send_keys("wang"))
        await run(lambda: driver.find_element(By.ID, "signin-pass").send_keys(PASSWORD))
        await run(click, driver, lambda d: d.find_element(By.ID, "signin-submit"))
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "qc-submit").is_enabled())
        await run(
            driver.execute_script,
            "const f = document.getElementById('qc-form');"
            " f.station.value = 'dalian'; f.variable.value = arguments[0];"
            " f.start.value = arguments[1]; f.end.value = arguments[2];"
            " f.judgement.value = 'suspect'; f.reason.value = 'drifting thermistor';",
            TEMPERATURE,
            _iso(_at(30)).removesuffix("Z"),
            _iso(_at(33)).removesuffix("Z"),
        )
        await run(click, driver, lambda d: d.find_element(By.ID, "qc-submit"))
        result = await run(
            wait_for,
            driver,
            lambda d: d.find_element(By.ID, "qc-result").text or d.find_element(By.ID, "qc-error").text,
        )
        assert result == "3 stored readings re-flagged"
        rows = "#qc-flags tbody tr"
        listed = await run(
            wait_for,
            driver,
            lambda d: [r.text for r in d.find_elements(By.CSS_SELECTOR, rows) if "drifting" in r.text],
        )
        assert "suspect" in listed[0] and "wang" in listed[0] and "Dalian" in listed[0]
        await run(driver.execute_script, "document.getElementById('manual-qc').scrollIntoView();")
        await run(driver.save_screenshot, str(tmp_path / "manual_qc.png"))  # for a person to look at
    finally:
        await run(driver.quit)
    after = await _stored(settings)
    inside = {(TEMPERATURE, _at(k)) for k in (30, 31, 32)}
    assert {k: after[k] for k in inside} == dict.fromkeys(inside, 3)
    assert {k: v for k, v in after.items() if k not in inside} == {
        k: v for k, v in before.items() if k not in inside
    }
