"""The tables an alert engine judges with: rules, channels and routing, loaded and checked together once
(the worker at start-up, a reprocess run before it judges anything)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from alerts.channels import Channel, load_channels
from alerts.engine import AlertEngine
from alerts.loader import defined_rule_ids, load_rules
from alerts.routing import Routing, load_routing
from alerts.rules import Rule
from schemas.provenance import digest_of, plain
from schemas.registry import Registry

FilePath = str | os.PathLike[str] | None  # None: the shipped file


@dataclass(frozen=True, slots=True)
class AlertSetup:
    registry: Registry
    rules: Mapping[str, Rule]
    channels: tuple[Channel, ...]
    routing: Routing

    @classmethod
    def load(
        cls, registry: Registry, channels_path: FilePath = None, routing_path: FilePath = None
    ) -> AlertSetup:
        """The shipped rules for the registry's stations, the channel table and the routing file; the
        routing is checked against every rule the files define (a network without tide gauges still
        starts with the shipped routing file, which names water-level rules)."""
        rules = load_rules(registry)
        channels = load_channels(channels_path)
        return cls(
            registry, rules, channels, load_routing({*rules, *defined_rule_ids()}, channels, routing_path)
        )

    @property
    def digest(self) -> str:
        """sha256 over what judges alerts: the rules (not the path of the file each came from) and the
        routing; not the channels, which only deliver (and whose table holds secrets)."""
        rules = {
            rid: {k: v for k, v in plain(rule).items() if k != "source"} for rid, rule in self.rules.items()
        }
        return digest_of({"rules": rules, "routing": plain(self.routing)})

    def engine(self, late_after_s: float, tick_grace_s: float) -> AlertEngine:
        """A blank engine over these tables."""
        return AlertEngine(
            self.registry,
            self.rules,
            self.channels,
            late_after_us=round(late_after_s * 1e6),
            tick_grace_us=round(tick_grace_s * 1e6),
            routing=self.routing,
        )
