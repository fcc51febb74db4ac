"""Manual MQTT acknowledgement: the one place ingest reaches past aiomqtt's public API.

Why: ingest sends a QoS 1 message's PUBACK only after Kafka holds every record made from it (see
services/ingest/service.py), so a crash leaves it unacknowledged and the broker redelivers it.
aiomqtt 2.5 acknowledges on receipt and offers no manual-ack switch; the paho client it wraps
(``aiomqtt.Client._client``, private) does: ``manual_ack_set(True)`` before connecting, then
``ack(mid, qos)`` per message, in arrival order. If aiomqtt renames that attribute or gains a public
API, this module is all that changes, and ingest fails at start-up here rather than acknowledging on
receipt unnoticed.
"""

from __future__ import annotations

import aiomqtt
import paho.mqtt.client as paho


class ManualAck:
    """Acknowledgements of one aiomqtt client's QoS 1 messages, sent when ingest says so."""

    __slots__ = ("_paho",)

    def __init__(self, client: aiomqtt.Client) -> None:
        inner = getattr(client, "_client", None)
        if not isinstance(inner, paho.Client):
            raise RuntimeError(
                f"aiomqtt {getattr(aiomqtt, '__version__', '?')} no longer wraps a paho client as "
                "'_client': ingest cannot acknowledge messages after Kafka holds them"
            )
        inner.manual_ack_set(True)  # before connecting: paho then leaves every PUBACK to ack()
        self._paho = inner

    def ack(self, mid: int) -> None:
        """PUBACK of QoS 1 message ``mid`` (call in arrival order)."""
        self._paho.ack(mid, 1)
