"""The console on the real pipeline: readings published on MQTT raise an alert that appears on the
open page without a reload; acknowledging it there goes console → alert-inputs topic → alert agent
→ database, and the page shows it. Headless Debian Chromium through Selenium (skipped without it).
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import asyncpg
import pytest

from services.console import create_console
from services.console.actions import KafkaActions
from services.console.serve import serve_console
from services.db.alerts import create_operator
from tests.support.browser import click as _click
from tests.support.browser import require_chromium, start_browser
from tests.support.browser import wait_for as _wait_for
from tests.support.pipeline import Publisher, message

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="session")]

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402

SCREENSHOT = Path("/tmp/tidewatch_console_pipeline.png")
MINUTE_US = 60_000_000
STATION, DO = "changhai-seagrass", "dissolved_oxygen_mg_l"


async def test_alert_from_readings_is_acknowledged_through_the_stream(pipeline, tmp_path) -> None:
    settings = pipeline.settings
    conn = await asyncpg.connect(settings.database_url)
    await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    actions = KafkaActions(settings)
    running = await serve_console(create_console(settings, actions, secret=b"k", refresh_s=0.5))
    driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
    publisher = Publisher(settings, pipeline.network)
    run = asyncio.to_thread
    try:
        await run(driver.get, running.url + "/")
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "live").text == "live")
        await run(driver.execute_script, "window.sameDocument = true;")  # gone if the page reloads

        # Dissolved oxygen at the Changhai meadow over the last 1.5 h: under 3.0 mg/L (yellow) for
        # 30 min fires, on the reading that completes the 30 min (judged on arrival).
        start_us = (time.time_ns() // 1000) - 90 * MINUTE_US
        values = [4.1, 2.9, 2.8, 2.7, 2.6, 2.6, 2.6]
        publisher.publish_many(
            [
                (STATION, message(STATION, start_us + i * 10 * MINUTE_US, {DO: v}))
                for i, v in enumerate(values)
            ],
            pace_per_s=100,
        )
        alert_id = f"{STATION}/hypoxia/{start_us + 10 * MINUTE_US}"
        row = f'#open-alerts tr[data-alert-id="{alert_id}"]'
        badge = await run(wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .badge").text)
        assert badge == "YELLOW"
        # Only a firing alert is acknowledged: wait until the stream has judged the 30 min.
        for _ in range(120):
            if await conn.fetchval("SELECT state FROM alerts WHERE alert_id = $1", alert_id) == "firing":
                break
            await asyncio.sleep(0.25)

        await run(lambda: driver.find_element(By.ID, "signin-user").send_keys("wang"))
        await run(lambda: driver.find_element(By.ID, "signin-pass").send_keys("tide-2024!"))
        await run(lambda: driver.find_element(By.ID, "signin-submit").click())
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "operator-name").text == "Wang Lei")

        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{row} .ack"))
        await run(lambda: driver.find_element(By.CSS_SELECTOR, ".ack-comment").send_keys("patrol boat sent"))
        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, ".ack-confirm"))

        def acknowledged_on_page(d) -> bool:
            return "acknowledged by Wang Lei" in d.find_element(By.CSS_SELECTOR, f"{row} .ack-state").text

        await run(wait_for, driver, acknowledged_on_page)
        alert = await conn.fetchrow(
            "SELECT state, acknowledged_by, ack_comment FROM alerts WHERE alert_id = $1", alert_id
        )
        assert (alert["state"], alert["acknowledged_by"], alert["ack_comment"]) == (
            "firing",
            "wang",
            "patrol boat sent",
        )
        kinds = await conn.fetch(
            "SELECT kind, actor FROM alert_events WHERE alert_id = $1 ORDER BY seq", alert_id
        )
        assert [(k["kind"], k["actor"]) for k in kinds] == [
            ("pending", None),
            ("firing", None),
            ("acknowledged", "wang"),
        ]
        assert await run(driver.execute_script, "return window.sameDocument === true;")  # no reload
        await run(driver.save_screenshot, str(SCREENSHOT))
    finally:
        publisher.close()
        await run(driver.quit)
        await running.stop()
        await actions.close()
        await conn.close()


# The pipeline is slower than a direct write: every wait here allows 30 s.
def wait_for(driver, condition, timeout_s: float = 30.0):
    return _wait_for(driver, condition, timeout_s)


def click(driver, find, timeout_s: float = 30.0) -> None:
    _click(driver, find, timeout_s)
