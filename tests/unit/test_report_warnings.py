"""Which stored alerts the report counts as warnings issued: replayed from their events (retracted and
pending-only alerts are not warnings; the level is the highest fired at; the time the first firing)."""

from __future__ import annotations

from services.report.base import date_us
from services.report.warnings import AlertEventRow, alert_rows

H = 3_600_000_000
T0 = date_us(2026, 3, 1)


def _events(alert: str, *steps: tuple[str, str | None, str | None, int], ack: int | None = None):  # type: ignore[no-untyped-def]
    return [
        AlertEventRow(alert, "g1", "water_level_warning", seq, kind, state, severity, T0 + dt, ack)
        for seq, (kind, state, severity, dt) in enumerate(steps)
    ]


def test_fired_alerts_count_with_their_highest_level_and_first_firing_time() -> None:
    events = _events(
        "a", ("pending", "pending", "blue", 0), ("firing", "firing", "blue", H),
        ("escalated", "firing", "orange", 2 * H), ("deescalated", "firing", "yellow", 3 * H),
        ("resolved", "resolved", "yellow", 4 * H), ack=T0 + H + 600_000_000,
    )  # fmt: skip
    (row,) = alert_rows(events, 2026)
    assert (row.severity, row.opened_us, row.fired, row.withdrawn) == ("orange", T0 + H, True, False)
    assert row.acknowledged_us - row.opened_us == 600_000_000  # 10 min from the first firing


def test_retracted_and_pending_only_alerts_are_not_warnings() -> None:
    spike = _events("s", ("firing", "firing", "red", 0), ("retracted", "resolved", "red", 60_000_000))
    pending = _events("p", ("pending", "pending", "yellow", 0), ("resolved", "resolved", "yellow", H))
    rows = alert_rows(spike + pending, 2026)  # by alert id: p, s
    assert [(r.fired, r.withdrawn) for r in rows] == [(False, False), (False, True)]


def test_a_correction_sets_the_level_or_takes_the_firing_back() -> None:
    lowered = _events(
        "c", ("firing", "firing", "yellow", 0), ("escalated", "firing", "red", H),
        ("corrected", "firing", "yellow", H + 1), ("resolved", "resolved", "yellow", 2 * H),
    )  # fmt: skip
    (row,) = alert_rows(lowered, 2026)
    assert (row.severity, row.fired, row.opened_us) == ("yellow", True, T0)
    back = _events("d", ("firing", "firing", "orange", 0), ("corrected", "pending", "orange", 1))
    (row,) = alert_rows(back, 2026)
    assert (row.fired, row.withdrawn) == (False, True)
    refired = _events(
        "e", ("firing", "firing", "red", 0), ("retracted", "resolved", "red", 1),
        ("reopened", "firing", "blue", H),
    )  # fmt: skip
    (row,) = alert_rows(refired, 2026)
    assert (row.severity, row.fired, row.withdrawn, row.opened_us) == ("blue", True, False, T0 + H)


def test_the_year_is_the_first_firing_and_old_rows_without_state_still_count() -> None:
    late = [
        AlertEventRow(
            "x", "g1", "wave_warning", 0, "pending", None, "blue", date_us(2025, 12, 31) + 23 * H, None
        ),
        AlertEventRow("x", "g1", "wave_warning", 1, "firing", None, "blue", date_us(2026, 1, 1) + H, None),
    ]
    assert [r.opened_us for r in alert_rows(late, 2026)] == [date_us(2026, 1, 1) + H]
    assert alert_rows(late, 2025) == []
