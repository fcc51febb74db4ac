"""Live updates for the console pages: a change of alert state reaches every open page in about a second.

`store_alert_events` announces each committed batch on the ``tidewatch_alerts`` channel; the feed
listens on a dedicated connection (a pooled one would lose its LISTEN when returned) and wakes every
subscriber. A timer also wakes them every `refresh_s` for station status (last seen moves without any
alert), and re-establishes the listener if PostgreSQL went away — telling pages to reload the alerts,
since announcements sent meanwhile are lost.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg

from services.db.alerts import NOTIFY_CHANNEL

log = logging.getLogger("tidewatch.console")

ALERTS, STATIONS = "alerts", "stations"


class Subscription:
    """One page's pending topics; topics coalesce, so a burst of changes costs one reload."""

    def __init__(self) -> None:
        self.topics: set[str] = {ALERTS, STATIONS}
        self.wake = asyncio.Event()
        self.wake.set()

    def notify(self, topic: str) -> None:
        self.topics.add(topic)
        self.wake.set()

    async def next(self, timeout_s: float) -> set[str]:
        """Topics to send now; empty after `timeout_s` of quiet (time for a keep-alive)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self.wake.wait()
        self.wake.clear()
        topics, self.topics = self.topics, set()
        return topics


class LiveFeed:
    def __init__(self, database_url: str, *, refresh_s: float = 5.0) -> None:
        self.database_url = database_url
        self.refresh_s = refresh_s
        self.subscriptions: set[Subscription] = set()
        self.closed = False
        self._listener: asyncpg.Connection | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        await self._listen()
        self._task = asyncio.create_task(self._timer(), name="console-live-timer")

    async def close(self) -> None:
        self.closed = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._listener is not None and not self._listener.is_closed():
            await self._listener.close()
        for subscription in self.subscriptions:
            subscription.wake.set()

    def subscribe(self) -> Subscription:
        subscription = Subscription()
        self.subscriptions.add(subscription)
        return subscription

    def unsubscribe(self, subscription: Subscription) -> None:
        self.subscriptions.discard(subscription)

    def publish(self, topic: str) -> None:
        for subscription in self.subscriptions:
            subscription.notify(topic)

    def _on_notify(self, connection: object, pid: int, channel: str, payload: str) -> None:
        self.publish(ALERTS)

    async def _listen(self) -> None:
        self._listener = await asyncpg.connect(self.database_url)
        await self._listener.add_listener(NOTIFY_CHANNEL, self._on_notify)

    async def _timer(self) -> None:
        while not self.closed:
            await asyncio.sleep(self.refresh_s)
            self.publish(STATIONS)
            if self._listener is None or self._listener.is_closed():
                try:
                    await self._listen()
                except (OSError, asyncpg.PostgresError) as exc:
                    log.warning("console live feed: cannot listen for alert changes yet (%s)", exc)
                    continue
                self.publish(ALERTS)
