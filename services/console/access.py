"""Who may do what in the console: roles, sign-in attempt limits, server-side sessions, the audit log.

* Roles: ``viewer`` reads (as anyone on the internal network may), ``operator`` also acknowledges and
  silences, ``admin`` also manages operators and reads the audit log. The role is read from the
  database on every write, so a changed role or a revoked session takes effect at once.
* The signed cookie names a session row; signing out marks it revoked, so a copied cookie stops writing.
* Failed sign-ins are counted per login and per client address in a sliding window; past the limit the
  console answers 429 with ``Retry-After`` (in memory: per console process).
* Behind a TLS-terminating proxy the client address and scheme come from ``X-Forwarded-For`` /
  ``X-Forwarded-Proto`` only when the direct peer is a configured trusted proxy.

Settings (services/config.py): TIDEWATCH_CONSOLE_LOGIN_FAILURES (5), TIDEWATCH_CONSOLE_ADDRESS_FAILURES
(20), TIDEWATCH_CONSOLE_FAILURE_WINDOW_S (900), TIDEWATCH_CONSOLE_COOKIE_SECURE (auto | always | never),
TIDEWATCH_CONSOLE_TRUSTED_PROXIES (comma list of addresses).
"""

from __future__ import annotations

import math
import secrets
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field

import asyncpg
import orjson

from services.config import Settings
from services.db.timestamps import ts, us

ROLES = ("viewer", "operator", "admin")
COOKIE_SECURE_MODES = ("auto", "always", "never")


def role_at_least(role: str, needed: str) -> bool:
    return ROLES.index(role) >= ROLES.index(needed) if role in ROLES else False


@dataclass(frozen=True, slots=True)
class ConsoleAccess:
    login_failures: int = 5
    address_failures: int = 20
    failure_window_s: float = 900.0
    cookie_secure: str = "auto"
    trusted_proxies: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.cookie_secure not in COOKIE_SECURE_MODES:
            raise ValueError(f"cookie_secure: one of {', '.join(COOKIE_SECURE_MODES)}")

    @classmethod
    def from_settings(cls, settings: Settings) -> ConsoleAccess:
        return cls(
            login_failures=settings.console_login_failures,
            address_failures=settings.console_address_failures,
            failure_window_s=settings.console_failure_window_s,
            cookie_secure=settings.console_cookie_secure,
            trusted_proxies=settings.console_trusted_proxies,
        )

    def _via_proxy(self, peer: str | None) -> bool:
        return peer is not None and peer in self.trusted_proxies

    def client_address(self, peer: str | None, headers: Mapping[str, str]) -> str:
        """The peer, or the nearest untrusted hop of X-Forwarded-For when the peer is a trusted proxy."""
        if self._via_proxy(peer):
            hops = [h.strip() for h in headers.get("x-forwarded-for", "").split(",") if h.strip()]
            for hop in reversed(hops):
                if hop not in self.trusted_proxies:
                    return hop
        return peer or "unknown"

    def secure_cookie(self, scheme: str, peer: str | None, headers: Mapping[str, str]) -> bool:
        if self.cookie_secure != "auto":
            return self.cookie_secure == "always"
        if scheme == "https":
            return True
        return self._via_proxy(peer) and headers.get("x-forwarded-proto", "").lower() == "https"


@dataclass
class AttemptLimiter:
    """Failures per key within a sliding window; ``retry_after_s`` > 0 while a key is over its limit."""

    window_s: float
    _failures: dict[str, deque[float]] = field(default_factory=dict)

    def _recent(self, key: str, now_s: float) -> deque[float]:
        times = self._failures.get(key)
        if times is None:
            return deque()
        while times and times[0] <= now_s - self.window_s:
            times.popleft()
        if not times:
            del self._failures[key]
        return times

    def retry_after_s(self, key: str, limit: int, now_s: float | None = None) -> int:
        now_s = time.monotonic() if now_s is None else now_s
        times = self._recent(key, now_s)
        if len(times) < limit:
            return 0
        return max(1, math.ceil(times[-limit] + self.window_s - now_s))

    def fail(self, key: str, now_s: float | None = None) -> None:
        now_s = time.monotonic() if now_s is None else now_s
        self._recent(key, now_s)
        self._failures.setdefault(key, deque()).append(now_s)
        if len(self._failures) > 100_000:  # bounded memory under a spray of distinct keys
            self._failures.pop(next(iter(self._failures)))

    def clear(self, key: str) -> None:
        self._failures.pop(key, None)


# -- sessions ----------------------------------------------------------------------------------------
async def open_session(conn: asyncpg.Connection, username: str, expires_us: int, client: str) -> str:
    session_id = secrets.token_urlsafe(18)
    await conn.execute(
        "INSERT INTO console_sessions (id, username, expires_at, client_address) "
        f"VALUES ($1, $2, {ts('$3')}, $4)",
        session_id,
        username,
        expires_us,
        client,
    )
    return session_id


async def session_operator(conn: asyncpg.Connection, session_id: str) -> dict | None:
    """{username, display_name, role} of a live (not revoked, not expired) session, else None."""
    row = await conn.fetchrow(
        """
        SELECT o.username, o.display_name, o.role FROM console_sessions s
        JOIN operators o ON o.username = s.username
        WHERE s.id = $1 AND s.revoked_at IS NULL AND s.expires_at > now()
        """,
        session_id,
    )
    return dict(row) if row else None


async def revoke_session(conn: asyncpg.Connection, session_id: str) -> None:
    await conn.execute(
        "UPDATE console_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL", session_id
    )
    await conn.execute("DELETE FROM console_sessions WHERE expires_at < now() - interval '1 day'")


# -- operators and the audit log ---------------------------------------------------------------------
async def list_operators(conn: asyncpg.Connection) -> list[dict]:
    rows = await conn.fetch(
        f"SELECT username, display_name, role, {us('created_at')} AS created_us "
        "FROM operators ORDER BY username"
    )
    return [dict(r) for r in rows]


async def record(
    conn: asyncpg.Connection,
    actor: str,
    action: str,
    target: str | None,
    client: str,
    detail: Mapping[str, object] | None = None,
) -> None:
    """One audit entry: who (login), what (action, target, detail), when (database clock), from where."""
    await conn.execute(
        "INSERT INTO audit_log (actor, action, target, detail, client_address) "
        "VALUES ($1, $2, $3, $4::jsonb, $5)",
        actor,
        action,
        target,
        orjson.dumps(dict(detail or {})).decode(),
        client,
    )


async def audit_entries(conn: asyncpg.Connection, limit: int = 200) -> list[dict]:
    rows = await conn.fetch(
        f"""
        SELECT id, {us("time")} AS time_us, actor, action, target, detail, client_address
        FROM audit_log ORDER BY id DESC LIMIT $1
        """,
        limit,
    )
    entries = [dict(r) for r in rows]
    for entry in entries:
        if isinstance(entry["detail"], str):
            entry["detail"] = orjson.loads(entry["detail"])
    return entries
