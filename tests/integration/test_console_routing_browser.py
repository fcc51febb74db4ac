"""The console's incidents panel and recurring quiet hours in a real headless browser: a group made by
the notifier shows as one line that opens to its members; an operator adds quiet hours from the form.

Needs `apt-get install -y chromium chromium-driver`; skipped with that hint when they are missing."""

from __future__ import annotations

import asyncio

import pytest

from alerts import Observation
from alerts.routing import GroupSpec, Routing
from schemas.registry import load_registry
from services.console import create_console
from services.console.serve import serve_console
from services.db.alerts import create_operator
from services.notify.groups import Grouping, absorb
from tests.support.alert_io import (
    EngineActions,
    at,
    database,  # noqa: F401  (fixture)
    new_engine,
)
from tests.support.browser import click, require_chromium, start_browser, wait_for

pytestmark = pytest.mark.integration

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402

SPEC = GroupSpec(
    "coastal_flooding",
    frozenset({"storm_surge_warning"}),
    ("rule", "area"),
    86_400_000_000,
    frozenset({"email"}),
)


async def test_incidents_open_to_their_members_and_quiet_hours_are_added(database, tmp_path):  # noqa: F811
    engine = new_engine()
    opened = [
        e
        for s in ("bayuquan", "yingkou")
        for e in engine.observe([Observation(s, "indicator", "water_level_warning", at(0), 3.0)])
    ]
    grouping = Grouping(Routing(groups=(SPEC,)), load_registry())
    conn = await database.connect()
    await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    (gid,) = {grouping.place(e, "email")[0] for e in opened}
    await absorb(conn, gid, SPEC, [(e, "email") for e in opened])
    actions = EngineActions(engine, database.url)
    running = await serve_console(create_console(database.settings, actions, secret=b"k", refresh_s=0.5))
    driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
    run = asyncio.to_thread
    group = f'#group-list details[data-group="{gid}"]'
    try:
        await run(driver.get, running.url + "/")
        summary = await run(
            wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{group} summary").text
        )
        assert "coastal_flooding · open · 2 of 2 stations open" in summary
        members = lambda d: d.find_elements(By.CSS_SELECTOR, f"{group} li.member")  # noqa: E731
        assert not any(m.is_displayed() for m in await run(members, driver))  # closed until opened
        await run(click, driver, lambda d: d.find_element(By.CSS_SELECTOR, f"{group} summary"))
        shown = await run(wait_for, driver, lambda d: [m.text for m in members(d) if m.is_displayed()])
        assert len(shown) == 2 and any("Yingkou" in m for m in shown)

        await run(lambda: driver.find_element(By.ID, "signin-user").send_keys("wang"))
        await run(lambda: driver.find_element(By.ID, "signin-pass").send_keys("tide-2024!"))
        await run(lambda: driver.find_element(By.ID, "signin-submit").click())
        await run(wait_for, driver, lambda d: d.find_element(By.ID, "schedule-submit").is_enabled())
        form = lambda d: d.find_element(By.ID, "schedule-form")  # noqa: E731
        await run(lambda: form(driver).find_element(By.CSS_SELECTOR, "option[value=yingkou]").click())
        await run(
            driver.execute_script, "document.querySelector('#schedule-form [name=start]').value = '01:00';"
        )
        await run(lambda: form(driver).find_element(By.NAME, "comment").send_keys("tide gauge maintenance"))
        await run(lambda: form(driver).find_element(By.ID, "schedule-submit").click())
        row = await run(
            wait_for, driver, lambda d: d.find_element(By.CSS_SELECTOR, "#schedule-list tbody tr").text
        )
        assert "01:00" in row and "480 min" in row and "tide gauge maintenance" in row
        stored = await conn.fetchrow(
            "SELECT station_id, start_minute, timezone, created_by FROM silence_schedules"
        )
        assert tuple(stored) == ("yingkou", 60, "Asia/Shanghai", "wang")
        assert (
            await run(lambda: driver.find_element(By.CSS_SELECTOR, f"{group}").get_attribute("open"))
            is not None
        )
    finally:
        await run(driver.quit)
        await running.stop()
        await conn.close()
