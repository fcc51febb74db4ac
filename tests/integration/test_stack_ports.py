"""A port picked for a broker can be taken before the broker binds it (CI: a module's private
Mosquitto found its port in use and 78 tests errored): the launcher starts it again on a new port.

The port is taken here on purpose, by a socket bound to it (not listening, so nothing answers on it),
and the port picker is made to hand out that port first."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.stack import kafka, mqtt
from services.stack.process import PortTaken, free_port, port_open


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


def _picker_handing_out_first(port: int):  # type: ignore[no-untyped-def]
    handed = iter([port])
    return lambda: next(handed, None) or free_port()


async def test_mosquitto_starts_on_new_ports_when_a_picked_one_is_taken(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(mqtt, "free_port", _picker_handing_out_first(taken_port))
    child, broker = await mqtt.start_mqtt_broker(tmp_path / "mqtt")
    try:
        assert broker.port != taken_port
        assert port_open("127.0.0.1", broker.port)
        assert "Address already in use" in (tmp_path / "mqtt" / "mqtt.log").read_text()
    finally:
        child.stop()


async def test_mosquitto_on_a_named_port_that_is_taken_says_so(tmp_path: Path, taken_port: int) -> None:
    with pytest.raises(PortTaken, match="in use"):
        await mqtt.start_mqtt_broker(tmp_path / "mqtt", port=taken_port)


async def test_tansu_starts_on_a_new_port_when_the_picked_one_is_taken(
    tmp_path: Path, taken_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(kafka, "free_port", _picker_handing_out_first(taken_port))
    child, url = await kafka.start_tansu(tmp_path)
    try:
        assert not url.endswith(f":{taken_port}")
        assert port_open("127.0.0.1", int(url.rsplit(":", 1)[1]))
    finally:
        child.stop()
