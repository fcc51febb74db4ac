"""Credentials and TLS in TIDEWATCH_MQTT_URL, the broker's password format and the ingest client id."""

from __future__ import annotations

import base64
import hashlib

import pytest

from services.config import Settings
from services.mqtt_auth import parse_mqtt_url, private_client_id
from services.mqtt_auth.accounts import password_entry, set_password


def test_url_carries_account_and_tls():
    plain = parse_mqtt_url("mqtt://ingest:p%40ss%3Aw@broker:1884")
    assert (plain.host, plain.port, plain.username, plain.password, plain.tls) == (
        "broker",
        1884,
        "ingest",
        "p@ss:w",
        False,
    )
    tls = parse_mqtt_url("mqtts://station-1:x@broker", ca_file="/ca.crt")
    assert (tls.port, tls.tls, tls.ca_file) == (8883, True, "/ca.crt")
    assert parse_mqtt_url("mqtts://h").tls_context() is not None and plain.tls_context() is None
    assert parse_mqtt_url("127.0.0.1:1883").username is None


def test_each_role_uses_its_own_account():
    settings = Settings(mqtt_url="mqtt://ingest:a@h:1", mqtt_alerts_url="mqtt://alerts:b@h:1")
    assert settings.mqtt_target().username == "ingest"
    assert settings.mqtt_target("alerts").username == "alerts"
    assert settings.mqtt_target("publish").username == "ingest"  # unset: falls back to mqtt_url


def test_password_entry_is_pbkdf2_sha512_as_mosquitto_reads_it():
    salt = bytes(range(12))
    user, encoded = password_entry("dalian", "secret", salt).split(":", 1)
    _, kind, iterations, salt_b64, digest_b64 = encoded.split("$")
    assert (user, kind) == ("dalian", "7")
    assert base64.b64decode(salt_b64) == salt
    assert base64.b64decode(digest_b64) == hashlib.pbkdf2_hmac("sha512", b"secret", salt, int(iterations))
    with pytest.raises(ValueError):
        password_entry("a:b", "x")


def test_rotation_replaces_the_one_entry(tmp_path):
    path = tmp_path / "passwd"
    first = set_password(path, "dalian")
    set_password(path, "yingkou")
    second = set_password(path, "dalian")
    users = [line.split(":", 1)[0] for line in path.read_text().splitlines()]
    assert sorted(users) == ["dalian", "yingkou"] and first != second
    assert path.stat().st_mode & 0o077 == 0


def test_ingest_client_id_is_stable_but_not_guessable():
    target = parse_mqtt_url("mqtt://ingest:secret@h")
    same = private_client_id("tidewatch-ingest", target, "replica-1")
    assert same == private_client_id("tidewatch-ingest", target, "replica-1")
    assert same != private_client_id("tidewatch-ingest", target, "replica-2")
    assert same != private_client_id("tidewatch-ingest", parse_mqtt_url("mqtt://ingest:other@h"), "replica-1")
    assert "replica-1" not in same and "secret" not in same
