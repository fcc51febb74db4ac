"""Alert history and the current-state projection in the real PostgreSQL: idempotent, forward-only,
operator events, silences, the console's queries and operator passwords."""

from __future__ import annotations

import pytest

from alerts import Observation, Silence
from services.db.alerts import (
    active_silences,
    alert_history,
    create_operator,
    get_alert,
    open_alerts,
    remove_silence,
    station_status,
    store_alert_events,
    store_silence,
    verify_operator,
)
from tests.support.alert_io import (
    DO,
    STATION,
    T0_US,
    EngineActions,
    at,
    database,  # noqa: F401  (fixture)
    do_reading,
    hypoxic_evening,
    new_engine,
)

pytestmark = pytest.mark.integration


async def test_events_are_stored_once_and_the_projection_follows(database):  # noqa: F811
    engine = new_engine()
    events = hypoxic_evening(engine)
    conn = await database.connect()
    try:
        assert await store_alert_events(conn, events) == 3
        assert await store_alert_events(conn, events) == 0  # a replay adds nothing
        rows = await conn.fetch("SELECT seq, kind, severity, channels FROM alert_events ORDER BY seq")
        assert [tuple(r) for r in rows] == [
            (0, "pending", "yellow", []),
            (1, "firing", "yellow", ["webhook"]),
            (2, "escalated", "orange", ["webhook", "email"]),
        ]
        alert = await get_alert(conn, f"{STATION}/hypoxia/{at(30)}")
        assert alert is not None
        assert (alert["state"], alert["severity"], alert["value"], alert["last_seq"]) == (
            "firing",
            "orange",
            1.9,
            2,
        )
        assert (alert["opened_us"], alert["updated_us"], alert["resolved_us"]) == (at(30), at(80), None)
        assert alert["message_en"].startswith("escalated: Low dissolved oxygen orange")
    finally:
        await conn.close()


async def test_an_old_event_arriving_late_never_regresses_the_projection(database):  # noqa: F811
    events = hypoxic_evening(new_engine())
    conn = await database.connect()
    try:
        assert await store_alert_events(conn, events[2:]) == 1  # the escalation first
        assert await store_alert_events(conn, events[:2]) == 2  # then pending and firing
        (alert,) = await open_alerts(conn)
        assert (alert["state"], alert["severity"], alert["last_seq"]) == ("firing", "orange", 2)
        assert await conn.fetchval("SELECT count(*) FROM alert_events") == 3  # history is complete
    finally:
        await conn.close()


async def test_a_reopened_alert_is_open_again_in_the_projection(database):  # noqa: F811
    # Hypoxic, no values for 40 min, a reading that resolves it, then QC fails that reading: reopened.
    engine = new_engine()
    events = engine.observe([do_reading(m, 1.8) for m in range(0, 70, 10)])
    events += engine.observe([Observation(STATION, "reading", DO, at(m), None, 9) for m in (70, 80, 90, 100)])
    events += engine.observe([do_reading(110, 6.0)])
    events += engine.observe([Observation(STATION, "reading", DO, at(110), 6.0, 4, (("spike", 4),), True)])
    events = [e for e in events if e.rule == "hypoxia"]
    assert [e.kind for e in events] == ["pending", "firing", "resolved", "reopened"]
    conn = await database.connect()
    try:
        await store_alert_events(conn, events[:3])
        assert await open_alerts(conn) == []
        await store_alert_events(conn, events[3:])
        (alert,) = await open_alerts(conn)
        assert (alert["alert_id"], alert["state"], alert["severity"], alert["resolved_us"]) == (
            events[0].alert_id,
            "firing",
            "orange",
            None,
        )
        assert alert["message_en"].startswith("reopened: Low dissolved oxygen orange")
    finally:
        await conn.close()


async def test_acknowledge_escalate_resolve(database):  # noqa: F811
    engine = new_engine()
    events = hypoxic_evening(engine)  # ... orange at 80 min
    alert_id = events[0].alert_id
    events += engine.acknowledge(alert_id, actor="wang", time_us=at(85), comment="boat on its way")
    conn = await database.connect()
    try:
        await store_alert_events(conn, events)
        alert = await get_alert(conn, alert_id)
        assert (alert["acknowledged_by"], alert["acknowledged_us"], alert["ack_comment"]) == (
            "wang",
            at(85),
            "boat on its way",
        )
        assert alert["message_en"].startswith("escalated")  # an operator event keeps the condition text
        # Red (≤ 1.0 mg/L) at 100 min escalates and needs a new acknowledgement.
        await store_alert_events(conn, engine.observe([do_reading(100, 0.9)]))
        alert = await get_alert(conn, alert_id)
        assert (alert["severity"], alert["acknowledged_by"], alert["acknowledged_us"]) == ("red", None, None)
        # Recovery: 3.5 mg/L from 110 min; keep-firing holds through 130 (100 + 30 min, inclusive) → 140.
        recovery = []
        for minutes in (110, 120, 130, 140, 150):
            recovery += engine.observe([do_reading(minutes, 3.5)])
        assert [(e.kind, e.severity, e.time_us) for e in recovery] == [("resolved", "red", at(140))]
        await store_alert_events(conn, recovery)
        alert = await get_alert(conn, alert_id)
        assert (alert["state"], alert["severity"], alert["resolved_us"]) == ("resolved", "red", at(140))
        assert await open_alerts(conn) == []
    finally:
        await conn.close()


