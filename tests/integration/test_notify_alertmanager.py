"""Forwarding to a real Prometheus Alertmanager (Debian package `prometheus-alertmanager`, started here
on a private port with clustering off): its API v2 shows the forwarded alert firing at its current
severity, then gone once resolved, and its own webhook receiver (a local HTTP server here) is told
"firing" and then "resolved", as a centre routing with Alertmanager would be."""

from __future__ import annotations

import asyncio
import shutil
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import asyncpg
import pytest
from aiohttp import web
from test_alert_io_notify import notifications
from test_notify_robots import LocalServer, evening

from alerts import AlertEngine, load_channels, load_rules
from schemas.registry import load_registry
from services.config import load_settings
from services.notify import Notifier, NotifyConfig, RetryPolicy
from services.stack.process import free_port, start_child, wait_for_port
from tests.support.alert_io import (
    corrected_evening,
    database,  # noqa: F401  (fixture)
)

ALERTMANAGER = shutil.which("prometheus-alertmanager") or "/usr/bin/prometheus-alertmanager"

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        not Path(ALERTMANAGER).exists(),
        reason="Alertmanager is not installed (Debian: apt-get install -y prometheus-alertmanager)",
    ),
]

FAST = RetryPolicy(attempts=2, backoff_s=0.01, max_backoff_s=0.05, timeout_s=5.0)
HOLD_S = 3600.0

CHANNELS_YAML = """
channels:
  alertmanager: {min_severity: blue, events: [firing, escalated, deescalated, renotify, resolved]}
"""

CONFIG = """
route:
  receiver: duty
  group_by: [alert_id]
  group_wait: 100ms
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: duty
    webhook_configs:
      - url: {url}
        send_resolved: true
"""


class Receiver(LocalServer):
    """Alertmanager's webhook notifications, as they arrive."""

    def __init__(self) -> None:
        self.notices: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.notices.append(await request.json())
        return web.Response(text="ok")

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/alertmanager", self.handle)

    async def wait_for(self, status: str, timeout_s: float = 20.0) -> dict:
        async with asyncio.timeout(timeout_s):
            while True:
                for notice in self.notices:
                    if notice["status"] == status:
                        return notice
                await asyncio.sleep(0.1)


@pytest.fixture
async def alertmanager(tmp_path: Path):
    async with Receiver() as receiver:
        config = tmp_path / "alertmanager.yml"
        config.write_text(CONFIG.format(url=f"{receiver.base}/alertmanager"), encoding="utf-8")
        port = free_port()
        child = start_child(
            "alertmanager",
            [
                ALERTMANAGER,
                f"--config.file={config}",
                f"--storage.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
                "--cluster.listen-address=",
            ],
            tmp_path / "alertmanager.log",
        )
        try:
            await wait_for_port("127.0.0.1", port, timeout_s=30, child=child)
            yield f"http://127.0.0.1:{port}", receiver
        finally:
            child.stop()


async def shown(base: str, alert_id: str) -> list[dict]:
    """What Alertmanager's API v2 lists for one tidewatch alert (active, silenced or inhibited)."""
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{base}/api/v2/alerts", params={"filter": f'alert_id="{alert_id}"'}) as response,
    ):
        assert response.status == 200
        return await response.json()


def parse_time(text: str) -> float:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def forwarding(tmp_path: Path, base: str) -> tuple:
    """This module's channel table and a notifier configuration forwarding it to Alertmanager at `base`."""
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS_YAML, encoding="utf-8")
    channels = load_channels(path)
    env = {"TIDEWATCH_ALERTMANAGER_URL": base, "TIDEWATCH_ALERTMANAGER_HOLD_S": str(HOLD_S)}
    endpoints = NotifyConfig.from_settings(load_settings(env), channels).endpoints
    return channels, NotifyConfig(endpoints=endpoints, retry=FAST)


