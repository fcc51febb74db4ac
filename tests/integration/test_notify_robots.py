"""Chat robots and the SMS gateway against a real local HTTP server that checks what a real robot
checks: its credential in the URL, the signature (recomputed here from the shared secret, as the
receiving side does), the message format, and answers as the robots answer (HTTP 200 with an error
code). Delivery goes through the real Notifier and PostgreSQL; nothing is mocked."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import time
from pathlib import Path

import asyncpg
import orjson
import pytest
from aiohttp import web
from test_alert_io_notify import notifications

from alerts import AlertEngine, load_channels, load_rules
from schemas.registry import load_registry
from services.config import load_settings
from services.notify import Notifier, NotifyConfig, RetryPolicy
from services.stack.process import free_port
from tests.support.alert_io import (
    database,  # noqa: F401  (fixture)
    do_reading,
    hypoxic_evening,
)

pytestmark = pytest.mark.integration

FAST = RetryPolicy(attempts=3, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5.0)
DINGTALK_TOKEN = "dt-token-7f3a9c2e51b84d06"
DINGTALK_SECRET = "SEC1c9e0f7a6b5d4c3b2a190817263544536271809abcdef"
WECOM_KEY = "693a91f6-7c2e-4bc4-97a0-0ec2f1fa5aaa"
FEISHU_HOOK = "2f1e7d4c-6b5a-4c3d-9e8f-7a6b5c4d3e2f"
FEISHU_SECRET = "feishu-secret-q8w7e6r5t4y3"
SMS_SECRET = "sms-hmac-key-5t6y7u8i9o0p"
SECRETS = (DINGTALK_TOKEN, DINGTALK_SECRET, WECOM_KEY, FEISHU_HOOK, FEISHU_SECRET, SMS_SECRET)

CHANNELS_YAML = """
channels:
  duty_dingtalk: {type: dingtalk, min_severity: yellow, events: [firing, escalated, resolved]}
  duty_wecom: {type: wecom, min_severity: yellow, events: [firing, escalated, resolved]}
  duty_feishu: {type: feishu, min_severity: yellow, events: [firing, escalated, resolved]}
  head_sms: {type: sms, min_severity: orange, events: [firing, escalated]}
