"""Routing beyond the channel table, as data: inhibition, escalation tiers and incident groups.

``alerts/routing.yaml`` (or the file ``TIDEWATCH_ROUTING`` names) says
- which alerts hold which others' notices at the same station (a silent station's sensor faults are
  recorded, not notified) and which rules are levels of one hazard (the higher one's open alert holds
  the lower one's notices);
- the escalation tiers after the channel table (tier 1): how long an alert may stay unacknowledged
  at each severity before the next tier is told, and each tier's channels;
- which rules form one incident across stations (group key: rule, area or network, time window) and
  which channels get one group notice instead of every member's.
The file is read and checked once at start-up against the rules and the channel table (errors name
the file and field); these frozen objects are what the engine and the notifier read.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import msgspec

from alerts.channels import Channel
from alerts.loader import RuleError, _Where, parse_duration_us
from alerts.severity import SEVERITIES, rank
from schemas.documents import convert, read_yaml

GROUP_KEYS = ("rule", "area", "network")


@dataclass(frozen=True, slots=True)
class Inhibition:
    """While an alert of a `sources` rule fires at `min_severity` or above at a station, the notices
    of the `targets` rules' alerts at that station are held (recorded, sent nowhere)."""

    id: str
    sources: frozenset[str]
    min_severity: int
    targets: frozenset[str]


@dataclass(frozen=True, slots=True)
class Tier:
    number: int  # 2, 3 …: tier 1 is the channel table's routing
    name: str
    channels: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Escalation:
    tiers: tuple[Tier, ...] = ()
    # Per severity rank: how long an unacknowledged alert waits before each further tier (the first
    # delay counts from its notice, each next one from the step before).
    after_us: Mapping[int, tuple[int, ...]] = field(default_factory=dict)

    def delay_us(self, severity: int, tier: int) -> int | None:
        """How long after reaching `tier` an alert of `severity` goes on to the next one (None: never)."""
        delays = self.after_us.get(severity, ())
        return delays[tier - 1] if tier - 1 < len(delays) else None

    def tier(self, number: int) -> Tier:
        return self.tiers[number - 2]


@dataclass(frozen=True, slots=True)
class GroupSpec:
    """Alerts of `rules` whose stations share the `by` keys and that opened in one `window_us` (UTC,
    counted from the epoch) are one incident; `channels` get the incident's notice instead of the
    members' own."""

    id: str
    rules: frozenset[str]
    by: tuple[str, ...]
    window_us: int
    channels: frozenset[str]


@dataclass(frozen=True, slots=True)
class Routing:
    inhibitions: tuple[Inhibition, ...] = ()
    hazards: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    escalation: Escalation = field(default_factory=Escalation)
    groups: tuple[GroupSpec, ...] = ()

    def group_of(self, rule: str) -> GroupSpec | None:
        return next((g for g in self.groups if rule in g.rules), None)


# -- the file's shape --------------------------------------------------------------------------------
class _When(msgspec.Struct, forbid_unknown_fields=True):
    rules: list[str]
    min_severity: str = "blue"


