"""Deliver routed alert events: claim, send with retries, record the outcome.

Each (alert_id, seq, channel) is claimed in ``notifications`` before the first try (INSERT … ON
CONFLICT DO NOTHING RETURNING), so a replayed or redelivered event is never sent twice. A claim that
a crash left `pending` is picked up again by `retry_stale` (at least once after a crash, once
otherwise). An event that still fails after the last try is a dead letter: status `dead` with the last
error, and an error in the log. With `grouping`, an event routed to one of a group's channels is folded
into its incident group instead (services/notify/groups.py) and the group's notice is sent the same way.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import asyncpg

from alerts.channels import Channel, load_channels
from alerts.events import AlertEvent
from alerts.routing import GroupSpec
from services.config import load_settings
from services.db.alerts import EVENT_COLUMNS, event_from_row
from services.notify.alertmanager import AlertmanagerSender
from services.notify.config import ChannelEndpoint, NotifyConfig, RetryPolicy
from services.notify.groups import QUIET, Grouping, absorb, stale_notices
from services.notify.messages import rule_values
from services.notify.robots import DingTalkSender, FeishuSender, WeComSender
from services.notify.senders import EmailSender, Sender, SendError, WebhookSender
from services.notify.sms import SmsSender

log = logging.getLogger("tidewatch.notify")

CLAIM = """
INSERT INTO notifications (alert_id, seq, channel, status, attempts) VALUES ($1, $2, $3, 'pending', 0)
ON CONFLICT (alert_id, seq, channel) DO NOTHING
RETURNING alert_id
"""
RECORD = """
UPDATE notifications SET status = $4, attempts = $5, last_error = $6, updated_at = now()
WHERE alert_id = $1 AND seq = $2 AND channel = $3
"""
# Claims left pending by a crashed sender, taken over by moving their clock (compare-and-set).
RECLAIM_STALE = f"""
UPDATE notifications n SET updated_at = now()
FROM alert_events e
WHERE n.status = 'pending' AND n.updated_at < now() - $1::float8 * interval '1 second'
  AND e.alert_id = n.alert_id AND e.seq = n.seq
RETURNING n.channel, n.attempts, {EVENT_COLUMNS}
"""


@dataclass
class DeliveryReport:
    sent: int = 0
    dead: int = 0
    already_claimed: int = 0
    unconfigured: int = 0
    grouped: int = 0  # member events folded into an incident group's notice
    dead_letters: list[tuple[str, int, str, str]] = field(default_factory=list)

    def add(self, other: DeliveryReport) -> None:
        self.sent += other.sent
        self.dead += other.dead
        self.already_claimed += other.already_claimed
        self.unconfigured += other.unconfigured
        self.grouped += other.grouped
        self.dead_letters += other.dead_letters


def endpoint_sender(endpoint: ChannelEndpoint, timeout_s: float) -> Sender:
    """The sender of one HTTP channel; each gets the endpoint's secrets to keep out of its errors."""
    url, secret, hidden = endpoint.url, endpoint.secret, endpoint.secrets()
    match endpoint.type:
        case "dingtalk":
            return DingTalkSender(url, secret, timeout_s, hidden)
        case "wecom":
            return WeComSender(url, None, timeout_s, hidden)
        case "feishu":
            return FeishuSender(url, secret, timeout_s, hidden)
        case "sms":
            return SmsSender(url, endpoint.recipients, secret, timeout_s, hidden)
        case "alertmanager":
            return AlertmanagerSender(url, endpoint.hold_s, timeout_s, hidden)
        case _:
            return WebhookSender(url, timeout_s, hidden)


def senders_from_config(config: NotifyConfig) -> dict[str, Sender]:
    senders: dict[str, Sender] = {
        name: endpoint_sender(endpoint, config.retry.timeout_s) for name, endpoint in config.endpoints.items()
    }
    if config.webhook_url and "webhook" not in senders:
        senders["webhook"] = endpoint_sender(
            ChannelEndpoint("webhook", config.webhook_url), config.retry.timeout_s
        )
    if config.smtp is not None:
        senders["email"] = EmailSender(
            config.smtp, config.email_from, config.email_to, config.retry.timeout_s
        )
    return senders


