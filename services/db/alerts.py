"""Alert history, the current-state projection, silences and operators in PostgreSQL.

The stream worker is the only writer of alert state: it stores every event the rule engine emits.
Events are keyed by (alert_id, seq), so a replay inserts nothing; the `alerts` projection only moves
forward (`last_seq`), so a replayed old event never regresses what the console shows. Both happen in
one transaction, which also announces the change on the ``tidewatch_alerts`` channel for the console.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence

import asyncpg
import orjson

from alerts.events import CLOSING_KINDS, AlertEvent
from alerts.silences import Silence
from schemas.alert_ids import opened_us
from services.db.timestamps import ts, us

NOTIFY_CHANNEL = "tidewatch_alerts"
SEVERITY_ORDER = "ARRAY['blue','yellow','orange','red']"
# Kinds whose message describes the alert's condition (operator events describe the operator's act).
CONDITION_KINDS = (
    "pending",
    "firing",
    "escalated",
    "deescalated",
    "renotify",
    "resolved",
    "retracted",
    "corrected",
    "reopened",
)


INSERT_EVENTS = f"""
INSERT INTO alert_events (alert_id, seq, station_id, rule, kind, severity, time, value,
                          message_en, message_zh, channels, actor, comment, received, late, state)
SELECT e.alert_id, e.seq, e.station, e.rule, e.kind, coalesce(e.severity, 'none'), {ts("e.time_us")},
       e.value, e.message_en, e.message_zh, e.channels, e.actor, e.comment, {ts("e.received_us")}, e.late,
       e.state
FROM jsonb_to_recordset($1::text::jsonb) AS e(
    alert_id text, seq integer, station text, rule text, kind text, severity text, time_us bigint,
    value double precision, message_en text, message_zh text, channels text[], actor text, comment text,
    received_us bigint, late boolean, state text)
ORDER BY e.alert_id, e.seq
ON CONFLICT (alert_id, seq) DO NOTHING
RETURNING alert_id, seq
"""

# $1 alert_id, $2 station, $3 rule, $4 seq, $5 kind, $6 severity, $7 time_us, $8 value, $9 message_en,
# $10 message_zh, $11 actor, $12 comment, $13 opened_us, $14 new state (NULL: unchanged).
# silenced_until is the end of the longest silence covering the alert at the event's time, which is
# exactly when the engine holds it silenced (events carry no silence end of their own).
_SILENCED_UNTIL = f"""(
    SELECT max(s.ends_at) FROM silences s
    WHERE (s.station_id IS NULL OR s.station_id = $2) AND (s.rule IS NULL OR s.rule = $3)
      AND s.starts_at <= {ts("$7")} AND s.ends_at > {ts("$7")}
      AND (s.removed_at IS NULL OR s.removed_at > {ts("$7")}))"""
_CONDITION = "$5 = ANY(ARRAY[" + ",".join(f"'{k}'" for k in CONDITION_KINDS) + "])"
UPSERT_PROJECTION = f"""
INSERT INTO alerts AS a (alert_id, station_id, rule, state, severity, opened_at, updated_at, resolved_at,
                         value, message_en, message_zh, acknowledged_by, acknowledged_at, ack_comment,
                         silenced_until, last_seq)
VALUES ($1, $2, $3, coalesce($14::text, 'firing'), coalesce($6::text, 'none'), {ts("$13")}, {ts("$7")},
        CASE WHEN $5 IN ('resolved', 'retracted') THEN {ts("$7")} END, $8, $9, $10,
        CASE WHEN $5 = 'acknowledged' THEN $11::text END,
        CASE WHEN $5 = 'acknowledged' THEN {ts("$7")} END,
        CASE WHEN $5 = 'acknowledged' THEN $12::text END,
        {_SILENCED_UNTIL}, $4)
ON CONFLICT (alert_id) DO UPDATE SET
    state = coalesce($14::text, a.state),
    severity = coalesce($6::text, a.severity),
    updated_at = {ts("$7")},
    resolved_at = CASE WHEN $5 IN ('resolved', 'retracted') THEN {ts("$7")}
                       WHEN $5 IN ('reopened', 'pending') THEN NULL ELSE a.resolved_at END,
    value = CASE WHEN {_CONDITION} THEN $8 ELSE a.value END,
    message_en = CASE WHEN {_CONDITION} THEN $9 ELSE a.message_en END,
    message_zh = CASE WHEN {_CONDITION} THEN $10 ELSE a.message_zh END,
    acknowledged_by = CASE $5 WHEN 'acknowledged' THEN $11::text WHEN 'escalated' THEN NULL
                      ELSE a.acknowledged_by END,
    acknowledged_at = CASE $5 WHEN 'acknowledged' THEN {ts("$7")} WHEN 'escalated' THEN NULL
                      ELSE a.acknowledged_at END,
    ack_comment = CASE $5 WHEN 'acknowledged' THEN $12::text WHEN 'escalated' THEN NULL
                  ELSE a.ack_comment END,
    silenced_until = {_SILENCED_UNTIL},
    last_seq = $4
