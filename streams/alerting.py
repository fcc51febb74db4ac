"""Alerts in the stream: QC results, indicators and operator actions → alert engine → events.

One agent reads three co-partitioned topics (observations, indicators, alert actions). Each record
is applied in stream order, and after each record the partition's stations are advanced to the
partition watermark, so the events depend only on the order of records on a partition, never on
how faust batches them:

- watermark: the newest event time of any station of the partition (the max of the stations'
  ``max_seen_us`` in the engine state, so it is restored with the state); the engine judges
  observations older than ``watermark - horizon`` and fires timers (silent station, re-notify,
  silence end) due before it. Readings older than a station's judged clock are late and not judged.
- QC revisions: first results and corrections (``revised=True``) both go to the engine, in stream
  order. A reading waits in the engine until the next reading of its series has come (its flags are
  then final) and a correction replaces it while it waits; it is judged once, and a correction
  after that is counted and ignored (``AlertEngine.observe``).
- indicators: a None value is a retraction and is skipped (the alert keeps its history).
- actions: acknowledge, silence and remove_silence dicts from the console, in stream order. A
  silence without a station arrives on every partition; every copy applies (idempotent by id).

Per batch: events, silences and removals are stored in one transaction (retried until stored), then
the engine state of changed stations goes to the changelog table, then events go to the alert-events
topic, then to MQTT and the notifier through queues served by background tasks, so a broker or a
webhook that is down never holds up the stream. Faust commits offsets after the loop body: a crash
replays the batch, and the (alert_id, seq) keys make the replayed events overwrite nothing.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import aiomqtt
import asyncpg
import msgspec
import orjson

from alerts.channels import EVENT_KINDS, load_channels
from alerts.engine import AlertEngine
from alerts.events import AlertEvent
from alerts.inputs import INDICATOR, Observation, reading_observation
from alerts.loader import load_rules
from alerts.severity import SEVERITIES
from alerts.silences import Silence
from schemas.records import ALERT_ACTIONS_TOPIC, INDICATORS_TOPIC, OBSERVATIONS_TOPIC, partition_for
from schemas.registry import load_registry
from services.db.alerts import active_silences, remove_silence, store_alert_events, store_silence
from services.mqtt_auth import aiomqtt_options
from services.notify import Notifier, publish_alert_events
from streams import metrics
from streams.app import alert_events_topic, app, settings, state_table
from streams.db import pool, write_until_stored
from streams.topics import IndicatorBatch, ObservationBatch

log = logging.getLogger(__name__)

# How far behind the partition watermark a reading may arrive and still be judged.
QUEUE_BATCHES = 1000

_registry = load_registry(settings.registry_path)
_rules = load_rules(_registry)  # validated at start-up: a bad rule file stops the worker here
_channels = load_channels()
alert_table = state_table("alert-state")


# -- records → engine inputs (no I/O) --------------------------------------------------------------
@dataclass
class Applied:
    """What one batch produced: events, and the silence changes to store before them."""

    events: list[AlertEvent] = field(default_factory=list)
    silences: dict[str, Silence] = field(default_factory=dict)
    removals: list[tuple[str, int]] = field(default_factory=list)


def reading_observations(batch: ObservationBatch) -> list[Observation]:
    """QC results, first ones and corrections, as reading observations in stream order."""
    return [reading_observation(r) for r in batch.results]


def indicator_observations(engine: AlertEngine, batch: IndicatorBatch) -> list[Observation]:
    """Indicator values, judged when they become known; a None value retracts one and is not judged.

    An indicator is known later than its own time (a high water ~4 h after it, a daily value after
    its day), so by its own time it would always be "late" for the station's clock and never judged.
    It is judged at the station's clock instead: still deterministic, as the clock only follows the
    order of records on the partition.
    """
    out = []
    for item in batch.items:
        if item.value is None:
            continue
        station = engine.stations.get(item.station)
        clock = station.clock_us if station is not None and station.clock_us is not None else None
        time_us = item.time_us if clock is None else max(item.time_us, clock + 1)
        out.append(Observation(item.station, INDICATOR, item.indicator, time_us, item.value))
    return out


def apply_action(engine: AlertEngine, action: dict, applied: Applied) -> list[AlertEvent]:
    """One operator action, in stream order; an unknown or malformed action is logged and skipped."""
    kind = action.get("type")
    try:
        if kind == "acknowledge":
            return engine.acknowledge(
                str(action["alert_id"]),
                actor=str(action["actor"]),
                time_us=int(action["time_us"]),
                comment=str(action.get("comment") or ""),
            )
        if kind == "silence":
            silence = Silence.from_action(action)
            applied.silences[silence.id] = silence
            return engine.silence(silence)
        if kind == "remove_silence":
            silence_id, time_us = str(action.get("id") or action["silence_id"]), int(action["time_us"])
            applied.removals.append((silence_id, time_us))
            return engine.remove_silence(silence_id, actor=str(action["actor"]), time_us=time_us)
    except (KeyError, TypeError, ValueError) as exc:
        log.warning("alert action skipped (%s): %r", exc, action)
        return []
    log.warning("unknown alert action skipped: %r", action)
    return []


def partition_stations(engine: AlertEngine, partition: int) -> list[str]:
    return [s for s in engine.stations if partition_for(s, settings.topic_partitions) == partition]


def apply_record(engine: AlertEngine, value: bytes, partition: int, applied: Applied) -> None:
    """Apply one Kafka record of any of the three topics, then advance its partition's watermark."""
    try:
        record = orjson.loads(value)
        tag = record.get("type") if isinstance(record, dict) else None
        if tag == "observations/v1":
            applied.events += engine.observe(reading_observations(msgspec.convert(record, ObservationBatch)))
        elif tag == "indicators/v1":
            applied.events += engine.observe(
                indicator_observations(engine, msgspec.convert(record, IndicatorBatch))
            )
        elif isinstance(record, dict):
            applied.events += apply_action(engine, record, applied)
        else:
            log.warning("alert input skipped: not a JSON object")
    except (orjson.JSONDecodeError, msgspec.ValidationError) as exc:
        log.warning("alert input skipped: %s", exc)
        return
    stations = partition_stations(engine, partition)
    seen = [engine.stations[s].max_seen_us for s in stations]
    watermark = max((t for t in seen if t is not None), default=None)
    if watermark is not None:
        applied.events += engine.advance_time(watermark, stations)