class Notifier:
    """Sends each event to the channels the rule engine routed it to (``event.channels``)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        config: NotifyConfig | None = None,
        *,
        channels: Sequence[Channel] | None = None,
        senders: Mapping[str, Sender] | None = None,
        grouping: Grouping | None = None,
    ) -> None:
        """`grouping`: which events are folded into incident groups (None: every event on its own)."""
        self.pool = pool
        self.grouping = grouping
        if config is None or channels is None:
            settings = load_settings()
            channels = tuple(channels) if channels is not None else load_channels(settings.channels_path)
            config = config if config is not None else NotifyConfig.from_settings(settings, channels)
        self.config = config
        self.retry: RetryPolicy = self.config.retry
        self.senders = dict(senders) if senders is not None else senders_from_config(self.config)
        known = {c.name for c in channels}
        for name in sorted(known - set(self.senders)):
            log.warning("notification channel %r is routed but not configured: its events are not sent", name)
        self._warned: set[str] = set()
        rule_values(load_settings().registry_path)  # the notices' units: read now, not at the first notice

    async def __aenter__(self) -> Notifier:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        for sender in self.senders.values():
            await sender.close()

    async def deliver(self, events: Iterable[AlertEvent]) -> DeliveryReport:
        """Send every routed (event, channel) not sent before. Per alert and channel in event order
        (a resolved notice never overtakes its firing notice); different ones concurrently."""
        queues: dict[tuple[str, str], list[AlertEvent]] = defaultdict(list)
        groups: dict[str, list[tuple[AlertEvent, str]]] = defaultdict(list)
        specs = {}
        report = DeliveryReport()
        for event in events:
            quiet = self.grouping.place(event, QUIET) if self.grouping else None
            if quiet is not None:  # a member closed under a silence or a hold: its group follows
                groups[quiet[0]].append((event, QUIET))
                specs[quiet[0]] = quiet[1]
            for channel in event.channels:
                placed = self.grouping.place(event, channel) if self.grouping else None
                if channel in self.senders and placed is not None:
                    groups[placed[0]].append((event, channel))
                    specs[placed[0]] = placed[1]
                elif channel in self.senders:
                    queues[(event.alert_id, channel)].append(event)
                else:
                    report.unconfigured += 1
                    if channel not in self._warned:
                        self._warned.add(channel)
                        log.warning("no sender for channel %r; configure it to receive alerts", channel)
        results = await asyncio.gather(
            *(self._deliver_queue(channel, queue) for (_, channel), queue in queues.items()),
            *(self._deliver_group(gid, specs[gid], items) for gid, items in sorted(groups.items())),
        )
        for result in results:
            report.add(result)
        return report

    async def retry_stale(self, older_than_s: float = 300.0) -> DeliveryReport:
        """Send claims a crashed notifier left `pending` for longer than `older_than_s`; keep that longer
        than the longest retry wait plus a try's timeout, or a live retry could be taken over."""
        async with self.pool.acquire() as conn:
            rows = await conn.fetch(RECLAIM_STALE, older_than_s)
        queues: dict[tuple[str, str], list[tuple[AlertEvent, int]]] = defaultdict(list)
        for row in rows:
            event = event_from_row(row)  # as stored, its state among the fields
            queues[(event.alert_id, row["channel"])].append((event, row["attempts"]))
        report = DeliveryReport()
        for (_, channel), items in queues.items():
            for event, attempts in sorted(items, key=lambda item: item[0].seq):
                if channel in self.senders:
                    report.add(await self._send(channel, event, attempts))
        async with self.pool.acquire() as conn:
            notices = await stale_notices(conn, older_than_s)
        for channel, attempts, notice in sorted(notices, key=lambda n: (n[2].alert_id, n[2].seq, n[0])):
            if channel in self.senders:
                report.add(await self._send(channel, notice, attempts))
        return report

    async def _deliver_group(
        self, gid: str, spec: GroupSpec, items: list[tuple[AlertEvent, str]]
    ) -> DeliveryReport:
        """Fold member events into their incident group and send its notice if it changed."""
        report = DeliveryReport()
        async with self.pool.acquire() as conn:
            notice = await absorb(conn, gid, spec, items)
        report.grouped += sum(channel != QUIET for _, channel in items)
        if notice is not None:
            for channel in notice.channels:
                report.add(await self._send(channel, notice, 0))
        return report

    async def _deliver_queue(self, channel: str, events: list[AlertEvent]) -> DeliveryReport:
        report = DeliveryReport()
        for event in sorted(events, key=lambda e: e.seq):
            async with self.pool.acquire() as conn:
                claimed = await conn.fetchval(CLAIM, event.alert_id, event.seq, channel)
            if claimed is None:
                report.already_claimed += 1
                continue
            report.add(await self._send(channel, event, 0))
        return report

    async def _send(self, channel: str, event: AlertEvent, attempts: int) -> DeliveryReport:
        """Try until sent, refused for good, or out of attempts; record every try's outcome."""
        sender, report, error = self.senders[channel], DeliveryReport(), ""
        failures = 0
        while attempts < self.retry.attempts:
            attempts += 1
            try:
                await sender.send(event)
            except SendError as exc:
                error, failures = str(exc), failures + 1
                if exc.permanent or attempts >= self.retry.attempts:
                    break
                await self._record(event, channel, "pending", attempts, error)
                await asyncio.sleep(self.retry.delay_s(failures))
            else:
                await self._record(event, channel, "sent", attempts, None)
                report.sent += 1
                return report
        await self._record(event, channel, "dead", attempts, error or "out of attempts")
        log.error(
            "dead letter: %s#%d on %s after %d attempt(s): %s",
            event.alert_id,
            event.seq,
            channel,
            attempts,
            error,
        )
        report.dead += 1
        report.dead_letters.append((event.alert_id, event.seq, channel, error))
        return report

    async def _record(
        self, event: AlertEvent, channel: str, status: str, attempts: int, error: str | None
    ) -> None:
        async with self.pool.acquire() as conn:
            await conn.execute(RECORD, event.alert_id, event.seq, channel, status, attempts, error)