"""


def b64_hmac(key: bytes, message: bytes) -> str:
    return base64.b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode()


class LocalServer:
    """A real aiohttp server on a free loopback port; subclasses add their routes in `routes`."""

    base = ""

    def routes(self, app: web.Application) -> None:
        raise NotImplementedError

    async def __aenter__(self):
        app = web.Application()
        self.routes(app)
        self.runner = web.AppRunner(app, access_log=None)  # the receiver's own log is not ours
        await self.runner.setup()
        port = free_port()
        await web.TCPSite(self.runner, "127.0.0.1", port).start()
        self.base = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.runner.cleanup()


class Robots(LocalServer):
    """One aiohttp server playing DingTalk, WeCom, Feishu and an SMS gateway. Each accepted message is
    kept with the route it came by; `busy` answers that many DingTalk requests with its rate limit."""

    def __init__(self, busy: int = 0, feishu_secret: str = FEISHU_SECRET) -> None:
        self.busy, self.feishu_secret = busy, feishu_secret
        self.accepted: dict[str, list[dict]] = {"dingtalk": [], "wecom": [], "feishu": [], "sms": []}
        self.refused: list[str] = []

    async def dingtalk(self, request: web.Request) -> web.Response:
        query = request.query
        timestamp = query["timestamp"]
        expected = b64_hmac(DINGTALK_SECRET.encode(), f"{timestamp}\n{DINGTALK_SECRET}".encode())
        if query.get("access_token") != DINGTALK_TOKEN:
            return self.refuse("dingtalk", {"errcode": 300001, "errmsg": "token is not exist"})
        if query.get("sign") != expected or abs(time.time() * 1000 - int(timestamp)) > 3_600_000:
            return self.refuse("dingtalk", {"errcode": 310000, "errmsg": "sign not match"})
        if self.busy:
            self.busy -= 1
            return web.json_response({"errcode": 130101, "errmsg": "send too fast"})
        self.accepted["dingtalk"].append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def wecom(self, request: web.Request) -> web.Response:
        if request.query.get("key") != WECOM_KEY:
            return self.refuse("wecom", {"errcode": 93000, "errmsg": "invalid webhook url"})
        self.accepted["wecom"].append(await request.json())
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def feishu(self, request: web.Request) -> web.Response:
        if request.match_info["hook"] != FEISHU_HOOK:
            return self.refuse(
                "feishu", {"code": 19001, "msg": "param invalid: incoming webhook access token invalid"}
            )
        body = await request.json()
        timestamp = body.get("timestamp", "0")
        expected = b64_hmac(f"{timestamp}\n{self.feishu_secret}".encode(), b"")
        if body.get("sign") != expected or abs(time.time() - int(timestamp)) > 3600:
            return self.refuse(
                "feishu", {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"}
            )
        self.accepted["feishu"].append(body)
        return web.json_response({"code": 0, "msg": "success", "data": {}})

    async def sms(self, request: web.Request) -> web.Response:
        raw = await request.read()
        timestamp = request.headers["X-Tidewatch-Timestamp"]
        mac = hmac.new(SMS_SECRET.encode(), timestamp.encode() + b"." + raw, hashlib.sha256)
        if request.headers["X-Tidewatch-Signature"] != f"sha256={mac.hexdigest()}":
            self.refused.append("sms")
            return web.Response(status=401, text="bad signature")
        self.accepted["sms"].append(orjson.loads(raw) | {"key": request.headers["Idempotency-Key"]})
        return web.Response(status=202, text="queued")

    def refuse(self, robot: str, answer: dict) -> web.Response:
        self.refused.append(robot)
        return web.json_response(answer)  # the robots say no with HTTP 200

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/robot/send", self.dingtalk)
        app.router.add_post("/cgi-bin/webhook/send", self.wecom)
        app.router.add_post("/open-apis/bot/v2/hook/{hook}", self.feishu)
        app.router.add_post("/sms/send", self.sms)

    def environment(self) -> dict[str, str]:
        return {
            "TIDEWATCH_DUTY_DINGTALK_URL": f"{self.base}/robot/send?access_token={DINGTALK_TOKEN}",
            "TIDEWATCH_DUTY_DINGTALK_SECRET": DINGTALK_SECRET,
            "TIDEWATCH_DUTY_WECOM_URL": f"{self.base}/cgi-bin/webhook/send?key={WECOM_KEY}",
            "TIDEWATCH_DUTY_FEISHU_URL": f"{self.base}/open-apis/bot/v2/hook/{FEISHU_HOOK}",
            "TIDEWATCH_DUTY_FEISHU_SECRET": FEISHU_SECRET,
            "TIDEWATCH_HEAD_SMS_URL": f"{self.base}/sms/send",
            "TIDEWATCH_HEAD_SMS_SECRET": SMS_SECRET,
            "TIDEWATCH_HEAD_SMS_TO": "+8613800000001, +8613800000002",
        }


@pytest.fixture
def channels(tmp_path: Path):
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS_YAML, encoding="utf-8")
    return load_channels(path)


def evening(channels) -> list:
    """Pending, firing yellow, escalated orange, then recovery → resolved, routed to `channels`."""
    registry = load_registry()
    engine = AlertEngine(registry, load_rules(registry), channels)
    events = hypoxic_evening(engine)
    for minutes in range(100, 170, 10):
        events += engine.observe([do_reading(minutes, 3.6)])
    assert [e.kind for e in events] == ["pending", "firing", "escalated", "resolved"]
    return events


async def test_each_robot_gets_its_format_signed(database, channels):  # noqa: F811
    events = evening(channels)
    async with Robots() as robots, asyncpg.create_pool(database.url, min_size=1, max_size=4) as pool:
        config = NotifyConfig.from_settings(
            load_settings(robots.environment() | {"TIDEWATCH_NOTIFY_ATTEMPTS": "3"}), channels
        )
        async with Notifier(pool, config, channels=channels) as notifier:
            report = await notifier.deliver(events)
            replay = await notifier.deliver(events)
    assert robots.refused == []
    # Three robots × (firing, escalated, resolved) and the SMS for orange firing only (escalated).
    assert (report.sent, report.dead, replay.sent, replay.already_claimed) == (10, 0, 0, 10)
    firing, escalated, resolved = events[1:]
    ding = robots.accepted["dingtalk"]
    assert [m["msgtype"] for m in ding] == ["markdown"] * 3
    assert [m["markdown"]["title"] for m in ding] == [f"[tidewatch] {e.message_en}" for e in events[1:]]
    assert (
        escalated.message_zh in ding[1]["markdown"]["text"]
        and escalated.alert_id in ding[1]["markdown"]["text"]
    )
    wecom = robots.accepted["wecom"]
    texts = [m["markdown"]["text"] for m in ding] + [m["markdown"]["content"] for m in wecom]
    assert all("[tidewatch]" in text for text in texts)  # the keyword a robot's security may require
    assert [m["msgtype"] for m in wecom] == ["markdown"] * 3
    assert firing.message_zh in wecom[0]["markdown"]["content"]
    assert '<font color="warning">' in wecom[1]["markdown"]["content"]  # orange
    feishu = robots.accepted["feishu"]
    assert [m["msg_type"] for m in feishu] == ["post"] * 3
    posts = [m["content"]["post"] for m in feishu]
    assert [p["zh_cn"]["title"] for p in posts] == [e.message_zh for e in events[1:]]
    assert [p["en_us"]["title"] for p in posts] == [e.message_en for e in events[1:]]
    assert any(resolved.alert_id in item["text"] for line in posts[2]["zh_cn"]["content"] for item in line)
    (sms,) = robots.accepted["sms"]
    assert sms["to"] == ["+8613800000001", "+8613800000002"]
    assert sms["key"] == f"{escalated.alert_id}#{escalated.seq}"
    assert escalated.message_zh in sms["text"] and sms["severity"] == "orange"
    rows = await notifications(database.url)
    assert {status for *_, status, _, _ in rows} == {"sent"} and len(rows) == 10


async def test_rate_limited_robot_is_retried(database, channels):  # noqa: F811
    firing = evening(channels)[1]
    async with Robots(busy=2) as robots, asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool:
        config = NotifyConfig.from_settings(load_settings(robots.environment()), channels)
        async with Notifier(
            pool, NotifyConfig(endpoints=config.endpoints, retry=FAST), channels=channels
        ) as n:
            report = await n.deliver([firing])
    assert report.sent == 3  # DingTalk, WeCom, Feishu (yellow: no SMS)
    assert len(robots.accepted["dingtalk"]) == 1
    rows = {
        channel: (status, attempts) for _, channel, status, attempts, _ in await notifications(database.url)
    }
    assert rows["duty_dingtalk"] == ("sent", 3)  # "send too fast" twice, then accepted


async def test_refused_signature_is_a_dead_letter_and_no_secret_is_logged(database, channels, caplog):  # noqa: F811
    """A wrong Feishu secret is refused at once (no retry); an unreachable robot ends dead after its
    attempts. Neither the recorded errors nor any log line show a URL credential or a secret."""
    firing = evening(channels)[1]
    caplog.set_level(logging.DEBUG)
    async with Robots(feishu_secret="the-group-has-another-secret") as robots:
        env = robots.environment() | {
            "TIDEWATCH_DUTY_WECOM_URL": f"http://127.0.0.1:{free_port()}/cgi-bin/webhook/send?key={WECOM_KEY}"
        }
        config = NotifyConfig.from_settings(load_settings(env), channels)
        logging.getLogger("test").info("configured %r", config)  # what a debugging print would show
        async with (
            asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
            Notifier(pool, NotifyConfig(endpoints=config.endpoints, retry=FAST), channels=channels) as n,
        ):
            report = await n.deliver([firing])
    assert (report.sent, report.dead) == (1, 2)
    assert robots.refused == ["feishu"]
    rows = {
        channel: (status, attempts, error)
        for _, channel, status, attempts, error in await notifications(database.url)
    }
    assert rows["duty_feishu"][:2] == ("dead", 1)
    assert rows["duty_feishu"][2].startswith("Feishu error 19021")
    assert rows["duty_wecom"][:2] == ("dead", 3) and "ClientConnectorError" in rows["duty_wecom"][2]
    assert rows["duty_dingtalk"][:2] == ("sent", 1)
    shown = caplog.text + " ".join(error or "" for *_, error in rows.values())
    assert "dead letter" in caplog.text
    assert [s for s in SECRETS if s in shown] == []
