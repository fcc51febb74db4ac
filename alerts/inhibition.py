"""Which open alert holds another's notices at the same station (pure; rules in alerts/routing.yaml).

Inhibition looks only at the station's own alerts, which live in one partition's engine, so it is
decided in log order like everything else the engine does and a replay holds the same notices.
A held notice is still an alert event (recorded, shown in the console), routed to no channel.
"""

from __future__ import annotations

from collections.abc import Mapping

from alerts.lifecycle import FIRING, AlertState
from alerts.routing import Routing
from alerts.severity import name


def held_by(routing: Routing, alerts: Mapping[str, AlertState], rule_id: str, severity: int) -> str | None:
    """Why a notice of `rule_id`'s alert at `severity` is held at this station (``"station_silent
    yellow"``), None when nothing holds it. `alerts` are the station's alerts by rule id."""
    for inhibition in routing.inhibitions:
        if rule_id in inhibition.targets:
            for source in sorted(inhibition.sources):
                alert = alerts.get(source)
                if alert is not None and alert.phase == FIRING and alert.severity >= inhibition.min_severity:
                    return f"{source} {name(alert.severity)}"
    for members in routing.hazards.values():
        if rule_id in members:
            for other in members:
                alert = alerts.get(other)
                if (
                    other != rule_id
                    and alert is not None
                    and alert.phase == FIRING
                    and alert.severity > severity
                ):
                    return f"{other} {name(alert.severity)}"
    return None
