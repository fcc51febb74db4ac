"""Ingest's manual-ack adapter (services/ingest/manual_ack.py) on a real aiomqtt client: it turns off
paho's acknowledgement on receipt, and refuses an aiomqtt that no longer wraps a paho client."""

from __future__ import annotations

import aiomqtt
import pytest

from services.ingest.manual_ack import ManualAck


async def test_turns_off_acknowledgement_on_receipt() -> None:
    client = aiomqtt.Client("127.0.0.1", protocol=aiomqtt.ProtocolVersion.V5)
    paho = client._client
    assert paho._manual_ack is False
    ManualAck(client)
    assert paho._manual_ack is True


async def test_an_aiomqtt_without_its_paho_client_is_refused_at_start() -> None:
    client = aiomqtt.Client("127.0.0.1", protocol=aiomqtt.ProtocolVersion.V5)
    client._client = None  # as if aiomqtt renamed it
    with pytest.raises(RuntimeError, match="no longer wraps a paho client as '_client'"):
        ManualAck(client)