async def test_silence_sets_and_clears_silenced_until(database):  # noqa: F811
    engine = new_engine()
    actions = EngineActions(engine, database.url)
    conn = await database.connect()
    try:
        await store_alert_events(conn, hypoxic_evening(engine))
        await actions(
            {
                "type": "silence",
                "id": "maintenance-1",
                "station": STATION,
                "rule": None,
                "ends_us": at(120),
                "actor": "li",
                "time_us": at(90),
                "comment": "sensor cleaning",
            }
        )
        (alert,) = await open_alerts(conn)
        assert alert["silenced_until_us"] == at(120)
        assert [s["id"] for s in await active_silences(conn, at(100))] == ["maintenance-1"]
        assert await active_silences(conn, at(120)) == []
        # The silence ends at 120 min: the engine emits `unsilenced` at that time.
        events = engine.observe([do_reading(100, 1.9), do_reading(110, 1.9), do_reading(125, 1.9)])
        assert [(e.kind, e.time_us) for e in events] == [("unsilenced", at(120))]
        await store_alert_events(conn, events)
        (alert,) = await open_alerts(conn)
        assert alert["silenced_until_us"] is None
        kinds = [(r["kind"], r["actor"]) for r in await alert_history(conn, kind="silenced")]
        assert kinds == [("silenced", "li")]
    finally:
        await conn.close()


async def test_an_alert_opening_during_a_silence_is_shown_silenced(database):  # noqa: F811
    engine = new_engine()
    silence = Silence("quiet", created_us=at(0), ends_us=at(600), actor="li", rule="hypoxia")
    engine.silence(silence)
    conn = await database.connect()
    try:
        await store_silence(conn, silence)
        events = hypoxic_evening(engine)
        assert all(e.channels == () for e in events)  # silenced from the start: nobody is told
        await store_alert_events(conn, events)
        (alert,) = await open_alerts(conn)
        assert alert["silenced_until_us"] == at(600)
        assert await remove_silence(conn, "quiet", at(95))
        assert not await remove_silence(conn, "quiet", at(96))
        events = engine.remove_silence("quiet", actor="li", time_us=at(95))
        await store_alert_events(conn, events)
        (alert,) = await open_alerts(conn)
        assert alert["silenced_until_us"] is None
    finally:
        await conn.close()


async def test_history_filters(database):  # noqa: F811
    engine = new_engine()
    events = hypoxic_evening(engine)
    events += engine.acknowledge(events[0].alert_id, actor="wang", time_us=at(85))
    conn = await database.connect()
    try:
        await store_alert_events(conn, events)
        everything = await alert_history(conn)
        assert [(r["kind"], r["time_us"]) for r in everything] == [
            ("acknowledged", at(85)),
            ("escalated", at(80)),
            ("firing", at(60)),
            ("pending", at(30)),
        ]
        assert [r["kind"] for r in await alert_history(conn, severity="yellow")] == ["firing", "pending"]
        assert [r["kind"] for r in await alert_history(conn, kind="firing")] == ["firing"]
        window = await alert_history(conn, since_us=at(60), until_us=at(85))
        assert [r["kind"] for r in window] == ["escalated", "firing"]
        assert await alert_history(conn, station="dalian") == []
        assert len(await alert_history(conn, station=STATION, rule="hypoxia", limit=2)) == 2
        assert await alert_history(conn, rule="storm_surge_warning") == []
    finally:
        await conn.close()


async def test_station_status_last_seen_and_open_alerts(database):  # noqa: F811
    conn = await database.connect()
    try:
        await conn.executemany(
            """
            INSERT INTO observations (time, station_id, variable, value, qc_flag, received_at)
            VALUES (timestamptz 'epoch' + $1::bigint * interval '1 microsecond', $2, $3, $4, 1, now())
            """,
            [
                (at(0), STATION, "water_temperature_degC", 12.0),
                (at(90), STATION, "dissolved_oxygen_mg_l", 1.8),
                (at(50), STATION, "battery_voltage_v", 12.6),
                (at(5), "dalian", "water_level_m", 3.1),
            ],
        )
        await store_alert_events(conn, hypoxic_evening(new_engine()))
        status = {s["id"]: s for s in await station_status(conn)}
        assert len(status) == 14
        changhai, dalian, lushun = status[STATION], status["dalian"], status["lushun"]
        assert (changhai["last_seen_us"], changhai["open_alerts"], changhai["worst_severity"]) == (
            at(90),
            1,
            "orange",
        )
        assert (dalian["last_seen_us"], dalian["open_alerts"], dalian["worst_severity"]) == (at(5), 0, None)
        assert (lushun["last_seen_us"], lushun["open_alerts"]) == (None, 0)
        assert (changhai["latitude"], changhai["longitude"], changhai["kind"]) == (39.27, 122.58, "seagrass")
    finally:
        await conn.close()


async def test_operator_passwords_are_salted_hashes(database):  # noqa: F811
    conn = await database.connect()
    try:
        await create_operator(conn, "wang", "Wang Lei", "tide-2024!")
        await create_operator(conn, "li", "Li Na", "tide-2024!")
        hashes = [r["password_hash"] for r in await conn.fetch("SELECT password_hash FROM operators")]
        assert len(set(hashes)) == 2  # same password, different salts
        assert all("tide-2024" not in h and h.startswith("scrypt$") for h in hashes)
        assert await verify_operator(conn, "wang", "tide-2024!") == {
            "username": "wang",
            "display_name": "Wang Lei",
            "role": "operator",  # the default role of create_operator
        }
        assert await verify_operator(conn, "wang", "tide-2025!") is None
        assert await verify_operator(conn, "nobody", "tide-2024!") is None
        with pytest.raises(ValueError):
            await create_operator(conn, "empty", "Empty", "")
    finally:
        await conn.close()


def test_alert_ids_carry_the_opening_time():
    (first, *_) = hypoxic_evening(new_engine())
    assert first.alert_id.rsplit("/", 1)[1] == str(T0_US + 30 * 60_000_000)