async def test_forwarded_alert_fires_then_resolves(database, alertmanager, tmp_path):  # noqa: F811
    base, receiver = alertmanager
    channels, config = forwarding(tmp_path, base)
    events = evening(channels)  # pending, firing yellow, escalated orange, resolved
    alert_id = events[1].alert_id
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, config, channels=channels) as notifier,
    ):
        assert (await notifier.deliver(events[:3])).sent == 2
        (current,) = await shown(base, alert_id)  # the yellow one was resolved by the escalation
        assert current["labels"] == {
            "alertname": "hypoxia",
            "station": "changhai-seagrass",
            "severity": "orange",
            "alert_id": alert_id,
            "source": "tidewatch",
        }
        assert current["status"]["state"] == "active"
        assert current["annotations"]["summary"] == events[2].message_en
        assert current["annotations"]["summary_zh"] == events[2].message_zh
        assert parse_time(current["startsAt"]) == events[2].time_us / 1e6  # orange since the escalation
        assert parse_time(current["endsAt"]) > time.time() + HOLD_S - 60
        firing = await receiver.wait_for("firing")
        assert {a["labels"]["severity"] for a in firing["alerts"] if a["status"] == "firing"} <= {
            "yellow",
            "orange",
        }

        assert (await notifier.deliver(events[3:])).sent == 1
        assert await shown(base, alert_id) == []  # resolved: no longer active
        resolved = await receiver.wait_for("resolved")
    told = {a["labels"]["severity"]: a for a in resolved["alerts"]}
    assert told["orange"]["status"] == "resolved"
    assert parse_time(told["orange"]["endsAt"]) == events[3].time_us / 1e6
    assert [a["status"] for a in resolved["alerts"]] == ["resolved"] * len(resolved["alerts"])
    assert [row[2] for row in await notifications(database.url)] == ["sent"] * 3


async def test_a_correction_back_to_pending_ends_the_alert_in_alertmanager(database, alertmanager, tmp_path):  # noqa: F811
    """The sender goes by the state the event leaves: pending is not firing, so Alertmanager (and the
    centre it notifies) hears the alert resolved when QC withdraws the reading that made it fire, and
    firing again with the next low reading; by its kind the correction kept it firing for the hold."""
    base, receiver = alertmanager
    channels, config = forwarding(tmp_path, base)
    registry = load_registry()
    events = corrected_evening(AlertEngine(registry, load_rules(registry), channels))
    alert_id = events[0].alert_id
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, config, channels=channels) as notifier,
    ):
        assert (await notifier.deliver(events[:2])).sent == 1
        (current,) = await shown(base, alert_id)
        assert (current["labels"]["severity"], current["status"]["state"]) == ("orange", "active")
        await receiver.wait_for("firing")

        assert (await notifier.deliver(events[2:3])).sent == 1
        assert await shown(base, alert_id) == []  # pending again: not firing
        resolved = await receiver.wait_for("resolved")
        assert {a["labels"]["severity"]: a["status"] for a in resolved["alerts"]}["orange"] == "resolved"
        assert resolved["alerts"][0]["annotations"]["event"] == "corrected (event 2), pending"

        receiver.notices.clear()
        assert (await notifier.deliver(events[3:4])).sent == 1
        (again,) = await shown(base, alert_id)
        assert (
            again["status"]["state"] == "active" and parse_time(again["startsAt"]) == events[3].time_us / 1e6
        )
        await receiver.wait_for("firing")
        assert (await notifier.deliver(events[4:])).sent == 1
        assert await shown(base, alert_id) == []
    assert [row[2] for row in await notifications(database.url)] == ["sent"] * 4


async def test_unreachable_alertmanager_ends_as_dead_letter(database, tmp_path):  # noqa: F811
    path = tmp_path / "channels.yaml"
    path.write_text(CHANNELS_YAML, encoding="utf-8")
    channels = load_channels(path)
    firing = evening(channels)[1]
    env = {"TIDEWATCH_ALERTMANAGER_URL": f"http://ops:am-pass-9z8y7x@127.0.0.1:{free_port()}"}
    config = NotifyConfig.from_settings(load_settings(env), channels)
    async with (
        asyncpg.create_pool(database.url, min_size=1, max_size=2) as pool,
        Notifier(pool, NotifyConfig(endpoints=config.endpoints, retry=FAST), channels=channels) as notifier,
    ):
        report = await notifier.deliver([firing])
    assert (report.sent, report.dead) == (0, 1)
    ((_, channel, status, attempts, error),) = await notifications(database.url)
    assert (channel, status, attempts) == ("alertmanager", "dead", 2)
    assert "ClientConnectorError" in error and "am-pass-9z8y7x" not in error
