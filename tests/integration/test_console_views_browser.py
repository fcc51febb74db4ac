"""The console's map, station list and history in a real headless browser, with the network's data
three days old as during a replay: labels by name that neither overlap nor leave the map, stations
judged by data time (none silent), latest values with units, a paginated history with both times and
operators by name, and Chinese text drawn with a CJK font (not as boxes).

Needs Debian's Chromium and fonts-noto-cjk (`make deps`); skipped with a hint when Chromium is missing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from schemas.registry import load_registry
from schemas.vocabulary import load_vocabulary
from services.console import create_console
from services.console.serve import serve_console
from services.db.alerts import create_operator
from tests.support.alert_io import database  # noqa: F401  (fixture)
from tests.support.browser import click, require_chromium, start_browser, wait_for

pytestmark = pytest.mark.integration

require_chromium()
from selenium.webdriver.common.by import By  # noqa: E402

SCREENSHOT = Path("/tmp/tidewatch_console_replay.png")
US = 1_000_000
DAY_US = 86_400 * US
HISTORY_EVENTS = 60  # more than one page of 50

LABEL_BOXES = """
const map = document.getElementById('map').getBoundingClientRect();
const labels = Array.from(document.querySelectorAll('#map text.label'), (t) => {
  const r = t.getBoundingClientRect();
  return {text: t.textContent, x: r.left, y: r.top, w: r.width, h: r.height};
});
return {map: {x: map.left, y: map.top, w: map.width, h: map.height}, labels};
"""

# Two different CJK characters drawn in the font the page uses for Chinese: with no CJK font both
# come out as the same missing-glyph box, so their pixels are equal.
CJK_GLYPHS_DIFFER = """
const font = getComputedStyle(document.querySelector('#station-list .zh')).fontFamily;
function pixels(ch) {
  const canvas = document.createElement('canvas');
  canvas.width = 40; canvas.height = 40;
  const g = canvas.getContext('2d');
  g.font = '32px ' + font;
  g.fillText(ch, 2, 32);
  return Array.from(g.getImageData(0, 0, 40, 40).data).join(',');
}
return [pixels('预') !== pixels('警'), pixels('潮') !== pixels('站'), font];
"""


def overlap(a: dict, b: dict) -> bool:
    return (
        a["x"] < b["x"] + b["w"]
        and b["x"] < a["x"] + a["w"]
        and a["y"] < b["y"] + b["h"]
        and b["y"] < a["y"] + a["h"]
    )


async def _replayed_network(conn, newest_us: int) -> None:
    """Two readings of every variable at every station, the newest `newest_us`, mid-range values."""
    vocabulary = load_vocabulary()
    rows = []
    for station in load_registry().stations.values():
        for variable in station.variables:
            spec = vocabulary[variable]
            value = round((spec.physical_min + spec.physical_max) / 2 + 1.234, 3)
            for back in (1, 0):
                rows.append(
                    (newest_us - back * int(station.sampling_interval_s * US), station.id, variable, value)
                )
    await conn.executemany(
        "INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at) "
        "VALUES (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2, $3, $4, 1, now())",
        rows,
    )


async def _history(conn, newest_us: int) -> None:
    """A battery alert's renotifications (long messages; the newest judged from an input that came two
    hours late, one a correction back to pending) and an acknowledgement by wang."""
    await conn.executemany(
        "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,"
        " message_en, message_zh, recorded_at) VALUES ('yalu/battery_low/1', $1, 'yalu-estuary',"
        " 'battery_low', 'renotify', 'yellow', timestamptz 'epoch' + $2::bigint * interval '1 microsecond',"
        " 11.26, $3, '鸭绿江口湿地电池电压低黄色（重复通知）：电池电压 11.26 V',"
        " now() - $1::integer * interval '1 second')",
        [
            (seq, newest_us - (HISTORY_EVENTS - seq) * 3600 * US, f"renotify {seq}: " + "battery low " * 20)
            for seq in range(HISTORY_EVENTS - 1)
        ],
    )
    await conn.execute(
        "INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, message_en,"
        " message_zh, actor, comment, recorded_at) VALUES ('yalu/battery_low/1', $1, 'yalu-estuary',"
        " 'battery_low', 'acknowledged', 'yellow', now(), 'acknowledged by wang', '已确认', 'wang',"
        " 'crew booked', now() + interval '1 second')",
        HISTORY_EVENTS - 1,
    )
    await conn.execute(
        "UPDATE alert_events SET late = true, received = time + interval '2 hours'"
        " WHERE alert_id = 'yalu/battery_low/1' AND seq = 0"
    )
    # A correction that put the alert back to pending: the history says so beside its kind.
    await conn.execute(
        "UPDATE alert_events SET kind = 'corrected', state = 'pending'"
        " WHERE alert_id = 'yalu/battery_low/1' AND seq = 2"
    )


async def test_map_list_and_history_during_a_replay(database, tmp_path):  # noqa: F811
    conn = await database.connect()
    newest_us = time.time_ns() // 1000 - 3 * DAY_US
    await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
    await _replayed_network(conn, newest_us)
    await _history(conn, newest_us)
    running = await serve_console(create_console(database.settings, None, secret=b"k", refresh_s=0.5))
    driver = await asyncio.to_thread(start_browser, tmp_path / "profile")
    run = asyncio.to_thread
    stations = load_registry().stations
    try:
        await run(driver.get, running.url + "/")
        await run(wait_for, driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#map text.label")) == 14)

        # Map: every station by its name, labels apart from each other and inside the map.
        boxes = await run(driver.execute_script, LABEL_BOXES)
        texts = {label["text"] for label in boxes["labels"]}
        assert {"Huludao", "Bayuquan", "Dandong", "Jinzhou Bay water-quality buoy"} <= texts
        assert not texts & set(stations)  # no ids
        labels, frame = boxes["labels"], boxes["map"]
        for i, a in enumerate(labels):
            assert frame["x"] <= a["x"] and a["x"] + a["w"] <= frame["x"] + frame["w"], a
            assert frame["y"] <= a["y"] and a["y"] + a["h"] <= frame["y"] + frame["h"], a
            for b in labels[i + 1 :]:
                assert not overlap(a, b), (a["text"], b["text"])
        # Three days old but recent in data time: healthy (green), none silent, the replay said.
        assert await run(lambda: driver.find_elements(By.CSS_SELECTOR, "#map circle.silent")) == []
        fills = await run(
            driver.execute_script,
            "return Array.from(document.querySelectorAll('#map circle.station'),"
            " c => c.getAttribute('fill'));",
        )
        assert fills == ["#2e9d5b"] * 14
        assert "replay" in await run(lambda: driver.find_element(By.ID, "data-clock").text)
        assert await run(lambda: len(driver.find_elements(By.CSS_SELECTOR, "#map-legend li"))) == 4

        # Station list: latest values with units.
        # Read in one script: the list's live refresh can redraw the row between finding and reading it
        # (a stale element, seen in CI).
        row = await run(
            driver.execute_script,
            "return document.querySelector('#station-list tr[data-station=\"yingkou\"]').innerText;",
        )
        assert "Yingkou tide gauge" in row and "营口验潮站" in row
        assert "water level 6.234 m" in row and "°C" in row and "battery" in row and " V" in row

        # History: a page of 50, one-line messages with the whole text on demand, both times, names.
        events = "#history-events tbody tr[data-event]:not(.event-detail)"
        await run(wait_for, driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, events)) == 50)
        first = await run(
            driver.execute_script, "return document.querySelector(arguments[0]).innerText;", events
        )
        assert "acknowledged" in first and "Wang Lei" in first
        # Read in one script: a live refresh may redraw the rows between finding a cell and reading it.
        white_space, height, truncated = await run(
            driver.execute_script,
            "const m = document.querySelectorAll(arguments[0])[1];"
            " return [getComputedStyle(m).whiteSpace, m.getBoundingClientRect().height,"
            " m.scrollWidth > m.clientWidth];",
            f"{events} td.message",
        )
        assert white_space == "nowrap" and truncated  # one line, cut with an ellipsis
        assert height < 80  # the row stays two lines (the station's name in two scripts)
        await run(click, driver, lambda d: d.find_elements(By.CSS_SELECTOR, f"{events} .more")[1])
        shown = "return Array.from(document.querySelectorAll('.event-detail'), e => e.innerText).join('|');"
        detail = await run(wait_for, driver, lambda d: d.execute_script(shown).strip("|"))
        assert "battery low battery low" in detail and "鸭绿江口" in detail
        assert "input received" in detail and "2 h after its data time" in detail
        kinds = await run(
            driver.execute_script,
            "return Array.from(document.querySelectorAll(arguments[0]),"
            " r => [r.cells[2].textContent, (r.querySelector('.late') || {}).title || '']);",
            events,
        )
        assert kinds[0] == ["acknowledged", ""] and kinds[1][0] == "renotifylate"  # the late badge
        assert kinds[1][1].startswith("input received") and kinds[2] == ["renotify", ""]
        assert kinds[3] == ["corrected → pending", ""]
        recorded, data_time, row_text = await run(
            driver.execute_script,
            "const r = document.querySelector(arguments[0]);"
            " return [r.cells[0].textContent, r.cells[1].textContent, r.innerText];",
            f"{events}:nth-child(3)",
        )
        assert recorded != data_time  # stored now, judged three days earlier
        assert "11.26 V" in row_text
        await run(click, driver, lambda d: d.find_element(By.ID, "history-older"))
        await run(
            wait_for, driver, lambda d: len(d.find_elements(By.CSS_SELECTOR, events)) == HISTORY_EVENTS - 50
        )
        assert "events 51–60" in await run(lambda: driver.find_element(By.ID, "history-page").text)
        assert not await run(lambda: driver.find_element(By.ID, "history-older").is_enabled())

        # Chinese drawn with a CJK font (fonts-noto-cjk), not as identical missing-glyph boxes.
        differ_1, differ_2, font = await run(driver.execute_script, CJK_GLYPHS_DIFFER)
        assert differ_1 and differ_2, f"CJK glyphs render as boxes in {font}: apt-get install fonts-noto-cjk"
        await run(driver.save_screenshot, str(SCREENSHOT))
    finally:
        await run(driver.quit)
        await running.stop()
        await conn.close()
