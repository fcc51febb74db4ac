"""The console over real HTTP (uvicorn on a free port, a fresh database): open reads, signed-in writes
handed to the actions callable, cross-site refusals, live updates over Server-Sent Events, mounting."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import aiohttp
import asyncpg
import orjson
import pytest
from starlette.applications import Starlette
from starlette.routing import Mount

from services.console import create_console
from services.console.access import ConsoleAccess
from services.console.actions import KafkaActions
from services.console.serve import serve_console
from services.console.session import Operator, SessionSigner, same_origin
from services.db.alerts import create_operator, get_alert, store_alert_events
from tests.support.alert_io import (
    STATION,
    EngineActions,
    at,
    database,  # noqa: F401  (fixture)
    do_reading,
    hypoxic_evening,
    new_engine,
)

pytestmark = pytest.mark.integration

WRITE = {"X-Tidewatch-Console": "1"}


class Harness:
    def __init__(self, url: str, db_url: str, actions: EngineActions, http: aiohttp.ClientSession) -> None:
        self.url, self.db_url, self.actions, self.http = url, db_url, actions, http

    async def get(self, path: str) -> tuple[int, dict]:
        async with self.http.get(self.url + path) as response:
            return response.status, await response.json()

    async def post(self, path: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
        async with self.http.post(
            self.url + path, json=body, headers=WRITE if headers is None else headers
        ) as r:
            return r.status, await r.json()

    async def alert(self, alert_id: str) -> dict:
        conn = await asyncpg.connect(self.db_url)
        try:
            return await get_alert(conn, alert_id)
        finally:
            await conn.close()


@pytest.fixture
async def console(database) -> AsyncIterator[Harness]:  # noqa: F811
    engine = new_engine()
    conn = await database.connect()
    try:
        await store_alert_events(conn, hypoxic_evening(engine))
        await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    finally:
        await conn.close()
    actions = EngineActions(engine, database.url)
    app = create_console(database.settings, actions, secret=b"test-secret", refresh_s=0.5)
    running = await serve_console(app)
    jar = aiohttp.CookieJar(unsafe=True)  # cookies from 127.0.0.1
    async with aiohttp.ClientSession(cookie_jar=jar) as http:
        yield Harness(running.url, database.url, actions, http)
    await running.stop()


ALERT_ID = f"{STATION}/hypoxia/{at(30)}"


async def test_reads_are_open(console):
    async with console.http.get(console.url + "/") as response:
        assert response.status == 200
        assert "<title>tidewatch · alert console</title>" in await response.text()
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    status, body = await console.get("/api/alerts/open")
    assert status == 200
    assert [(a["alert_id"], a["state"], a["severity"]) for a in body["alerts"]] == [
        (ALERT_ID, "firing", "orange")
    ]
    status, body = await console.get("/api/stations")
    stations = {s["id"]: s for s in body["stations"]}
    assert (len(stations), stations[STATION]["open_alerts"], stations[STATION]["worst_severity"]) == (
        14,
        1,
        "orange",
    )
    status, body = await console.get(f"/api/alerts/history?kind=firing&since={at(0)}")
    assert [(e["kind"], e["state"], e["time_us"]) for e in body["events"]] == [("firing", "firing", at(60))]
    status, body = await console.get("/api/alerts/history?until=2023-11-14T22:50")  # ISO, UTC
    assert [e["kind"] for e in body["events"]] == ["pending"]  # pending at 22:43 UTC
    status, body = await console.get("/api/alerts/history?since=yesterday")
    assert status == 400 and "since" in body["error"]
    status, body = await console.get("/api/meta")
    assert body["operator"] is None and "hypoxia" in [r["id"] for r in body["rules"]]
    async with console.http.get(console.url + "/static/console.js") as response:
        assert response.status == 200 and "EventSource" in await response.text()


async def test_acknowledge_needs_a_signed_in_operator_from_the_page(console):
    status, _ = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 401
    status, body = await console.post("/api/session", {"username": "wang", "password": "wrong"})
    assert status == 401
    status, _ = await console.post("/api/session", {"username": "wang", "password": "tide-2024!"}, headers={})
    assert status == 403  # no console header: a cross-site form post
    status, body = await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    assert (status, body["operator"]) == (
        200,
        {"username": "wang", "display_name": "Wang Lei", "role": "operator"},
    )
    (cookie,) = [c for c in console.http.cookie_jar if c.key == "tidewatch_console"]
    assert (cookie["samesite"].lower(), cookie["httponly"], cookie["path"]) == ("strict", True, "/")
    status, _ = await console.post("/api/acknowledge", {"alert_id": ALERT_ID}, headers={})
    assert status == 403
    evil = WRITE | {"Origin": "http://evil.example"}
    status, _ = await console.post("/api/acknowledge", {"alert_id": ALERT_ID}, headers=evil)
    assert status == 403
    assert console.actions.received == []
    status, body = await console.post("/api/acknowledge", {"alert_id": ALERT_ID, "comment": "on my way"})
    assert status == 202
    (action,) = console.actions.received
    assert {k: action[k] for k in ("type", "alert_id", "actor", "comment")} == {
        "type": "acknowledge",
        "alert_id": ALERT_ID,
        "actor": "wang",
        "comment": "on my way",
    }
    alert = await console.alert(ALERT_ID)
    assert (alert["acknowledged_by"], alert["ack_comment"], alert["acknowledged_us"]) == (
        "wang",
        "on my way",
        action["time_us"],
    )
    status, body = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 409 and "already acknowledged by wang" in body["error"]
    status, _ = await console.post("/api/acknowledge", {"alert_id": "nowhere/none/0"})
    assert status == 404


async def test_silence_from_the_console(console):
    await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    status, body = await console.post("/api/silence", {"station": None, "rule": None, "minutes": 60})
    assert status == 400 and "station, a rule or both" in body["error"]
    status, body = await console.post("/api/silence", {"station": "atlantis", "minutes": 60})
    assert status == 400
    request = {"station": STATION, "rule": "hypoxia", "minutes": 90, "comment": "divers"}
    status, body = await console.post("/api/silence", request)
    assert status == 202
    action = body["submitted"]
    assert action["ends_us"] - action["time_us"] == 90 * 60_000_000
    alert = await console.alert(ALERT_ID)
    assert alert["silenced_until_us"] == action["ends_us"]
    status, body = await console.get("/api/alerts/open")
    assert [s["id"] for s in body["silences"]] == [action["id"]]


async def test_end_a_silence_from_the_console(console):
    await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    status, body = await console.post("/api/silence", {"station": STATION, "rule": "hypoxia", "minutes": 60})
    silence_id = body["submitted"]["id"]
    assert (await console.alert(ALERT_ID))["silenced_until_us"] == body["submitted"]["ends_us"]

    status, body = await console.post("/api/silence/remove", {"id": "console-nothing"})
    assert status == 404 and "no active silence" in body["error"]
    status, body = await console.post("/api/silence/remove", {})
    assert status == 400
    status, body = await console.post("/api/silence/remove", {"id": silence_id})
    assert status == 202 and body["submitted"]["type"] == "remove_silence"
    assert (await console.get("/api/alerts/open"))[1]["silences"] == []
    alert = await console.alert(ALERT_ID)
    assert alert["silenced_until_us"] is None  # notifies again
    status, body = await console.post("/api/silence/remove", {"id": silence_id})
    assert status == 404  # ended once

    async with console.http.delete(console.url + "/api/session", headers=WRITE):
        pass
    status, _ = await console.post("/api/silence/remove", {"id": silence_id})
    assert status == 401


async def test_sign_out_and_forged_cookies(console):
    await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    assert (await console.get("/api/session"))[1]["operator"]["username"] == "wang"
    async with console.http.delete(console.url + "/api/session", headers=WRITE) as response:
        assert response.status == 200
    assert (await console.get("/api/session"))[1]["operator"] is None
    forged = SessionSigner(b"another-secret").sign(Operator("wang", "Wang Lei"))
    console.http.cookie_jar.update_cookies({"tidewatch_console": forged})
    assert (await console.get("/api/session"))[1]["operator"] is None
    status, _ = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 401


async def read_sse(response: aiohttp.ClientResponse) -> AsyncIterator[tuple[str, dict]]:
    event = None
    async for raw in response.content:
        line = raw.decode().rstrip("\n")
        if line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: ") and event:
            yield event, orjson.loads(line[6:])
            event = None


async def test_live_updates_over_server_sent_events(console, database):  # noqa: F811
    async with console.http.get(console.url + "/api/events") as response:
        assert response.headers["Content-Type"].startswith("text/event-stream")
        events = read_sse(response)
        first = {}
        while len(first) < 2:
            kind, data = await anext(events)
            first[kind] = data
        assert [a["alert_id"] for a in first["alerts"]["alerts"]] == [ALERT_ID]
        # Red at 100 min, stored by "the worker": the page hears of it without asking.
        escalation = console.actions.engine.observe([do_reading(100, 0.9)])
        conn = await database.connect()
        try:
            await store_alert_events(conn, escalation)
        finally:
            await conn.close()
        async with asyncio.timeout(5):
            while True:
                kind, data = await anext(events)
                if kind == "alerts":
                    break
        assert [(a["alert_id"], a["severity"]) for a in data["alerts"]] == [(ALERT_ID, "red")]


async def test_a_silence_that_covers_no_alert_still_reaches_open_pages(console):
    """No alert event is emitted for it, so the database announces the silence itself."""
    await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    async with console.http.get(console.url + "/api/events") as response:
        events = read_sse(response)
        first = {}
        while len(first) < 2:
            kind, data = await anext(events)
            first[kind] = data
        assert first["alerts"]["silences"] == []
        status, body = await console.post(
            "/api/silence", {"station": STATION, "rule": "battery_low", "minutes": 30}
        )
        assert status == 202 and body["submitted"]["type"] == "silence"

        async def next_silences() -> list[str]:
            async with asyncio.timeout(5):
                while True:
                    kind, data = await anext(events)
                    if kind == "alerts":
                        return [s["id"] for s in data["silences"]]

        assert await next_silences() == [body["submitted"]["id"]]
        await console.post("/api/silence/remove", {"id": body["submitted"]["id"]})
        assert await next_silences() == []


async def test_mounted_under_a_prefix_starts_on_first_request(database):  # noqa: F811
    conn = await database.connect()
    try:
        await store_alert_events(conn, hypoxic_evening(new_engine()))
        await create_operator(conn, "li", "Li Na", "tide-2024!")
    finally:
        await conn.close()
    console_app = create_console(database.settings, None, secret=b"s")
    parent = Starlette(routes=[Mount("/console", console_app)])  # no lifespan reaches a mounted app
    running = await serve_console(parent)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            async with http.get(running.url + "/console/api/alerts/open") as response:
                assert [a["alert_id"] for a in (await response.json())["alerts"]] == [ALERT_ID]
            login = {"username": "li", "password": "tide-2024!"}
            async with http.post(running.url + "/console/api/session", json=login, headers=WRITE) as response:
                assert response.status == 200
            (cookie,) = list(http.cookie_jar)
            assert cookie["path"] == "/console/"
            async with http.post(
                running.url + "/console/api/acknowledge", json={"alert_id": ALERT_ID}, headers=WRITE
            ) as response:
                assert response.status == 503  # read-only: no actions were wired
    finally:
        await running.stop()
        await console_app.state.console.close()


def test_session_cookie_signature_and_expiry():
    signer = SessionSigner(b"k", max_age_s=60)
    cookie = signer.sign(Operator("wang", "Wang Lei"), now_s=1000)
    assert signer.verify(cookie, now_s=1059) == Operator("wang", "Wang Lei")
    assert signer.verify(cookie, now_s=1061) is None  # expired
    body, mac = cookie.rsplit(".", 1)
    assert signer.verify(body[:-2] + "xx." + mac, now_s=1000) is None  # tampered
    assert signer.verify("garbage", now_s=1000) is None


def test_same_origin_rules():
    assert same_origin({"x-tidewatch-console": "1", "host": "c:8081", "origin": "http://c:8081"})
    assert same_origin({"x-tidewatch-console": "1", "host": "c:8081"})
    assert not same_origin({"host": "c:8081", "origin": "http://c:8081"})
    assert not same_origin({"x-tidewatch-console": "1", "host": "c:8081", "origin": "http://x:8081"})
    assert not same_origin({"x-tidewatch-console": "1", "host": "c:8081", "origin": "null"})


# -- hostile input and access (issue 19 item 8) ------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "parameter"),
    [
        ("rule=hyp%00oxia", "rule"),
        ("severity=red%00", "severity"),
        ("kind=%00firing", "kind"),
        ("station=a%00b", "station"),
        ("since=99999999999999999999999", "since"),
        ("until=-9223372036854775808", "until"),
        ("since=9223372036854775807", "since"),
        ("since=0001-01-01T00:00:00%2B14:00", "since"),
        ("until=nan", "until"),
    ],
)
async def test_hostile_history_filters_are_refused_naming_the_parameter(console, query, parameter):
    status, body = await console.get(f"/api/alerts/history?{query}")
    assert status == 400, body
    assert body["error"].startswith(parameter + ":")


async def sign_in(console, username="wang", password="tide-2024!", headers=None) -> tuple[int, dict, dict]:
    async with console.http.post(
        console.url + "/api/session",
        json={"username": username, "password": password},
        headers=WRITE | (headers or {}),
    ) as r:
        return r.status, await r.json(), dict(r.headers)


async def test_sign_in_attempts_are_limited_per_login_and_per_address(database):  # noqa: F811
    conn = await database.connect()
    try:
        await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    finally:
        await conn.close()
    access = ConsoleAccess(login_failures=3, address_failures=5, failure_window_s=60)
    app = create_console(database.settings, None, secret=b"s", access=access)
    running = await serve_console(app)
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            h = Harness(running.url, database.url, None, http)  # type: ignore[arg-type]
            for _ in range(3):
                assert (await sign_in(h, password="guess"))[0] == 401
            status, body, headers = await sign_in(h)  # even the right password waits now
            assert status == 429 and 1 <= int(headers["Retry-After"]) <= 60, body
            assert "wang" in body["error"]
            # Other logins from the same address: the address limit (5 failures) stops the spray.
            assert (await sign_in(h, "li", "guess"))[0] == 401
            assert (await sign_in(h, "zhao", "guess"))[0] == 401
            status, body, headers = await sign_in(h, "sun", "guess")
            assert status == 429 and int(headers["Retry-After"]) >= 1
    finally:
        await running.stop()


async def test_signing_out_revokes_the_session_server_side(console):
    assert (await sign_in(console))[0] == 200
    (cookie,) = [c for c in console.http.cookie_jar if c.key == "tidewatch_console"]
    saved = cookie.value
    async with console.http.delete(console.url + "/api/session", headers=WRITE) as response:
        assert response.status == 200
    console.http.cookie_jar.update_cookies({"tidewatch_console": saved})  # the cookie an attacker kept
    status, body = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 401, body
    assert (await console.get("/api/session"))[1]["operator"] is None
    assert console.actions.received == []


@pytest.mark.parametrize(
    ("access", "headers", "secure"),
    [
        (ConsoleAccess(), {}, False),
        (ConsoleAccess(), {"X-Forwarded-Proto": "https"}, False),  # untrusted client: header ignored
        (ConsoleAccess(trusted_proxies=("127.0.0.1",)), {"X-Forwarded-Proto": "https"}, True),
        (ConsoleAccess(trusted_proxies=("127.0.0.1",)), {"X-Forwarded-Proto": "http"}, False),
        (ConsoleAccess(cookie_secure="always"), {}, True),
    ],
)
async def test_session_cookie_is_secure_behind_tls(database, access, headers, secure):  # noqa: F811
    conn = await database.connect()
    try:
        await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    finally:
        await conn.close()
    running = await serve_console(create_console(database.settings, None, secret=b"s", access=access))
    try:
        async with aiohttp.ClientSession() as http:
            h = Harness(running.url, database.url, None, http)  # type: ignore[arg-type]
            status, _, response_headers = await sign_in(h, headers=headers)
            assert status == 200
            assert ("secure" in response_headers["Set-Cookie"].lower().split("; ")) is secure
    finally:
        await running.stop()


async def add_operator_as(console, body: dict) -> tuple[int, dict]:
    return await console.post("/api/operators", body)


async def test_roles_viewer_operator_admin(console, database):  # noqa: F811
    conn = await database.connect()
    try:
        await create_operator(conn, "zhao", "Zhao Min", "look-only-1", role="viewer")
        await create_operator(conn, "chen", "Chen Jie", "admin-pass-1", role="admin")
    finally:
        await conn.close()
    assert (await sign_in(console, "zhao", "look-only-1"))[1]["operator"]["role"] == "viewer"
    status, body = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 403 and "viewer" in body["error"]
    status, body = await console.post("/api/silence", {"station": STATION, "minutes": 30})
    assert status == 403
    assert console.actions.received == []
    # An operator acknowledges but does not manage operators.
    await sign_in(console)
    status, body = await add_operator_as(
        console, {"username": "x", "display_name": "X", "password": "pw-123456", "role": "admin"}
    )
    assert status == 403 and "admin" in body["error"]
    assert (await console.post("/api/acknowledge", {"alert_id": ALERT_ID}))[0] == 202
    # An admin adds an operator, who can then sign in with the role given.
    await sign_in(console, "chen", "admin-pass-1")
    status, body = await add_operator_as(
        console, {"username": "sun", "display_name": "Sun Yu", "password": "pw-123456", "role": "operator"}
    )
    assert status == 201, body
    status, body = await add_operator_as(
        console, {"username": "bad", "display_name": "B", "password": "pw-123456", "role": "root"}
    )
    assert status == 400 and "role" in body["error"]
    status, body = await console.get("/api/operators")
    assert {o["username"]: o["role"] for o in body["operators"]} == {
        "chen": "admin",
        "sun": "operator",
        "wang": "operator",
        "zhao": "viewer",
    }
    assert (await sign_in(console, "sun", "pw-123456"))[1]["operator"]["role"] == "operator"


async def test_every_write_is_in_the_audit_log_for_admins(console, database):  # noqa: F811
    conn = await database.connect()
    try:
        await create_operator(conn, "chen", "Chen Jie", "admin-pass-1", role="admin")
    finally:
        await conn.close()
    await sign_in(console)
    assert (await console.post("/api/acknowledge", {"alert_id": ALERT_ID, "comment": "seen"}))[0] == 202
    status, body = await console.get("/api/audit")
    assert status == 403  # an operator does not read the audit log
    async with console.http.delete(console.url + "/api/session", headers=WRITE) as response:
        assert response.status == 200
    await sign_in(console, "chen", "admin-pass-1")
    status, body = await console.get("/api/audit")
    assert status == 200
    entries = body["entries"]
    assert [(e["actor"], e["action"]) for e in reversed(entries)] == [
        ("wang", "sign_in"),
        ("wang", "acknowledge"),
        ("wang", "sign_out"),
        ("chen", "sign_in"),
    ]
    ack = entries[-2]
    assert ack["target"] == ALERT_ID and ack["detail"]["comment"] == "seen"
    assert ack["client_address"] == "127.0.0.1" and ack["time_us"] > 0


def run_operator_add(db_url: str, *args: str, password: str) -> subprocess.CompletedProcess:
    env = os.environ | {"TIDEWATCH_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "services.cli", "operator", "add", *args],
        input=password + "\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


async def test_operator_add_with_a_role_from_the_command_line(database):  # noqa: F811
    done = await asyncio.to_thread(
        run_operator_add, database.url, "--role", "admin", "chen", "Chen Jie", password="admin-pass-1"
    )
    assert done.returncode == 0, done.stderr
    conn = await database.connect()
    try:
        role = await conn.fetchval("SELECT role FROM operators WHERE username = 'chen'")
        audit_row = await conn.fetchrow("SELECT actor, action, target, detail FROM audit_log")
    finally:
        await conn.close()
    assert role == "admin"
    assert (audit_row["action"], audit_row["target"], audit_row["actor"].startswith("cli:")) == (
        "operator_add",
        "chen",
        True,
    )


async def test_operator_add_refusals_are_one_line(database):  # noqa: F811
    absent = database.url.rsplit("/", 1)[0] + "/tidewatch_no_such_database"
    # Four independent commands, side by side (each is mostly the interpreter starting).
    empty, bad_role, gone, unreachable = await asyncio.gather(
        asyncio.to_thread(run_operator_add, database.url, "li", "Li Na", password=""),
        asyncio.to_thread(run_operator_add, database.url, "--role", "root", "li", "Li", password="x"),
        asyncio.to_thread(run_operator_add, absent, "li", "Li Na", password="pw-123456"),
        asyncio.to_thread(
            run_operator_add,
            "postgresql://postgres@127.0.0.1:1/tidewatch",
            "li",
            "Li Na",
            password="pw-123456",
        ),
    )
    assert empty.returncode != 0 and "Traceback" not in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1 and "password" in empty.stderr
    assert bad_role.returncode != 0 and "role" in bad_role.stderr and "Traceback" not in bad_role.stderr
    assert gone.returncode != 0 and "Traceback" not in gone.stderr, gone.stderr
    assert len(gone.stderr.strip().splitlines()) == 1 and "tidewatch_no_such_database" in gone.stderr
    assert unreachable.returncode != 0 and "Traceback" not in unreachable.stderr, unreachable.stderr
    assert len(unreachable.stderr.strip().splitlines()) == 1 and "127.0.0.1:1" in unreachable.stderr


async def test_acknowledge_answers_quickly_when_kafka_is_unreachable(database):  # noqa: F811
    conn = await database.connect()
    try:
        await store_alert_events(conn, hypoxic_evening(new_engine()))
        await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    finally:
        await conn.close()
    nowhere = database.settings.with_(kafka_url="kafka://127.0.0.1:1")  # nothing listens on port 1
    actions = KafkaActions(nowhere, timeout_s=2.0)
    running = await serve_console(create_console(nowhere, actions, secret=b"s"))
    try:
        async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
            h = Harness(running.url, database.url, None, http)  # type: ignore[arg-type]
            assert (await sign_in(h))[0] == 200
            started = time.monotonic()
            status, body = await h.post("/api/acknowledge", {"alert_id": ALERT_ID})
            assert time.monotonic() - started < 8
            assert status == 503 and "Kafka" in body["error"] and "127.0.0.1:1" in body["error"], body
            assert (await h.alert(ALERT_ID))["acknowledged_by"] is None
    finally:
        await running.stop()
        await actions.close()


async def test_acknowledging_an_alert_that_resolved_meanwhile_says_so(console, database):  # noqa: F811
    conn = await database.connect()
    try:
        await conn.execute("UPDATE alerts SET state = 'resolved' WHERE alert_id = $1", ALERT_ID)
    finally:
        await conn.close()
    await sign_in(console)
    status, body = await console.post("/api/acknowledge", {"alert_id": ALERT_ID})
    assert status == 409 and "resolved" in body["error"], body


async def test_the_page_names_a_favicon_that_is_served(console):
    async with console.http.get(console.url + "/") as response:
        page = await response.text()
    (href,) = re.findall(r'<link rel="icon" [^>]*href="([^"]+)"', page)
    async with console.http.get(f"{console.url}/{href}") as response:
        assert response.status == 200 and response.headers["Content-Type"].startswith("image/svg+xml")
        assert "<svg" in await response.text()


async def _insert_history(db_url: str, count: int) -> None:
    """`count` events of one alert a minute apart in data time, recorded in the reverse order (a replay
    stores old data late), and an acknowledgement by wang stamped with the wall clock."""
    conn = await asyncpg.connect(db_url)
    try:
        await conn.executemany(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,"
            " message_en, message_zh, recorded_at) VALUES ('bulk', $1, $2, 'battery_low', 'renotify',"
            " 'yellow', timestamptz 'epoch' + $3::bigint * interval '1 microsecond', 11.5, $4, '电池', "
            " now() - $1::integer * interval '1 second')",
            [(seq, STATION, at(1000 + seq), f"renotify {seq} " + "x" * 200) for seq in range(count)],
        )
        await conn.execute(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, message_en,"
            " message_zh, actor, comment, recorded_at) VALUES ('bulk', $1, $2, 'battery_low', 'acknowledged',"
            " 'yellow', now(), 'acknowledged', '已确认', 'wang', 'on it', now() + interval '1 second')",
            count,
            STATION,
        )
    finally:
        await conn.close()


async def test_history_pages_with_both_times_and_the_operator_by_name(console):
    await _insert_history(console.db_url, 120)
    status, first = await console.get("/api/alerts/history?station=" + STATION + "&rule=battery_low")
    assert status == 200 and (first["limit"], first["offset"], first["more"]) == (50, 0, True)
    assert len(first["events"]) == 50
    ack = first["events"][0]  # recorded last, so first although its data time is the wall clock
    assert (ack["kind"], ack["actor"], ack["actor_name"], ack["comment"]) == (
        "acknowledged",
        "wang",
        "Wang Lei",
        "on it",
    )
    recorded = [e["recorded_us"] for e in first["events"]]
    assert recorded == sorted(recorded, reverse=True)
    assert all(e["actor_name"] is None for e in first["events"][1:])
    pages = [first]
    while pages[-1]["more"]:
        offset = pages[-1]["offset"] + pages[-1]["limit"]
        status, page = await console.get(f"/api/alerts/history?rule=battery_low&offset={offset}")
        pages.append(page)
    seqs = [e["seq"] for page in pages for e in page["events"]]
    assert sorted(seqs) == list(range(121)) and len(pages) == 3  # every event once over 50 + 50 + 21
    status, by_time = await console.get("/api/alerts/history?rule=battery_low&order=time&limit=3")
    times = [e["time_us"] for e in by_time["events"]]
    assert by_time["events"][0]["kind"] == "acknowledged" and times == sorted(times, reverse=True)
    assert [e["seq"] for e in by_time["events"][1:]] == [119, 118]  # newest data time first
    status, body = await console.get("/api/alerts/history?order=sideways")
    assert status == 400 and "order" in body["error"]
    status, body = await console.get("/api/alerts/history?offset=-1")
    assert status == 400 and "offset" in body["error"]


async def test_history_says_when_an_input_arrived_and_that_it_was_late(console):
    conn = await asyncpg.connect(console.db_url)
    try:
        await conn.executemany(
            "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,"
            " message_en, message_zh, received, late) VALUES ('late', $1, $2, 'hypoxia', $3, 'orange',"
            " timestamptz 'epoch' + $4::bigint * interval '1 microsecond', 1.8, $3, '低氧',"
            " timestamptz 'epoch' + $5::bigint * interval '1 microsecond', $6)",
            [
                (0, STATION, "pending", at(0), at(60), True),  # an uplink an hour late
                (1, STATION, "firing", at(30), at(31), False),
            ],
        )
    finally:
        await conn.close()
    status, page = await console.get("/api/alerts/history?rule=hypoxia&order=time")
    assert status == 200
    assert [(e["kind"], e["received_us"], e["late"]) for e in page["events"] if e["alert_id"] == "late"] == [
        ("firing", at(31), False),
        ("pending", at(60), True),
    ]


async def test_stations_carry_latest_values_and_rules_their_units(console):
    conn = await asyncpg.connect(console.db_url)
    try:
        await conn.executemany(
            "INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at) "
            "VALUES (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2, $3, $4, 1, now())",
            [
                (at(0), "yingkou", "water_level_m", 2.5),
                (at(1), "yingkou", "water_level_m", 2.75),
                (at(1), "yingkou", "battery_voltage_v", 13.4),
            ],
        )
    finally:
        await conn.close()
    status, body = await console.get("/api/stations")
    assert status == 200
    yingkou = next(s for s in body["stations"] if s["id"] == "yingkou")
    latest = {r["variable"]: (r["value"], r["time_us"]) for r in yingkou["latest"]}
    assert latest == {"water_level_m": (2.75, at(1)), "battery_voltage_v": (13.4, at(1))}
    assert yingkou["silent_alert"] is False
    _, meta = await console.get("/api/meta")
    units = {v["id"]: v["unit"] for v in meta["variables"]}
    assert (units["water_level_m"], units["dissolved_oxygen_mg_l"], units["water_temperature_degC"]) == (
        "m",
        "mg/L",
        "°C",
    )
    rules = {r["id"]: (r["value_kind"], r["unit"]) for r in meta["rules"]}
    assert rules["battery_low"] == ("unit", "V") and rules["hypoxia"] == ("unit", "mg/L")
    assert rules["storm_surge_warning"] == ("level", "") and rules["station_silent"] == ("none", "")


async def test_recurring_quiet_hours_from_the_console(console):
    status, _ = await console.post("/api/schedules", {"station": STATION, "start": "22:00", "minutes": 60})
    assert status == 401
    await console.post("/api/session", {"username": "wang", "password": "tide-2024!"})
    for bad, complaint in (
        ({"station": "atlantis"}, "no station"),
        ({"timezone": "Mars/Olympus"}, "unknown zone"),
        ({"weekdays": ["someday"]}, "weekdays"),
        ({"start": "25:00"}, "HH:MM"),
        ({"minutes": 0}, "duration"),
    ):
        request = {"station": STATION, "start": "22:00", "minutes": 60} | bad
        status, body = await console.post("/api/schedules", request)
        assert status == 400 and complaint in body["error"], (bad, body)
    # Quiet hours that began ten minutes ago in Beijing time: the running occurrence applies at once.
    local = time.gmtime(time.time() + 8 * 3600 - 600)
    request = {
        "station": STATION,
        "start": f"{local.tm_hour:02d}:{local.tm_min:02d}",
        "minutes": 120,
        "timezone": "Asia/Shanghai",
        "comment": "night shift quiet hours",
    }
    status, body = await console.post("/api/schedules", request)
    assert status == 201
    (action,) = body["submitted"]
    schedule_id = body["schedule"]["id"]
    assert action["id"] == f"{schedule_id}@{action['time_us']}" and action["station"] == STATION
    assert action["ends_us"] - action["time_us"] == 120 * 60_000_000
    assert (await console.alert(ALERT_ID))["silenced_until_us"] == action["ends_us"]
    status, body = await console.get("/api/schedules")
    assert [(s["id"], s["weekdays"], s["timezone"]) for s in body["schedules"]] == [
        (schedule_id, list(range(7)), "Asia/Shanghai")
    ]
    # Another schedule, not running now, submits nothing; the first occurrence is not submitted again.
    later = time.gmtime(time.time() + 8 * 3600 + 3 * 3600)
    status, body = await console.post(
        "/api/schedules",
        {"station": STATION, "start": f"{later.tm_hour:02d}:00", "minutes": 30, "timezone": "Asia/Shanghai"},
    )
    assert status == 201 and body["submitted"] == []
    assert [a["type"] for a in console.actions.received] == ["silence"]
    # Removing the schedule ends the running occurrence too: the alert notifies again.
    status, _ = await console.post("/api/schedules/remove", {"id": schedule_id})
    assert status == 200
    assert [a["type"] for a in console.actions.received] == ["silence", "remove_silence"]
    assert (await console.alert(ALERT_ID))["silenced_until_us"] is None
    remaining = [s["id"] for s in (await console.get("/api/schedules"))[1]["schedules"]]
    assert len(remaining) == 1 and schedule_id not in remaining  # the later one stays
    status, _ = await console.post("/api/schedules/remove", {"id": schedule_id})
    assert status == 404
