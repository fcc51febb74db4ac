"""Signed-in operators: an HMAC-signed session cookie and the cross-site request checks.

The cookie carries the operator's user name, display name, session id and expiry, signed with
TIDEWATCH_CONSOLE_SECRET (or a random secret per process, which signs everyone out on restart). Writes
need the cookie (SameSite=Strict: never sent from another site) and the ``X-Tidewatch-Console`` header,
which a cross-site form cannot set and a cross-site script cannot send without a CORS preflight that
the console never grants; an ``Origin`` header, when present, must name the console's own host.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import orjson

log = logging.getLogger("tidewatch.console")

COOKIE = "tidewatch_console"
CSRF_HEADER = "x-tidewatch-console"
SESSION_S = 12 * 3600  # one shift


@dataclass(frozen=True, slots=True)
class Operator:
    username: str
    display_name: str
    session_id: str = ""  # the console_sessions row; revoked on sign-out (services/console/access.py)
    role: str = "operator"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def console_secret(configured: str | None) -> bytes:
    """The configured TIDEWATCH_CONSOLE_SECRET, else a random one for this process."""
    if configured:
        return configured.encode()
    log.warning("TIDEWATCH_CONSOLE_SECRET is not set: sessions end when the console restarts")
    return secrets.token_bytes(32)


class SessionSigner:
    def __init__(self, secret: bytes, max_age_s: int = SESSION_S) -> None:
        self.secret = secret
        self.max_age_s = max_age_s

    def _mac(self, body: str) -> str:
        return _b64(hmac.new(self.secret, body.encode(), hashlib.sha256).digest())

    def sign(self, operator: Operator, *, now_s: float | None = None) -> str:
        expires = int((now_s if now_s is not None else time.time()) + self.max_age_s)
        claims = {
            "u": operator.username,
            "n": operator.display_name,
            "s": operator.session_id,
            "exp": expires,
        }
        body = _b64(orjson.dumps(claims))
        return f"{body}.{self._mac(body)}"

    def verify(self, cookie: str | None, *, now_s: float | None = None) -> Operator | None:
        """The operator a cookie names, or None if it is missing, forged or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac(body)):
            return None
        try:
            data = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if data.get("exp", 0) < (now_s if now_s is not None else time.time()):
            return None
        return Operator(data["u"], data["n"], data.get("s", ""))


def same_origin(headers: Mapping[str, str]) -> bool:
    """A write comes from the console page itself: our header is present and any Origin is our host."""
    if headers.get(CSRF_HEADER) != "1":
        return False
    origin = headers.get("origin")
    if origin is None or origin == "null":
        return origin is None
    return urlsplit(origin).netloc == headers.get("host")