WHERE a.last_seq < $4
"""


def projected_state(event: AlertEvent) -> str | None:
    """The alert state (pending, firing, resolved) an event leaves; None: as it was.

    The engine says so on every event (``AlertEvent.state``): a ``corrected`` event may leave the alert
    firing or put it back to pending, which its kind does not tell. An event without it (one stored
    before ``alert_events`` kept it) is placed by its kind, a correction left as it was."""
    if event.state is not None:
        return event.state
    kind = event.kind
    if kind in CLOSING_KINDS:  # retracted: QC withdrew the reading that had opened it
        return "resolved"
    if kind == "pending":
        return kind
    if kind in ("firing", "escalated", "deescalated", "renotify", "reopened"):  # reopened: QC withdrew
        return "firing"  # the reading that had resolved it
    return None


def _projection_args(event: AlertEvent) -> tuple:
    return (
        event.alert_id,
        event.station,
        event.rule,
        event.seq,
        event.kind,
        event.severity,
        event.time_us,
        event.value,
        event.message_en,
        event.message_zh,
        event.actor,
        event.comment,
        opened_us(event.alert_id),
        projected_state(event),
    )


async def store_alert_events(conn: asyncpg.Connection, events: Sequence[AlertEvent]) -> int:
    """Store events once and move the projection forward; returns how many events were new."""
    if not events:
        return 0
    async with conn.transaction():
        payload = orjson.dumps([e.to_dict() for e in events]).decode()
        inserted = {(r["alert_id"], r["seq"]) for r in await conn.fetch(INSERT_EVENTS, payload)}
        unique = {(e.alert_id, e.seq): e for e in events}
        new = [unique[key] for key in sorted(inserted)]
        if new:
            await conn.executemany(UPSERT_PROJECTION, [_projection_args(e) for e in new])
            await conn.execute("SELECT pg_notify($1, $2)", NOTIFY_CHANNEL, str(len(new)))
    return len(new)


EVENT_COLUMNS = f"""e.alert_id, e.seq, e.station_id, e.rule, e.kind, e.severity, {us("e.time")} AS time_us,
       e.value, e.message_en, e.message_zh, e.channels, e.actor, e.comment,
       {us("e.received")} AS received_us, e.late, e.state"""
UNCLAIMED = f"""
SELECT {EVENT_COLUMNS}
FROM alert_events e
WHERE e.channels <> '{{}}' AND e.recorded_at > now() - $1::float8 * interval '1 second'
  AND e.recorded_at < now() - interval '5 seconds'
  AND EXISTS (SELECT 1 FROM unnest(e.channels) AS c(channel)
              WHERE c.channel = ANY($2::text[])
                AND NOT EXISTS (SELECT 1 FROM notifications n
                                WHERE n.alert_id = e.alert_id AND n.seq = e.seq AND n.channel = c.channel))
ORDER BY e.alert_id, e.seq
LIMIT 10000
"""


def event_from_row(row: asyncpg.Record) -> AlertEvent:
    """An alert event as the engine emitted it, from its stored row."""
    data = dict(row)
    data["station"] = data.pop("station_id")
    data["severity"] = None if data["severity"] == "none" else data["severity"]
    data["channels"] = tuple(data["channels"])
    return AlertEvent.from_dict(data)


async def station_events(
    conn: asyncpg.Connection, station: str, from_us: int, to_us: int
) -> list[AlertEvent]:
    """A station's stored alert events with data time in [from, to), in (alert, seq) order."""
    rows = await conn.fetch(
        f"SELECT {EVENT_COLUMNS} FROM alert_events e WHERE e.station_id = $1 "
        f"AND e.time >= {ts('$2::bigint')} AND e.time < {ts('$3::bigint')} ORDER BY e.alert_id, e.seq",
        station,
        from_us,
        to_us,
    )
    return [event_from_row(r) for r in rows]


