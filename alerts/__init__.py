"""Early-warning rules and the alert lifecycle: pure, event-time, deterministic (no I/O)."""

from alerts.channels import Channel, load_channels, route
from alerts.engine import AlertEngine
from alerts.events import AlertEvent
from alerts.inputs import INDICATOR, READING, Observation
from alerts.loader import RuleError, load_rules
from alerts.rules import Rule
from alerts.silences import Silence

__all__ = [
    "INDICATOR",
    "READING",
    "AlertEngine",
    "AlertEvent",
    "Channel",
    "Observation",
    "Rule",
    "RuleError",
    "Silence",
    "load_channels",
    "load_rules",
    "route",
]
