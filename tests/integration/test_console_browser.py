"""The console in a real headless browser (Debian's Chromium through Selenium): an alert raised by
readings appears on the open page without a reload, and acknowledging it, silencing it and ending the
silence there change the database.

Needs `apt-get install -y chromium chromium-driver`; skipped with that hint when they are missing.
Selenium is synchronous, so every browser step runs in a thread while the console serves in this loop.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from alerts import Observation
from services.console import create_console
from services.console.serve import serve_console
from services.db.alerts import create_operator, get_alert, store_alert_events
from tests.support.alert_io import (
    DO,
    STATION,
    EngineActions,
    database,  # noqa: F401  (fixture)
    new_engine,
)
from tests.support.browser import click, require_chromium, start_browser, wait_for

pytestmark = pytest.mark.integration

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402

SCREENSHOT = Path("/tmp/tidewatch_console.png")
MINUTE_US = 60_000_000


def in_row(alert_id: str, css: str):
    """The element `css` inside the alert's row, found afresh on every call."""
    row = f'#open-alerts tr[data-alert-id="{alert_id}"]'
    return lambda d: d.find_element(By.CSS_SELECTOR, f"{row} {css}")


async def test_alert_appears_live_and_is_acknowledged_from_the_page(database, tmp_path):  # noqa: F811
    engine = new_engine()
    conn = await database.connect()
    await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    actions = EngineActions(engine, database.url)
    running = await serve_console(create_console(database.settings, actions, secret=b"k", refresh_s=0.5))
    driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
    run = asyncio.to_thread
    try:
        await run(driver.get, running.url + "/")
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "live").text == "live")
        await run(driver.execute_script, "window.sameDocument = true;")  # gone if the page reloads
        assert await run(lambda: driver.find_element(By.ID, "no-alerts").is_displayed())

        # Dissolved oxygen at the Changhai meadow over the last 1.5 h: yellow (≤ 3.0 mg/L) for 30 min.
        start_us = (time.time_ns() // 1000) - 90 * MINUTE_US
        readings = [(start_us + i * 10 * MINUTE_US, v) for i, v in enumerate([4.1, 2.9, 2.8, 2.7, 2.6])]
        events = []
        for time_us, value in readings:
            events += engine.observe([Observation(STATION, "reading", DO, time_us, value, 1)])
        assert [e.kind for e in events] == ["pending", "firing"]
        alert_id = events[0].alert_id
        await conn.executemany(
            "INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at) "
            "VALUES (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2, $3, $4, 1, now())",
            [(t, STATION, DO, v) for t, v in readings],
        )
        await store_alert_events(conn, events)

        badge = await run(wait_for, driver, lambda d: in_row(alert_id, ".badge")(d).text)
        assert badge == "YELLOW"
        station = await run(wait_for, driver, lambda d: in_row(alert_id, "td:nth-child(2)")(d).text)
        assert station.startswith("Changhai Zostera marina meadow")  # by name, not the id
        value = await run(lambda: in_row(alert_id, "td.value")(driver).text)
        assert value == "2.6 mg/L"  # in the rule's unit
        assert not await run(lambda: in_row(alert_id, ".ack")(driver).is_enabled())  # signed out

        await run(lambda: driver.find_element(By.ID, "signin-user").send_keys("wang"))
        await run(lambda: driver.find_element(By.ID, "signin-pass").send_keys("tide-2024!"))
        await run(lambda: driver.find_element(By.ID, "signin-submit").click())
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "operator-name").text == "Wang Lei")

        await run(click, driver, in_row(alert_id, ".ack"))
        await run(lambda: driver.find_element(By.CSS_SELECTOR, ".ack-comment").send_keys("patrol boat sent"))
        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, ".ack-confirm"))

        def acknowledged_on_page(d) -> bool:
            handling = in_row(alert_id, ".ack-state")(d).text
            shown = "acknowledged by Wang Lei" in handling  # the operator by name
            return shown and not d.find_elements(By.CSS_SELECTOR, ".inline-form")

        await run(wait_for, driver, acknowledged_on_page)
        alert = await get_alert(conn, alert_id)
        assert (alert["acknowledged_by"], alert["ack_comment"]) == ("wang", "patrol boat sent")
        assert [a["type"] for a in actions.received] == ["acknowledge"]

        # Divers are in the meadow: silence the rule here for an hour, then end it early from the list.
        await run(click, driver, in_row(alert_id, ".silence"))
        await run(lambda: driver.find_element(By.CSS_SELECTOR, ".silence-comment").send_keys("divers"))
        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, ".silence-confirm"))
        silence_row = "#silence-list tbody tr"
        listed = await run(wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, silence_row).text)
        assert "Changhai" in listed and "divers" in listed and "Wang Lei" in listed
        await run(wait_for, driver, lambda d: "silenced until" in in_row(alert_id, ".ack-state")(d).text)
        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{silence_row} .end-silence"))
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "no-silences").is_displayed())
        await run(wait_for, driver, lambda d: "silenced until" not in in_row(alert_id, ".ack-state")(d).text)
        removed = await conn.fetchval("SELECT removed_at IS NOT NULL FROM silences WHERE comment = 'divers'")
        assert removed
        assert [a["type"] for a in actions.received] == ["acknowledge", "silence", "remove_silence"]
        assert await run(driver.execute_script, "return window.sameDocument === true;")  # no reload
        station_row = await run(
            wait_for,
            driver,
            lambda d: d.find_element(By.CSS_SELECTOR, f'#station-list tr[data-station="{STATION}"]').text,
        )
        assert "min ago" in station_row  # last seen from the stored readings
        # Read in one script: a live update may redraw the map between finding a path and reading it.
        longest_land = await run(
            driver.execute_script,
            "return Math.max(0, ...Array.from(document.querySelectorAll('#map path.land'),"
            " p => (p.getAttribute('d') || '').length));",
        )
        assert longest_land > 1000  # the coast under the dots
        await run(driver.save_screenshot, str(SCREENSHOT))
    finally:
        await run(driver.quit)
        await running.stop()
        await conn.close()
