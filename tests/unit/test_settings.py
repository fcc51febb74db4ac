"""The settings object: every TIDEWATCH_* variable is read in services/config.py, typed, and listed in the
README's configuration table with its default."""

from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

import pytest

from services.config import CHANNEL_VARIABLES, ENV_VARIABLES, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
# Reading the environment anywhere but services/config.py (passing it on to a child process is fine).
ENV_READ = re.compile(r"environ\.get\(|environ\[|getenv\(|in os\.environ")


def readme_table() -> dict[str, str]:
    """Variable → default cell of the README's configuration table."""
    section = (ROOT / "README.md").read_text(encoding="utf-8").split("\n## Configuration\n", 1)[1]
    section = section.split("\n### ", 1)[0]
    rows = re.findall(r"^\| `(TIDEWATCH_[A-Z0-9_<>]+)` \| ([^|]*) \|", section, flags=re.M)
    assert rows, "no configuration table found"
    return dict(rows)


def documented_default(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, tuple):
        return ",".join(value)
    return str(value)


def test_the_readme_table_lists_exactly_the_variables_the_settings_read():
    table = readme_table()
    known = set(ENV_VARIABLES) | set(CHANNEL_VARIABLES)
    assert sorted(set(table) - known) == [], "documented but never read"
    assert sorted(known - set(table)) == [], "read but not documented"
    assert len(table) == len(known)


def test_the_readme_defaults_are_the_code_defaults():
    table = readme_table()
    checked = 0
    for f in fields(Settings):
        cell = table.get(f.metadata.get("env", ""), "")
        literal = re.fullmatch(r"`([^`]*)`", cell.strip())
        if literal and not literal[1].startswith("TIDEWATCH_"):
            assert literal[1] == documented_default(f.default), f.metadata["env"]
            checked += 1
    assert checked > 30


def test_no_module_but_the_settings_reads_the_environment():
    readers = [
        f"{path.relative_to(ROOT)}:{number}"
        for folder in ("services", "streams", "alerts", "schemas")
        for path in sorted((ROOT / folder).rglob("*.py"))
        if path != ROOT / "services" / "config.py"
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if ENV_READ.search(line)
    ]
    assert readers == []


def test_variables_are_typed_and_empty_keeps_the_default():
    settings = load_settings(
        {
            "TIDEWATCH_TOPIC_PARTITIONS": "8",
            "TIDEWATCH_INGEST_LINGER_MS": "5.5",
            "TIDEWATCH_QC": "off",
            "TIDEWATCH_AGENTS": "store, indicate,",
            "TIDEWATCH_CONSOLE_TRUSTED_PROXIES": "10.0.0.1,10.0.0.2",
            "TIDEWATCH_CONSOLE_COOKIE_SECURE": "ALWAYS",
            "TIDEWATCH_MQTT_CA_FILE": "",
            "TIDEWATCH_WORKER_ID": "",
        }
    )
    assert (settings.topic_partitions, settings.ingest_linger_ms, settings.qc_enabled) == (8, 5.5, False)
    assert settings.agents == ("store", "indicate")
    assert settings.console_trusted_proxies == ("10.0.0.1", "10.0.0.2")
    assert settings.console_cookie_secure == "always"
    assert (settings.mqtt_ca_file, settings.worker_id) == (None, "tidewatch")
    assert settings.given == {"topic_partitions", "ingest_linger_ms", "qc_enabled", "agents"} | {
        "console_trusted_proxies",
        "console_cookie_secure",
    }


def test_a_bad_number_names_its_variable():
    with pytest.raises(ValueError, match=r"TIDEWATCH_API_PORT='80a': expected a number"):
        load_settings({"TIDEWATCH_API_PORT": "80a"})


def test_a_channel_reads_the_variables_named_after_it_and_keeps_credentials_out_of_repr():
    settings = load_settings(
        {
            "TIDEWATCH_HEAD_SMS_URL": "https://sms.example/send?key=k3y-0123",
            "TIDEWATCH_HEAD_SMS_SECRET": "s3cret-sms",
            "TIDEWATCH_HEAD_SMS_TO": "+8613800000001, +8613800000002",
            "TIDEWATCH_ALERTMANAGER_HOLD_S": "3600",
            "TIDEWATCH_CONSOLE_SECRET": "cookie-s3cret",
        }
    )
    sms = settings.channel("head_sms")
    assert (sms.url, sms.secret) == ("https://sms.example/send?key=k3y-0123", "s3cret-sms")
    assert sms.recipients == ("+8613800000001", "+8613800000002") and sms.hold_s is None
    assert settings.channel("alertmanager").hold_s == 3600.0
    assert settings.channel("duty_dingtalk").url is None
    shown = repr(settings) + repr(sms)
    assert "s3cret" not in shown and "k3y-0123" not in shown
    with pytest.raises(ValueError, match="TIDEWATCH_ALERTMANAGER_HOLD_S"):
        load_settings({"TIDEWATCH_ALERTMANAGER_HOLD_S": "two days"}).channel("alertmanager")
