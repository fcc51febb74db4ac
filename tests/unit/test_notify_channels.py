"""Pure parts of the notification channels: the channel table's types and names, per-channel settings
from the environment, Alertmanager's postable alerts, robot answers, URL signing and redaction."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import pytest

from alerts import AlertEvent, RuleError, load_channels
from alerts.severity import SEVERITIES
from services.config import load_settings
from services.notify.alertmanager import postable_alerts, rfc3339, split_credentials
from services.notify.config import ChannelEndpoint, NotifyConfig
from services.notify.errors import SendError
from services.notify.http import redact
from services.notify.robots import (
    WECOM_MARKDOWN_BYTES,
    dingtalk_sign,
    robot_answer,
    signed_dingtalk_url,
    wecom_message,
)

HOUR_US = 3_600_000_000


def event(
    kind: str, severity: str | None, time_us: int = 1_700_000_000_000_000, state: str | None = None
) -> AlertEvent:
    return AlertEvent(
        alert_id="changhai-seagrass/hypoxia/1699990000000000",
        seq=2,
        station="changhai-seagrass",
        rule="hypoxia",
        kind=kind,
        severity=severity,
        time_us=time_us,
        value=1.9,
        message_en="Low dissolved oxygen",
        message_zh="低氧",
        channels=("alertmanager",),
        state=state,
    )


def table(tmp_path, text: str):
    path = tmp_path / "channels.yaml"
    path.write_text(text, encoding="utf-8")
    return load_channels(path)


def test_channel_type_defaults_to_its_name_and_may_be_shared(tmp_path):
    channels = table(
        tmp_path,
        "channels:\n"
        "  email: {min_severity: orange, events: [firing]}\n"
        "  duty_dingtalk: {type: dingtalk, min_severity: yellow, events: [firing]}\n"
        "  head_dingtalk: {type: dingtalk, min_severity: red, events: [firing, escalated]}\n",
    )
    assert [(c.name, c.type) for c in channels] == [
        ("email", "email"),
        ("duty_dingtalk", "dingtalk"),
        ("head_dingtalk", "dingtalk"),
    ]
    assert [c.type for c in load_channels()] == ["webhook", "email"]  # the shipped table


@pytest.mark.parametrize(
    ("line", "complaint"),
    [
        ("duty: {min_severity: red, events: [firing]}", "field 'type'"),
        ("duty: {type: telegram, min_severity: red, events: [firing]}", "field 'type'"),
        ("Duty-Phones: {type: sms, min_severity: red, events: [firing]}", "lower-case letters"),
    ],
)
def test_channel_table_refuses_unknown_types_and_unusable_names(tmp_path, line, complaint):
    with pytest.raises(RuleError, match=complaint):
        table(tmp_path, f"channels:\n  {line}\n")


def test_the_channel_table_can_come_from_the_environment(tmp_path, monkeypatch):
    path = tmp_path / "centre.yaml"
    path.write_text("channels:\n  alertmanager: {min_severity: blue, events: [firing]}\n", encoding="utf-8")
    monkeypatch.setenv("TIDEWATCH_CHANNELS", str(path))
    assert [c.name for c in load_channels(load_settings().channels_path)] == ["alertmanager"]


def test_each_channel_reads_its_own_variables(tmp_path):
    channels = table(
        tmp_path,
        "channels:\n"
        "  duty_feishu: {type: feishu, min_severity: yellow, events: [firing]}\n"
        "  head_sms: {type: sms, min_severity: red, events: [firing]}\n"
        "  alertmanager: {min_severity: blue, events: [firing]}\n",
    )
    config = NotifyConfig.from_settings(
        load_settings(
            {
                "TIDEWATCH_DUTY_FEISHU_URL": "https://open.feishu.cn/open-apis/bot/v2/hook/abcdef0123456789abcd",
                "TIDEWATCH_DUTY_FEISHU_SECRET": "s3cret-feishu",
                "TIDEWATCH_HEAD_SMS_URL": "https://sms.centre.cn/send",
                "TIDEWATCH_HEAD_SMS_TO": "+8613800000001,+8613800000002",
            }
        ),
        channels,
    )
    assert sorted(config.endpoints) == ["duty_feishu", "head_sms"]  # Alertmanager: no URL, not sent
    assert config.endpoints["duty_feishu"].secret == "s3cret-feishu"
    assert config.endpoints["head_sms"].recipients == ("+8613800000001", "+8613800000002")
    assert "s3cret" not in repr(config) and "abcdef0123456789abcd" not in repr(config)
    with pytest.raises(ValueError, match=r"'head_sms' .*phone numbers"):
        NotifyConfig.from_settings(
            load_settings({"TIDEWATCH_HEAD_SMS_URL": "https://sms.centre.cn/send"}), channels
        )
    with pytest.raises(ValueError, match="http"):
        NotifyConfig.from_settings(
            load_settings({"TIDEWATCH_ALERTMANAGER_URL": "alertmanager:9093"}), channels
        )


def test_escalated_alert_fires_at_its_severity_and_resolves_the_others():
    now_us = 1_800_000_000_000_000
    escalated = event("escalated", "orange")
    alerts = postable_alerts(escalated, now_us, hold_s=7200)
    assert [a["labels"]["severity"] for a in alerts] == list(SEVERITIES)
    ends = {a["labels"]["severity"]: a["endsAt"] for a in alerts}
    assert ends == {
        "blue": rfc3339(escalated.time_us),
        "yellow": rfc3339(escalated.time_us),
        "orange": rfc3339(now_us + 2 * HOUR_US),
        "red": rfc3339(escalated.time_us),
    }
    assert {a["startsAt"] for a in alerts} == {rfc3339(escalated.time_us)}
    assert alerts[2]["annotations"]["summary_zh"] == "低氧"
    resolved = event("resolved", "orange", escalated.time_us + HOUR_US)
    assert {a["endsAt"] for a in postable_alerts(resolved, now_us, 7200)} == {rfc3339(resolved.time_us)}


def test_alertmanager_fires_by_the_state_the_event_leaves_not_by_its_kind():
    """A `corrected` event may leave the alert firing or put it back to pending (QC withdrew the
    reading that made it fire): pending is not firing for Alertmanager, so every severity ends."""
    now_us = 1_800_000_000_000_000

    def ends(kind: str, state: str | None) -> dict[str, str]:
        alerts = postable_alerts(event(kind, "orange", state=state), now_us, hold_s=7200)
        return {a["labels"]["severity"]: a["endsAt"] for a in alerts}

    held, ended = rfc3339(now_us + 2 * HOUR_US), rfc3339(event("firing", "orange").time_us)
    assert ends("corrected", "pending") == dict.fromkeys(SEVERITIES, ended)
    assert ends("corrected", "firing")["orange"] == held
    assert ends("acknowledged", "firing")["orange"] == held
    assert ends("pending", "pending") == dict.fromkeys(SEVERITIES, ended)
    assert ends("retracted", "resolved") == dict.fromkeys(SEVERITIES, ended)
    # An event stored before events kept their state: judged by its kind, as before.
    assert ends("renotify", None)["orange"] == held and ends("resolved", None)["orange"] == ended
    annotations = postable_alerts(event("corrected", "orange", state="pending"), now_us, 7200)[0][
        "annotations"
    ]
    assert annotations["event"] == "corrected (event 2), pending"
    assert annotations["value"] == "1.9 mg/L"  # the hypoxia rule's input, with its unit


def test_a_group_notice_says_whether_the_incident_is_still_open():
    """A group's notice is sent like an event: firing while a member is open, resolved with the last."""
    from alerts import AlertEngine, Observation, load_rules
    from alerts.grouping import GROUP_RESOLVED, Incident
    from schemas.registry import load_registry

    registry = load_registry()
    engine = AlertEngine(registry, load_rules(registry), load_channels())
    incident = Incident("group:flood/x/1", "flood")
    (firing,) = engine.observe([Observation("dalian", "indicator", "water_level_warning", 1, 3.0)])
    incident.apply(firing)
    opened = incident.notice(("alertmanager",))
    assert opened.state == "firing"
    assert postable_alerts(opened, 2, 60)[2]["endsAt"] == rfc3339(2 + 60_000_000)  # orange held
    (resolved,) = [
        e
        for e in engine.observe([Observation("dalian", "indicator", "water_level_warning", 2, 0.0)])
        if e.kind == "resolved"
    ]
    incident.apply(resolved)
    ended = incident.notice(("alertmanager",))
    assert (ended.kind, ended.state) == (GROUP_RESOLVED, "resolved")
    assert {a["endsAt"] for a in postable_alerts(ended, 3, 60)} == {rfc3339(ended.time_us)}