async def unclaimed_events(
    conn: asyncpg.Connection, within_s: float, channels: Sequence[str]
) -> list[AlertEvent]:
    """Stored events of the last `within_s` routed to one of `channels` (those with a sender) that has
    no delivery claim yet: the outbox the notifier sweeps (events a moment old only, so it does not
    race the live hand-over; a routed channel nobody configured is never claimed, so it is left out)."""
    return [event_from_row(r) for r in await conn.fetch(UNCLAIMED, within_s, list(channels))]


# -- silences --------------------------------------------------------------------------------------
async def store_silence(conn: asyncpg.Connection, silence: Silence) -> None:
    """Record a silence (idempotent by id); store it before the events the engine emits for it.

    Open consoles are told (at commit), as a silence that covers no open alert emits no event."""
    status = await conn.execute(
        f"""
        INSERT INTO silences (id, station_id, rule, starts_at, ends_at, created_by, comment)
        VALUES ($1, $2, $3, {ts("$4")}, {ts("$5")}, $6, $7)
        ON CONFLICT (id) DO NOTHING
        """,
        silence.id,
        silence.station,
        silence.rule,
        silence.created_us,
        silence.ends_us,
        silence.actor,
        silence.comment,
    )
    if status != "INSERT 0 0":
        await conn.execute("SELECT pg_notify($1, 'silence')", NOTIFY_CHANNEL)


async def remove_silence(conn: asyncpg.Connection, silence_id: str, time_us: int) -> bool:
    """Mark a silence removed early (the first removal counts); False when there is no such silence."""
    status = await conn.execute(
        f"UPDATE silences SET removed_at = {ts('$2')} WHERE id = $1 AND removed_at IS NULL",
        silence_id,
        time_us,
    )
    if status == "UPDATE 0":
        return False
    await conn.execute("SELECT pg_notify($1, 'silence')", NOTIFY_CHANNEL)
    return True


async def active_silences(conn: asyncpg.Connection, now_us: int) -> list[dict]:
    rows = await conn.fetch(
        f"""
        SELECT id, station_id AS station, rule, {us("starts_at")} AS starts_us, {us("ends_at")} AS ends_us,
               created_by AS actor, comment
        FROM silences
        WHERE ends_at > {ts("$1")} AND removed_at IS NULL
        ORDER BY ends_at, id
        """,
        now_us,
    )
    return [dict(r) for r in rows]


# -- console queries -------------------------------------------------------------------------------
_ALERT_COLUMNS = f"""
    alert_id, station_id AS station, rule, state, severity, {us("opened_at")} AS opened_us,
    {us("updated_at")} AS updated_us, {us("resolved_at")} AS resolved_us, value, message_en, message_zh,
    acknowledged_by, {us("acknowledged_at")} AS acknowledged_us, ack_comment,
    {us("silenced_until")} AS silenced_until_us, last_seq"""


async def open_alerts(conn: asyncpg.Connection) -> list[dict]:
    """Alerts not yet resolved, most severe first, then most recently changed."""
    rows = await conn.fetch(
        f"""
        SELECT {_ALERT_COLUMNS} FROM alerts WHERE state <> 'resolved'
        ORDER BY array_position({SEVERITY_ORDER}, severity) DESC NULLS LAST, updated_at DESC, alert_id
        """
    )
    return [dict(r) for r in rows]


async def get_alert(conn: asyncpg.Connection, alert_id: str) -> dict | None:
    row = await conn.fetchrow(f"SELECT {_ALERT_COLUMNS} FROM alerts WHERE alert_id = $1", alert_id)
    return dict(row) if row else None


HISTORY_ORDERS = {
    # What the system saw, in order: an acknowledgement (stamped with wall time) sits among the events
    # stored around it, even while a replay stores data days old.
    "recorded": "recorded_at DESC, time DESC, alert_id, seq DESC",
    "time": "time DESC, alert_id, seq DESC",  # data time: the order things happened at the stations
}