# -- storage ---------------------------------------------------------------------------------------
async def store_applied(conn: asyncpg.Connection, batches: Sequence[Applied]) -> int:
    """Silences first (the alert projection reads them), then removals, then the events."""
    new = 0
    async with conn.transaction():
        for applied in batches:
            for silence in applied.silences.values():
                await store_silence(conn, silence)
            for silence_id, time_us in applied.removals:
                await remove_silence(conn, silence_id, time_us)
            new += await store_alert_events(conn, applied.events)
    return new


# -- the engine of this worker ---------------------------------------------------------------------
class _Alerts:
    """The worker's alert engine, rebuilt from the changelog table (and stored silences) on rebalance."""

    engine: AlertEngine | None = None

    async def get(self) -> AlertEngine:
        if self.engine is None:
            engine = AlertEngine(
                _registry,
                _rules,
                _channels,
                horizon_us=round(settings.alert_horizon_s * 1e6),
                await_next_reading=True,
            )
            for station, state in alert_table.items():
                if state is not None:
                    engine.load_station_state(str(station), state)
            clocks = [s.clock_us for s in engine.stations.values() if s.clock_us is not None]
            async with (await pool()).acquire() as conn:
                for row in await active_silences(conn, min(clocks, default=0)):
                    engine.silences[row["id"]] = Silence(
                        id=row["id"],
                        created_us=row["starts_us"],
                        ends_us=row["ends_us"],
                        actor=row["actor"],
                        station=row["station"],
                        rule=row["rule"],
                        comment=row["comment"] or "",
                    )
            engine.take_dirty()
            self.engine = engine
        return self.engine


_alerts = _Alerts()


@app.on_rebalance_complete.connect
async def _reload_alert_state(sender: object, **kwargs: object) -> None:
    _alerts.engine = None  # partitions moved: the next batch loads the assigned stations' state


