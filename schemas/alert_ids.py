"""Alert ids: ``<station>/<rule>/<opened_us>``, the data time (µs, UTC) of the input that opened it.

Built by the alert engine, parsed by the engine (an acknowledgement), its grouping, the database layer
and the console's actions: here, once. Station and rule ids contain no ``/`` (MQTT topic levels and
YAML ids), so the last two ``/`` split an id.
"""

from __future__ import annotations


def alert_id(station: str, rule: str, opened_us: int) -> str:
    return f"{station}/{rule}/{opened_us}"


def parse_alert_id(alert_id: str) -> tuple[str, str, int] | None:
    """(station, rule, opened_us), or None for a string that is not an alert id."""
    parts = alert_id.rsplit("/", 2)
    if len(parts) != 3 or not parts[0] or not parts[1]:
        return None
    try:
        return parts[0], parts[1], int(parts[2])
    except ValueError:
        return None


def opened_us(alert_id: str) -> int:
    """The opening time of a well-formed id (ValueError otherwise)."""
    parsed = parse_alert_id(alert_id)
    if parsed is None:
        raise ValueError(f"not an alert id: {alert_id!r}")
    return parsed[2]