async def alert_history(
    conn: asyncpg.Connection,
    *,
    station: str | None = None,
    rule: str | None = None,
    severity: str | None = None,
    kind: str | None = None,
    since_us: int | None = None,
    until_us: int | None = None,
    limit: int = 200,
    offset: int = 0,
    order: str = "time",
) -> list[dict]:
    """Alert events, newest first by data time (or by when they were recorded, `order="recorded"`);
    every filter is optional and the (data) time range is [since, until)."""
    rows = await conn.fetch(
        f"""
        SELECT alert_id, seq, station_id AS station, rule, kind, state, severity, {us("time")} AS time_us,
               value, message_en, message_zh, channels, actor, comment, {us("recorded_at")} AS recorded_us,
               {us("received")} AS received_us, late
        FROM alert_events
        WHERE ($1::text IS NULL OR station_id = $1) AND ($2::text IS NULL OR rule = $2)
          AND ($3::text IS NULL OR severity = $3) AND ($4::text IS NULL OR kind = $4)
          AND ($5::bigint IS NULL OR time >= {ts("$5")}) AND ($6::bigint IS NULL OR time < {ts("$6")})
        ORDER BY {HISTORY_ORDERS[order]}
        LIMIT $7 OFFSET $8
        """,
        station,
        rule,
        severity,
        kind,
        since_us,
        until_us,
        limit,
        offset,
    )
    return [dict(r) | {"channels": list(r["channels"])} for r in rows]


async def station_status(conn: asyncpg.Connection) -> list[dict]:
    """Each station with its position, when it was last heard and its open alerts.

    Last seen is the newest observation over the station's variables, one backward primary-key probe
    per (station, variable), so the cost does not grow with the size of the observations table.
    """
    rows = await conn.fetch(
        f"""
        SELECT s.id, s.name, s.name_zh, s.kind, s.network, s.area, s.latitude, s.longitude,
               s.sampling_interval_s, {us("seen.time")} AS last_seen_us,
               coalesce(open.n, 0) AS open_alerts, open.worst AS worst_severity
        FROM stations s
        LEFT JOIN LATERAL (
            SELECT max(latest.time) AS time
            FROM unnest(s.variables) AS v(variable)
            CROSS JOIN LATERAL (
                SELECT o.time FROM observations o
                WHERE o.station_id = s.id AND o.variable = v.variable
                ORDER BY o.time DESC LIMIT 1
            ) AS latest
        ) AS seen ON true
        LEFT JOIN LATERAL (
            SELECT count(*) AS n,
                   ({SEVERITY_ORDER})[max(array_position({SEVERITY_ORDER}, a.severity))] AS worst
            FROM alerts a WHERE a.station_id = s.id AND a.state <> 'resolved'
        ) AS open ON true
        ORDER BY s.id
        """
    )
    return [dict(r) for r in rows]


# -- operators -------------------------------------------------------------------------------------
SCRYPT_N, SCRYPT_R, SCRYPT_P = 2**14, 8, 1


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """Salted scrypt, stored as ``scrypt$n$r$p$salt$hash`` (base64) so parameters can be raised later."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=SCRYPT_N, r=SCRYPT_R, p=SCRYPT_P, dklen=32)
    b64 = base64.b64encode
    return f"scrypt${SCRYPT_N}${SCRYPT_R}${SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt_b64, digest_b64 = stored.split("$")
        if scheme != "scrypt":
            return False
        salt, expected = base64.b64decode(salt_b64), base64.b64decode(digest_b64)
        digest = hashlib.scrypt(
            password.encode(), salt=salt, n=int(n), r=int(r), p=int(p), dklen=len(expected)
        )
    except ValueError:
        return False
    return hmac.compare_digest(digest, expected)


_DUMMY: list[str] = []


def _dummy_hash() -> str:
    if not _DUMMY:
        _DUMMY.append(hash_password(secrets.token_hex(8)))
    return _DUMMY[0]


async def create_operator(
    conn: asyncpg.Connection, username: str, display_name: str, password: str, role: str = "operator"
) -> None:
    """Add an operator or replace their name, password and role (viewer, operator or admin)."""
    if not username or not password:
        raise ValueError("an operator needs a user name and a password")
    await conn.execute(
        """
        INSERT INTO operators (username, display_name, password_hash, role) VALUES ($1, $2, $3, $4)
        ON CONFLICT (username) DO UPDATE SET display_name = EXCLUDED.display_name,
            password_hash = EXCLUDED.password_hash, role = EXCLUDED.role
        """,
        username,
        display_name,
        hash_password(password),
        role,
    )


async def verify_operator(conn: asyncpg.Connection, username: str, password: str) -> dict | None:
    """The operator ({username, display_name, role}) when the password matches, else None."""
    row = await conn.fetchrow(
        "SELECT username, display_name, role, password_hash FROM operators WHERE username = $1", username
    )
    if row is None:
        check_password(password, _dummy_hash())  # the same work for an unknown user name
        return None
    if not check_password(password, row["password_hash"]):
        return None
    return {"username": row["username"], "display_name": row["display_name"], "role": row["role"]}