# -- delivery off the stream -----------------------------------------------------------------------
class _Outbox:
    """A bounded queue served by one background task; a full queue drops (and logs) a batch."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.queue: asyncio.Queue[list[AlertEvent]] = asyncio.Queue(QUEUE_BATCHES)
        self.task: asyncio.Task | None = None

    def put(self, events: list[AlertEvent]) -> None:
        try:
            self.queue.put_nowait(events)
        except asyncio.QueueFull:
            log.error("%s queue full: %d alert events not handed over", self.name, len(events))


async def _serve_mqtt(outbox: _Outbox) -> None:
    """One long-lived MQTT connection; reconnect on failure and retry the batch in hand."""
    target = settings.mqtt_target("alerts")
    identifier = f"tidewatch-alerts-{settings.worker_id}-{uuid.uuid4().hex[:6]}"
    pending: list[AlertEvent] | None = None
    delay = 0.5
    while True:
        try:
            async with aiomqtt.Client(**aiomqtt_options(target), identifier=identifier) as client:
                delay = 0.5
                while True:
                    if pending is None:
                        pending = await outbox.queue.get()
                    await publish_alert_events(client, pending, registry=_registry)
                    pending = None
        except aiomqtt.MqttError as exc:
            log.warning("MQTT alert publishing failed (%s); reconnecting in %.1f s", exc, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)


async def _serve_notifier(outbox: _Outbox) -> None:
    """Deliver routed events; stale claims of a crashed worker are retried when the queue is idle."""
    async with Notifier(await pool(), channels=_channels) as notifier:
        while True:
            try:
                events = await asyncio.wait_for(outbox.queue.get(), timeout=300)
            except TimeoutError:
                events = None
            try:
                await (notifier.deliver(events) if events else notifier.retry_stale())
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("alert notification failed (%s); claims left pending are retried later", exc)


_mqtt_out = _Outbox("MQTT")
_notify_out = _Outbox("notifier")


def _start_delivery() -> None:
    if _mqtt_out.task is None:
        _mqtt_out.task = asyncio.create_task(_serve_mqtt(_mqtt_out))
    if _notify_out.task is None:
        _notify_out.task = asyncio.create_task(_serve_notifier(_notify_out))


# -- metrics ---------------------------------------------------------------------------------------
def initialise_metrics() -> None:
    """Every (rule, severity) series at 0, so rate() and sum() see the first alert."""
    for rule in _rules:
        for severity in SEVERITIES:
            metrics.OPEN_ALERTS.labels(rule, severity).set(0)
            for kind in EVENT_KINDS:
                metrics.ALERT_EVENTS.labels(rule, kind, severity)


def observe_events(engine: AlertEngine, events: list[AlertEvent]) -> None:
    for event in events:
        metrics.ALERT_EVENTS.labels(event.rule, event.kind, event.severity or "none").inc()
    open_now = Counter((a["rule"], a["severity"]) for a in engine.open_alerts() if a["phase"] == "firing")
    for rule in _rules:
        for severity in SEVERITIES:
            metrics.OPEN_ALERTS.labels(rule, severity).set(open_now.get((rule, severity), 0))


initialise_metrics()


# -- the agent -------------------------------------------------------------------------------------
alert_inputs = app.topic(
    OBSERVATIONS_TOPIC,
    INDICATORS_TOPIC,
    ALERT_ACTIONS_TOPIC,
    value_type=bytes,
    value_serializer="raw",
    partitions=settings.topic_partitions,
)


@app.agent(alert_inputs)
async def evaluate_alerts(stream):  # type: ignore[no-untyped-def]
    async for records in stream.take_events(200, within=settings.store_batch_within_s):
        _start_delivery()
        engine = await _alerts.get()
        applied = Applied()
        for record in records:
            apply_record(engine, record.value, record.message.partition, applied)
        await write_until_stored(store_applied, [applied])
        # The engine state reaches the changelog only after the events it produced are stored.
        for station in engine.take_dirty():
            alert_table[station] = engine.station_state(station)
        by_partition: dict[int, list[AlertEvent]] = defaultdict(list)
        for event in applied.events:
            by_partition[partition_for(event.station, settings.topic_partitions)].append(event)
        for partition, events in by_partition.items():
            for event in events:
                await alert_events_topic.send(
                    key=event.alert_id.encode(), value=orjson.dumps(event.to_dict()), partition=partition
                )
        if applied.events:
            _mqtt_out.put(applied.events)
            _notify_out.put(applied.events)
        observe_events(engine, applied.events)
