"""Alert events on MQTT for field systems: ``tidewatch/v1/alerts/{network}/{station}/{rule}``, QoS 1.

While an alert is open (the event's ``state`` is pending or firing) its latest event is the topic's
retained message, so a field system that connects later learns the current state at once; the event
that leaves it resolved is published once (not retained) and then the retained message is cleared with
an empty retained payload — subscribers ignore empty payloads. Each message is the stored event, its
``state`` among the fields, with the station's ``network``.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import aiomqtt
import orjson

from alerts.events import AlertEvent, closes
from schemas.registry import Registry, load_registry
from services.config import Settings
from services.mqtt_auth import aiomqtt_options

TOPIC_ROOT = "tidewatch/v1/alerts"


def alert_topic(network: str, station: str, rule: str) -> str:
    return f"{TOPIC_ROOT}/{network}/{station}/{rule}"


@lru_cache(maxsize=4)
def _registry(path: str | None) -> Registry:
    return load_registry(path)


def _network_of(station: str, registry: Registry) -> str:
    known = registry.get(station)
    return known.network if known is not None else registry.network


def alert_message(event: AlertEvent, network: str) -> bytes:
    return orjson.dumps(event.to_dict() | {"network": network})


async def _publish(
    client: aiomqtt.Client, events: Sequence[AlertEvent], network: str | None, registry: Registry
):
    for event in sorted(events, key=lambda e: (e.alert_id, e.seq)):
        net = network or _network_of(event.station, registry)
        topic = alert_topic(net, event.station, event.rule)
        resolved = closes(event)
        await client.publish(topic, alert_message(event, net), qos=1, retain=not resolved)
        if resolved:
            await client.publish(topic, b"", qos=1, retain=True)


async def publish_alert_events(
    client_or_settings: aiomqtt.Client | Settings,
    events: Sequence[AlertEvent],
    *,
    network: str | None = None,
    registry: Registry | None = None,
) -> int:
    """Publish events in (alert, seq) order; returns how many events were published.

    Give a connected ``aiomqtt.Client`` to reuse a connection, or Settings to connect for this call.
    `network` overrides the station's network from the registry (tests use a private one).
    """
    if not events:
        return 0
    if isinstance(client_or_settings, Settings):
        settings = client_or_settings
        registry = registry or _registry(settings.registry_path)
        options: dict[str, Any] = aiomqtt_options(settings.mqtt_target("alerts"))  # typed per keyword
        client = aiomqtt.Client(
            **options,
            identifier=f"tidewatch-alerts-{uuid.uuid4().hex[:8]}",
        )
        async with client:
            await _publish(client, events, network, registry)
    else:
        await _publish(client_or_settings, events, network, registry or _registry(None))
    return len(events)
