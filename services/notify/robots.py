"""Group-chat robots of DingTalk, WeCom (企业微信) and Feishu/Lark: message formats and signing.

Each robot is a webhook URL with its credential in it (DingTalk ``access_token``, WeCom ``key``, the
Feishu hook id). Signing, when the group's robot has it switched on:
- DingTalk: ``timestamp`` (ms) and ``sign`` = Base64(HMAC-SHA256(key=secret, "{timestamp}\\n{secret}"))
  added to the URL query; the robot refuses a timestamp more than an hour off.
- Feishu/Lark: ``timestamp`` (s) and ``sign`` = Base64(HMAC-SHA256(key="{timestamp}\\n{secret}", ""))
  in the JSON body.
- WeCom: no signature, the key in the URL is the credential.
The robots answer HTTP 200 with an error code in the body; their rate limits are worth another try,
every other code (bad signature, missing keyword, unknown robot) is permanent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Callable
from urllib.parse import quote_plus

import orjson
import yarl

from alerts.events import AlertEvent
from services.notify.errors import SendError
from services.notify.http import JsonPoster
from services.notify.messages import event_facts, event_lines, event_title

# Rate limits, from the robots' documented error codes: DingTalk "send too fast", WeCom "api freq
# out of limit" and "system busy", Feishu "frequency limited".
DINGTALK_RETRY_CODES = frozenset({130101})
WECOM_RETRY_CODES = frozenset({45009, -1})
FEISHU_RETRY_CODES = frozenset({11232})
# WeCom takes at most 4096 bytes of markdown (UTF-8); a long operator comment is cut to fit.
WECOM_MARKDOWN_BYTES = 4096
# WeCom markdown's three colours, by severity.
WECOM_COLOURS = {"blue": "comment", "yellow": "warning", "orange": "warning", "red": "warning"}


def _hmac_sha256_b64(key: str, message: str) -> str:
    digest = hmac.new(key.encode(), message.encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    return _hmac_sha256_b64(secret, f"{timestamp_ms}\n{secret}")


def feishu_sign(secret: str, timestamp_s: int) -> str:
    return _hmac_sha256_b64(f"{timestamp_s}\n{secret}", "")


def signed_dingtalk_url(url: str, secret: str, timestamp_ms: int) -> str:
    joiner = "&" if "?" in url else "?"
    return f"{url}{joiner}timestamp={timestamp_ms}&sign={quote_plus(dingtalk_sign(secret, timestamp_ms))}"


def markdown_text(event: AlertEvent, heading: str | None = None) -> str:
    """Markdown both DingTalk and WeCom render: the title as heading (it carries "tidewatch", the
    keyword a robot with keyword security can require), the Chinese message, the facts."""
    facts = "\n".join(f"> **{label}**: {value}" for label, value in event_facts(event))
    return f"### {heading or event_title(event)}\n\n{event.message_zh}\n\n{facts}\n"


def dingtalk_message(event: AlertEvent) -> dict:
    return {"msgtype": "markdown", "markdown": {"title": event_title(event), "text": markdown_text(event)}}


def wecom_message(event: AlertEvent) -> dict:
    colour = WECOM_COLOURS.get(event.severity or "", "comment")
    heading = f'<font color="{colour}">{event_title(event)}</font>'
    content = markdown_text(event, heading)
    if len(content.encode()) > WECOM_MARKDOWN_BYTES:
        content = content.encode()[: WECOM_MARKDOWN_BYTES - 3].decode(errors="ignore") + "…"
    return {"msgtype": "markdown", "markdown": {"content": content}}


def feishu_message(event: AlertEvent, secret: str | None, timestamp_s: int) -> dict:
    """A rich-text ("post") message with a Chinese and an English version; signed when `secret`."""
    lines = [[{"tag": "text", "text": line}] for line in event_lines(event)[2:] if line]
    document = {
        "msg_type": "post",
        "content": {
            "post": {
                "zh_cn": {"title": event.message_zh, "content": lines},
                "en_us": {"title": event.message_en, "content": lines},
            }
        },
    }
    if secret:
        document = {"timestamp": str(timestamp_s), "sign": feishu_sign(secret, timestamp_s)} | document
    return document


def robot_answer(robot: str, retry_codes: frozenset[int]) -> Callable[[bytes], None]:
    """A check of the robot's answer body: code 0 is sent (Feishu's older form says StatusCode)."""

    def check(body: bytes) -> None:
        try:
            answer = orjson.loads(body)
            code = next(answer[k] for k in ("errcode", "code", "StatusCode") if k in answer)
        except (orjson.JSONDecodeError, TypeError, StopIteration):
            raise SendError(f"{robot}: unreadable answer {body[:100]!r}") from None
        if code != 0:
            text = next((answer[k] for k in ("errmsg", "msg", "StatusMessage") if k in answer), "")
            raise SendError(f"{robot} error {code}: {text}", permanent=code not in retry_codes)

    return check


class RobotSender:
    """What the three robots share: one webhook URL, an optional signing secret, a clock to sign with."""

    def __init__(
        self,
        url: str,
        secret: str | None,
        timeout_s: float,
        secrets: tuple[str, ...] = (),
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.url, self.secret, self.clock = url, secret, clock
        self._poster = JsonPoster(timeout_s, secrets)

    async def close(self) -> None:
        await self._poster.close()


class DingTalkSender(RobotSender):
    async def send(self, event: AlertEvent) -> None:
        url = self.url
        if self.secret:
            url = signed_dingtalk_url(url, self.secret, round(self.clock() * 1000))
        await self._poster.post(
            yarl.URL(url, encoded=True),
            dingtalk_message(event),
            check=robot_answer("DingTalk", DINGTALK_RETRY_CODES),
        )


class WeComSender(RobotSender):
    """WeCom signs nothing: the key in the URL is the credential (a secret, if given, is unused)."""

    async def send(self, event: AlertEvent) -> None:
        check = robot_answer("WeCom", WECOM_RETRY_CODES)
        await self._poster.post(self.url, wecom_message(event), check=check)


class FeishuSender(RobotSender):
    async def send(self, event: AlertEvent) -> None:
        document = feishu_message(event, self.secret, int(self.clock()))
        await self._poster.post(self.url, document, check=robot_answer("Feishu", FEISHU_RETRY_CODES))
