"""A dead letter counts in the year of the reading it carries, else in the year it was received; the
report's note says so and how many counted by receipt."""

from __future__ import annotations

import dataclasses

from schemas.contract import parse_time_us
from services.report.assemble import ReportInputs, StationInfo, assemble
from services.report.base import date_us
from services.report.dead_letters import count_by_reason, counted_time_us
from services.report.render import to_html

RECEIVED = date_us(2026, 3, 1)
READING = "2025-06-30T23:59:00Z"


def test_the_reading_time_of_a_whole_or_truncated_message() -> None:
    whole = b'{"station":"dalian","time":"2025-06-30T23:59:00Z","values":{"water_level_m":1.2}}'
    assert counted_time_us(whole, RECEIVED) == (parse_time_us(READING), True)
    truncated = whole[:60]  # still shows its time, no longer JSON
    assert counted_time_us(truncated, RECEIVED) == (parse_time_us(READING), True)
    offset = b'{"station":"dalian","time":"2025-07-01T07:59:00+08:00","values":{}}'
    assert counted_time_us(offset, RECEIVED) == (parse_time_us(READING), True)


def test_the_receive_time_without_a_usable_reading_time() -> None:
    for payload in (
        b"\xff\xfe not a message",
        b'{"station":"dalian","values":{}}',
        b'{"station":"dalian","time":"2025-13-01T00:00:00Z","values":{}}',  # no such month
        b'{"station":"dalian","time":"2025-06-30 23:59","values":{}}',  # no offset
        b'{"station":"dalian","time":"2026-03-02T00:00:00Z","values":{}}',  # after it was received
    ):
        assert counted_time_us(payload, RECEIVED) == (RECEIVED, False), payload


def test_count_by_reason_in_a_year() -> None:
    replayed = b'{"time":"2025-05-01T00:00:00Z"}'
    letters = [
        ("wrong_unit", replayed, RECEIVED),  # 2025 by its reading
        ("wrong_unit", replayed, RECEIVED),
        ("malformed_json", b"{", date_us(2025, 12, 31)),  # 2025 by receipt
        ("malformed_json", b"{", RECEIVED),  # 2026 by receipt
        ("bad_time", b'{"time":"yesterday"}', RECEIVED),
    ]
    assert count_by_reason(letters, date_us(2025, 1, 1), date_us(2026, 1, 1)) == (
        {"malformed_json": 1, "wrong_unit": 2},
        1,
    )
    assert count_by_reason(letters, date_us(2026, 1, 1), date_us(2027, 1, 1)) == (
        {"bad_time": 1, "malformed_json": 1},
        2,
    )


def test_the_annex_says_how_letters_are_counted() -> None:
    inputs = ReportInputs(
        year=2025, scope="network", stations=[StationInfo("g1", "Gauge", "验潮站", "tide_gauge", "bay")],
        msl={}, alerts=[], qc_counts=[], dead_letters={"wrong_unit": 5}, as_of_us=None,
        generated_at="2026-01-01T00:00:00Z", config_versions={}, lang="en",
    )  # fmt: skip
    for by_receipt in (0, 3):
        page = to_html(assemble(dataclasses.replace(inputs, dead_letters_by_receipt=by_receipt)))
        assert "in the year of the reading they carry" in page
        assert f"in the year received: {by_receipt}" in page
