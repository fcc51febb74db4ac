"""The `alerts` projection in the real PostgreSQL follows a correction back to pending: QC withdraws
the reading that made a hypoxia alert fire, the engine puts it back to pending (`corrected`), and the
console's open alerts show it pending until the next reading makes it fire again."""

from __future__ import annotations

import pytest

from alerts import Observation
from services.db.alerts import get_alert, open_alerts, store_alert_events
from tests.support.alert_io import (
    DO,
    STATION,
    at,
    database,  # noqa: F401  (fixture)
    do_reading,
    new_engine,
)

pytestmark = pytest.mark.integration


async def test_a_correction_back_to_pending_shows_pending(database):  # noqa: F811
    engine = new_engine()
    events = engine.observe([do_reading(m, 1.8) for m in (0, 10, 20)])
    # Firing on its first flags (suspect), then failed by the spike test with the next reading.
    events += engine.observe([Observation(STATION, "reading", DO, at(30), 1.8, 3, (("rate_of_change", 3),))])
    events += engine.observe([Observation(STATION, "reading", DO, at(30), 1.8, 4, (("spike", 4),), True)])
    assert [(e.kind, e.state) for e in events] == [
        ("pending", "pending"),
        ("firing", "firing"),
        ("corrected", "pending"),
    ]
    conn = await database.connect()
    try:
        await store_alert_events(conn, events[:2])
        assert [a["state"] for a in await open_alerts(conn)] == ["firing"]
        await store_alert_events(conn, events[2:])
        (alert,) = await open_alerts(conn)
        assert (alert["alert_id"], alert["state"], alert["last_seq"]) == (events[0].alert_id, "pending", 2)
        assert alert["message_en"].startswith("corrected: Low dissolved oxygen")
        # The next hypoxic reading (30 min after it opened) makes it fire again.
        await store_alert_events(conn, engine.observe([do_reading(40, 1.8)]))
        fired = await get_alert(conn, events[0].alert_id)
        assert fired is not None and (fired["state"], fired["last_seq"]) == ("firing", 3)
    finally:
        await conn.close()
