"""Alert ids are built and parsed in one place (schemas/alert_ids.py)."""

from __future__ import annotations

import pytest

from schemas.alert_ids import alert_id, opened_us, parse_alert_id


def test_an_id_parses_back_into_its_parts() -> None:
    built = alert_id("dalian", "storm_surge", 1_790_000_000_000_000)
    assert built == "dalian/storm_surge/1790000000000000"
    assert parse_alert_id(built) == ("dalian", "storm_surge", 1_790_000_000_000_000)
    assert opened_us(built) == 1_790_000_000_000_000


@pytest.mark.parametrize(
    "text", ["", "dalian", "dalian/storm_surge", "dalian/storm_surge/soon", "/r/1", "s//1"]
)
def test_what_is_not_an_id_is_refused(text: str) -> None:
    assert parse_alert_id(text) is None
    with pytest.raises(ValueError, match="not an alert id"):
        opened_us(text)