class _InhibitSpec(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    when: _When
    hold: list[str]


class _TierSpec(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    channels: list[str]


class _EscalationSpec(msgspec.Struct, forbid_unknown_fields=True):
    tiers: list[_TierSpec] = []
    after: dict[str, list[str | float]] = {}


class _GroupSpec(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    rules: list[str]
    window: str | float
    channels: list[str]
    by: list[str] = msgspec.field(default_factory=lambda: ["rule", "area"])


class _RoutingSpec(msgspec.Struct, forbid_unknown_fields=True):
    inhibit: list[_InhibitSpec] = []
    hazards: dict[str, list[str]] = {}
    escalation: _EscalationSpec | None = None
    groups: list[_GroupSpec] = []


def _known(names: Iterable[str], known: Iterable[str], what: str, where: _Where, at: str) -> None:
    known = set(known)
    for item in names:
        if item not in known:
            raise where.error(at, f"no {what} {item!r}")


def _severity(value: str, where: _Where, at: str) -> int:
    if value not in SEVERITIES:
        raise where.error(at, f"unknown severity {value!r}; use one of {', '.join(SEVERITIES)}")
    return rank(value)


def _escalation(spec: _EscalationSpec | None, channels: set[str], where: _Where) -> Escalation:
    if spec is None:
        return Escalation()
    tiers = []
    for i, tier in enumerate(spec.tiers):
        _known(tier.channels, channels, "channel", where, f"escalation.tiers[{i}].channels")
        if not tier.channels:
            raise where.error(f"escalation.tiers[{i}].channels", "a tier needs at least one channel")
        tiers.append(Tier(i + 2, tier.name, tuple(tier.channels)))
    after: dict[int, tuple[int, ...]] = {}
    for severity, delays in spec.after.items():
        at = f"escalation.after.{severity}"
        parsed = tuple(parse_duration_us(d, where, at) for d in delays)
        if len(parsed) > len(tiers):
            raise where.error(at, f"{len(parsed)} delays but only {len(tiers)} tier(s) after tier 1")
        if any(d <= 0 for d in parsed):
            raise where.error(at, "every delay must be positive")
        after[_severity(severity, where, at)] = parsed
    return Escalation(tuple(tiers), after)


def parse_routing(document: Any, rules: Iterable[str], channels: Iterable[Channel], source: str) -> Routing:
    """The routing document checked against the rule ids and the channel table."""
    where = _Where(source)
    spec = convert(document or {}, _RoutingSpec, lambda p: where.error(p.field, p.complaint()))
    channels = tuple(channels)
    rule_ids, channel_names = set(rules), {c.name for c in channels}
    inhibitions = []
    for i, inhibit in enumerate(spec.inhibit):
        _known(inhibit.when.rules, rule_ids, "rule", where, f"inhibit[{i}].when.rules")
        _known(inhibit.hold, rule_ids, "rule", where, f"inhibit[{i}].hold")
        if set(inhibit.when.rules) & set(inhibit.hold):
            raise where.error(f"inhibit[{i}].hold", "a rule cannot hold its own notices")
        severity = _severity(inhibit.when.min_severity, where, f"inhibit[{i}].when.min_severity")
        inhibitions.append(
            Inhibition(inhibit.id, frozenset(inhibit.when.rules), severity, frozenset(inhibit.hold))
        )
    for hazard, members in spec.hazards.items():
        _known(members, rule_ids, "rule", where, f"hazards.{hazard}")
        if len(set(members)) < 2:
            raise where.error(f"hazards.{hazard}", "a hazard needs two or more rules")
    groups: list[GroupSpec] = []
    grouped: set[str] = set()
    for i, group in enumerate(spec.groups):
        _known(group.rules, rule_ids, "rule", where, f"groups[{i}].rules")
        _known(group.channels, channel_names, "channel", where, f"groups[{i}].channels")
        if any(c.name in group.channels and c.type == "alertmanager" for c in channels):
            raise where.error(f"groups[{i}].channels", "Alertmanager groups alerts itself; leave it out")
        _known(group.by, GROUP_KEYS, "group key", where, f"groups[{i}].by")
        if set(group.rules) & grouped:
            raise where.error(f"groups[{i}].rules", "a rule can be in one group only")
        grouped |= set(group.rules)
        window_us = parse_duration_us(group.window, where, f"groups[{i}].window")
        if window_us <= 0:
            raise where.error(f"groups[{i}].window", "must be positive")
        by = tuple(k for k in GROUP_KEYS if k in group.by)
        groups.append(GroupSpec(group.id, frozenset(group.rules), by, window_us, frozenset(group.channels)))
    return Routing(
        tuple(inhibitions),
        {h: tuple(m) for h, m in spec.hazards.items()},
        _escalation(spec.escalation, channel_names, where),
        tuple(groups),
    )


def load_routing(
    rules: Mapping[str, Any] | Iterable[str],
    channels: Iterable[Channel],
    path: str | os.PathLike[str] | None = None,
) -> Routing:
    """The routing file at ``path`` (default: the shipped ``alerts/routing.yaml``), checked against
    ``rules``: the rule ids the rule files define (``defined_rule_ids``), active here or not."""
    path = Path(path) if path else Path(str(resources.files("alerts").joinpath("routing.yaml")))
    document = read_yaml(path, lambda reason: RuleError(f"{path}: {reason}"))
    return parse_routing(document, rules, channels, str(path))
