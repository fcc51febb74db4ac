"""Which notification channels get an alert event: pure routing over data from ``channels.yaml``.

Sending is the I/O layer's job; deciding is here, so it is tested without a mail server. Each channel
lists the severities and event kinds it takes; a resolved notice goes where the alert's peak severity
went, so whoever was told about an alert is also told that it is over.

A channel's `type` says which sender delivers it (default: its name, so `webhook` and `email` need
none); several channels may share a type, e.g. a duty officer's and a head of centre's DingTalk group.
The table is the file the caller names (``TIDEWATCH_CHANNELS``, see services/config.py), else the
shipped one.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from alerts.loader import RuleError
from alerts.severity import SEVERITIES, rank
from schemas.documents import convert, read_yaml

EVENT_KINDS = (
    "pending",
    "firing",
    "escalated",
    "deescalated",
    "renotify",
    "resolved",
    "acknowledged",
    "silenced",
    "unsilenced",
)
# Senders the notifier has (services/notify); the secrets of each come from the environment.
CHANNEL_TYPES = ("webhook", "email", "dingtalk", "wecom", "feishu", "sms", "alertmanager")
# A name that turns into environment variable names (TIDEWATCH_<NAME>_URL) without clashes.
CHANNEL_NAME = re.compile(r"[a-z][a-z0-9_]*\Z")


# Events a channel takes under the name of the event it corrects: a retraction goes wherever the
# resolution would have gone, a correction of the level wherever a de-escalation would, a reopening
# (QC withdrew the reading that resolved the alert) wherever a firing would.
ROUTED_AS = {"retracted": "resolved", "corrected": "deescalated", "reopened": "firing"}


@dataclass(frozen=True, slots=True)
class Channel:
    name: str
    min_severity: int
    events: frozenset[str]
    type: str = "webhook"


class _ChannelSpec(msgspec.Struct):
    """One channel as written in the table (unknown fields are ignored)."""

    min_severity: str
    events: list[str]
    type: str | None = None


class _ChannelTable(msgspec.Struct):
    channels: dict[str, Any]


def _channel(name: str, spec: Any, source: str) -> Channel:
    where = f"{source}: channel {name!r}"
    if not isinstance(spec, Mapping):
        raise RuleError(f"{where}: expected a mapping")
    if not CHANNEL_NAME.match(name):
        raise RuleError(f"{where}: a name is lower-case letters, digits and '_', a letter first")
    channel = convert(spec, _ChannelSpec, lambda p: RuleError(f"{where} field {p.field!r}: {p.complaint()}"))
    channel_type = channel.type or name
    if channel_type not in CHANNEL_TYPES:
        raise RuleError(f"{where} field 'type': expected one of {', '.join(CHANNEL_TYPES)}")
    if channel.min_severity not in SEVERITIES:
        raise RuleError(f"{where} field 'min_severity': unknown severity {channel.min_severity!r}")
    events = channel.events  # empty: a channel only escalation tiers use (alerts/routing.py)
    if any(e not in EVENT_KINDS for e in events):
        raise RuleError(f"{where} field 'events': expected a list from {', '.join(EVENT_KINDS)}")
    if "pending" in events:
        raise RuleError(f"{where} field 'events': pending alerts are not notified")
    return Channel(name, rank(channel.min_severity), frozenset(events), channel_type)


def parse_channels(document: Any, source: str) -> tuple[Channel, ...]:
    shape_error = RuleError(f"{source}: expected a mapping with a 'channels' mapping")
    table = convert(document, _ChannelTable, lambda _: shape_error)
    return tuple(_channel(str(name), spec, source) for name, spec in table.channels.items())


def load_channels(path: str | os.PathLike[str] | None = None) -> tuple[Channel, ...]:
    """The channel table at ``path`` (default: the shipped ``alerts/channels.yaml``)."""
    path = Path(path) if path else Path(str(resources.files("alerts").joinpath("channels.yaml")))
    return parse_channels(read_yaml(path, lambda reason: RuleError(f"{path}: {reason}")), str(path))


def route(
    channels: Iterable[Channel], kind: str, severity_rank: int, *, fired: bool, silenced: bool
) -> tuple[str, ...]:
    """Channels for one event. Nothing for an alert that never fired or is silenced (except the
    silenced/unsilenced notices themselves)."""
    if not fired or (silenced and kind != "silenced"):
        return ()
    kind = ROUTED_AS.get(kind, kind)
    return tuple(c.name for c in channels if kind in c.events and severity_rank >= c.min_severity)