def test_rfc3339_is_utc_with_milliseconds():
    assert rfc3339(0) == "1970-01-01T00:00:00.000Z"
    assert rfc3339(1_700_000_000_123_456) == "2023-11-14T22:13:20.123Z"


def test_alertmanager_credentials_move_from_the_url_to_basic_auth():
    url, auth = split_credentials("https://ops:p%40ss@am.centre.cn:9093/")
    assert url == "https://am.centre.cn:9093/api/v2/alerts"
    assert (auth.login, auth.password) == ("ops", "p@ss")
    assert split_credentials("http://127.0.0.1:9093") == ("http://127.0.0.1:9093/api/v2/alerts", None)


def test_dingtalk_signature_survives_url_encoding():
    """Base64 has '+', '/' and '=': the signed URL must carry them encoded, back intact when parsed."""
    secret = "SECabc"
    timestamp = next(
        t for t in range(1_700_000_000_000, 1_700_000_001_000) if "+" in dingtalk_sign(secret, t)
    )
    url = signed_dingtalk_url("https://oapi.dingtalk.com/robot/send?access_token=tok", secret, timestamp)
    query = parse_qs(urlsplit(url).query)
    assert query["access_token"] == ["tok"] and query["timestamp"] == [str(timestamp)]
    assert query["sign"] == [dingtalk_sign(secret, timestamp)]
    assert len(base64.b64decode(query["sign"][0])) == 32  # an HMAC-SHA256
    assert dingtalk_sign(secret, timestamp + 1) != dingtalk_sign(secret, timestamp)


