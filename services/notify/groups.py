"""Incident groups in the database: absorb member events, write the group's next notice.

Stations of one group live on different partitions, so several workers' notifiers may update one
group at once: each update is one transaction under the group's row lock. A member event is absorbed
once per channel (claimed in ``notifications`` with status ``grouped``, so the outbox sweep leaves it
alone and a replay absorbs nothing); the notice it causes is stored and claimed `pending` for each
channel in the same transaction, and sent after commit.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import asyncpg
import orjson

from alerts.events import AlertEvent, closes
from alerts.grouping import Incident, group_id, window_start_us
from alerts.routing import GroupSpec, Routing
from schemas.registry import Registry
from services.db.alerts import NOTIFY_CHANNEL
from services.db.timestamps import ts, us

# The pseudo-channel of a member's closing event that was routed nowhere (silenced, held): it closes
# the member in its group without a notice of its own, so the incident can end.
QUIET = "-"
CLAIM_GROUPED = """
INSERT INTO notifications (alert_id, seq, channel, status, attempts) VALUES ($1, $2, $3, 'grouped', 0)
ON CONFLICT (alert_id, seq, channel) DO NOTHING
RETURNING alert_id
"""
CLAIM_NOTICE = """
INSERT INTO notifications (alert_id, seq, channel, status, attempts) VALUES ($1, $2, $3, 'pending', 0)
ON CONFLICT (alert_id, seq, channel) DO NOTHING
"""
OPEN_GROUP = f"""
INSERT INTO alert_groups (group_id, spec, window_start) VALUES ($1, $2, {ts("$3")})
ON CONFLICT (group_id) DO NOTHING
"""
LOCK_GROUP = """
SELECT group_id, spec, members::text AS members, revision FROM alert_groups WHERE group_id = $1 FOR UPDATE
"""
SAVE_GROUP = """
UPDATE alert_groups
SET members = $2::text::jsonb, revision = $3, state = $4, severity = $5, updated_at = now()
WHERE group_id = $1
"""
STORE_NOTICE = """
INSERT INTO alert_group_notices (group_id, revision, notice) VALUES ($1, $2, $3::text::jsonb)
ON CONFLICT (group_id, revision) DO NOTHING
"""
# Group notices a crashed notifier left pending (compare-and-set on the claim's clock, as for events).
RECLAIM_STALE_NOTICES = """
UPDATE notifications n SET updated_at = now()
FROM alert_group_notices g
WHERE n.status = 'pending' AND n.updated_at < now() - $1::float8 * interval '1 second'
  AND g.group_id = n.alert_id AND g.revision = n.seq
RETURNING n.channel, n.attempts, g.notice::text AS notice
"""
GROUPS = f"""
SELECT group_id, spec, state, severity, members::text AS members, revision,
       {us("window_start")} AS window_start_us, {us("opened_at")} AS opened_us,
       {us("updated_at")} AS updated_us
FROM alert_groups
ORDER BY state = 'resolved', updated_at DESC
LIMIT $1
"""


@dataclass(frozen=True, slots=True)
class Grouping:
    """Which events the notifier folds into groups: the routing's group specs and the registry's
    areas and networks."""

    routing: Routing
    registry: Registry

    def place(self, event: AlertEvent, channel: str) -> tuple[str, GroupSpec] | None:
        """The group an event goes to on `channel` (None: the event is sent on its own); `channel`
        QUIET: the group of a member's closing event routed to none of its channels."""
        spec = self.routing.group_of(event.rule)
        station = self.registry.stations.get(event.station)
        if spec is None or station is None:
            return None
        if channel == QUIET:
            routed = spec.channels & set(event.channels)
            if routed or not closes(event):
                return None
        elif channel not in spec.channels:
            return None
        return group_id(spec, station, event), spec


async def absorb(
    conn: asyncpg.Connection, gid: str, spec: GroupSpec, items: Sequence[tuple[AlertEvent, str]]
) -> AlertEvent | None:
    """Fold member events into their group; the notice to send (its channels set), if any."""
    async with conn.transaction():
        if any(channel != QUIET for _, channel in items):  # a quiet event never opens a group
            first = min(items, key=lambda item: item[0].alert_id)[0]
            await conn.execute(OPEN_GROUP, gid, spec.id, window_start_us(spec, first.alert_id))
        row = await conn.fetchrow(LOCK_GROUP, gid)
        if row is None:
            return None
        incident = Incident(gid, spec.id, orjson.loads(row["members"]), row["revision"])
        notable: set[tuple[str, int]] = set()
        channels: set[str] = set()
        for event, channel in sorted(items, key=lambda item: (item[0].alert_id, item[0].seq, item[1])):
            if channel == QUIET and event.alert_id not in incident.members:
                continue  # the group never heard of this alert
            if await conn.fetchval(CLAIM_GROUPED, event.alert_id, event.seq, channel) is None:
                continue  # absorbed before (a replay, a redelivery, the sweep)
            changed = incident.apply(event)
            if channel != QUIET and (changed or (event.alert_id, event.seq) in notable):
                notable.add((event.alert_id, event.seq))  # (again: the same event on a further channel)
                channels.add(channel)
        notice = incident.notice(tuple(sorted(channels))) if channels else None
        if notice is not None:
            await conn.execute(STORE_NOTICE, gid, notice.seq, orjson.dumps(notice.to_dict()).decode())
            for channel in notice.channels:
                await conn.execute(CLAIM_NOTICE, gid, notice.seq, channel)
        state = "open" if incident.is_open else "resolved"
        await conn.execute(
            SAVE_GROUP,
            gid,
            orjson.dumps(incident.members).decode(),
            incident.revision,
            state,
            incident.severity() or "none",
        )
        await conn.execute("SELECT pg_notify($1, 'group')", NOTIFY_CHANNEL)  # open consoles reload
    return notice


async def stale_notices(conn: asyncpg.Connection, older_than_s: float) -> list[tuple[str, int, AlertEvent]]:
    """(channel, attempts, notice) of group notices a crashed notifier left pending."""
    rows = await conn.fetch(RECLAIM_STALE_NOTICES, older_than_s)
    return [(r["channel"], r["attempts"], AlertEvent.from_dict(orjson.loads(r["notice"]))) for r in rows]


async def recent_groups(conn: asyncpg.Connection, limit: int = 50) -> list[dict]:
    """Groups, open ones first, then the most recently changed, with their members (console)."""
    rows = await conn.fetch(GROUPS, limit)
    return [dict(r) | {"members": _members(orjson.loads(r["members"]))} for r in rows]


def _members(members: Mapping[str, dict]) -> list[dict]:
    return [
        {"alert_id": alert_id} | m
        for alert_id, m in sorted(members.items(), key=lambda kv: (not kv[1]["open"], kv[1]["station"]))
    ]