@pytest.mark.parametrize(
    ("body", "permanent"),
    [
        (b'{"errcode": 130101, "errmsg": "send too fast"}', False),
        (b'{"errcode": 310000, "errmsg": "sign not match"}', True),
        (b'{"StatusCode": 19021, "StatusMessage": "sign match fail"}', True),
        (b"<html>gateway</html>", False),
    ],
)
def test_robot_answers(body, permanent):
    check = robot_answer("robot", frozenset({130101}))
    check(b'{"errcode": 0, "errmsg": "ok"}')
    check(b'{"code": 0, "msg": "success", "data": {}}')
    with pytest.raises(SendError) as refused:
        check(body)
    assert refused.value.permanent is permanent


def test_redaction_hides_every_credential_of_an_endpoint():
    endpoint = ChannelEndpoint(
        "wecom", "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-7c2e-4bc4", secret=None
    )
    text = f"InvalidURL: {endpoint.url} (key=693a91f6-7c2e-4bc4)"
    assert redact(text, endpoint.secrets()) == "InvalidURL: *** (***)"  # the query is the key


def test_wecom_markdown_is_cut_to_its_byte_limit():
    long = AlertEvent.from_dict(event("acknowledged", "red").to_dict() | {"comment": "潮位" * 3000})
    content = wecom_message(long)["markdown"]["content"]
    assert len(content.encode()) <= WECOM_MARKDOWN_BYTES and content.endswith("…")
    assert len(wecom_message(event("firing", "red"))["markdown"]["content"].encode()) < WECOM_MARKDOWN_BYTES


def test_a_group_notice_reads_as_one_line_title_and_a_member_list():
    """A group notice's message has a line per member: the mail subject and SMS take its first line."""
    from alerts import AlertEngine, Observation, load_rules
    from alerts.grouping import Incident
    from schemas.registry import load_registry
    from services.notify.messages import short_text
    from services.notify.robots import dingtalk_message
    from services.notify.senders import email_message

    registry = load_registry()
    engine = AlertEngine(registry, load_rules(registry), load_channels())
    incident = Incident("group:flood/x/1", "flood")
    for station in ("dalian", "zhuanghe"):
        (firing,) = engine.observe([Observation(station, "indicator", "water_level_warning", 1, 3.0)])
        incident.apply(firing)
    notice = incident.notice(("email",))
    mail = email_message(notice, "tidewatch@localhost", ("duty@example.org",))
    assert mail["Subject"] == "[tidewatch] group opened: flood incident, 2 of 2 stations open, worst orange"
    assert mail.get_content().count("\n- firing: Storm surge warning orange at") == 2
    assert "\n" not in short_text(notice)
    assert dingtalk_message(notice)["markdown"]["text"].count("\n- ") == 2  # a line per member (zh)
