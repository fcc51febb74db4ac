"""Alerts in the stream: the alert-inputs log → alert engine → stored events → notifications.

The agent reads one topic, ``alert-inputs``, whose every partition is one ordered log of what the
engine needs: QC results (first flags, then revisions; ``streams.qc.first_flags``), indicator values,
operator actions and clock ticks. Records are applied one by one in log order and nothing depends
on how faust batches them, so a replay of the log gives the identical events (ids, times, order).

- readings are judged on arrival (``AlertEngine.observe``) with the record's wall time as their
  arrival: each station keeps its own clock and lateness, so a late station is judged, its events
  marked late, and never dropped.
- ticks: every ``TIDEWATCH_ALERT_TICK_S`` each worker writes a tick into the partitions it owns;
  timers (silent station, re-notify, silence end) fire on the tick, so a station alone on its
  partition goes silent on time, and a replay sees the same ticks in the same places.
- indicators: judged at their own data time; a None value is a retraction and is skipped.
- actions: acknowledge, silence and remove_silence dicts from the console. A silence without a
  station arrives on every partition; every copy applies (idempotent by id).

Per batch: events, silences and removals are stored in one transaction (retried until stored), then
events go to the alert-events topic (delivered), then the engine state of changed stations goes to the
changelog table, then events go to MQTT and the notifier. Notifications are delivered from the stored
events: the queue to the notifier only wakes it; it also sweeps ``alert_events`` for routed events no
one has claimed (a transactional outbox), so a full queue or a crash between storing and sending loses
no notice.
Faust commits offsets every few seconds while the state is saved after every batch: after a crash or
a rebalance the records since the last commit come again. The saved state records, per partition, the
offset of the last record it includes, and those records are skipped; a batch replayed because it
never reached the state is judged again, and the (alert_id, seq) keys make its events overwrite
nothing.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
import uuid
from collections import Counter
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import asyncpg
import faust
import msgspec
import orjson

from alerts.channels import EVENT_KINDS
from alerts.engine import AlertEngine
from alerts.events import AlertEvent
from alerts.inputs import Observation, indicator_observations, reading_observation
from alerts.setup import AlertSetup
from alerts.severity import SEVERITIES
from alerts.silences import Silence
from schemas.actions import Acknowledge, SilenceAction, action_of
from schemas.records import ALERT_INPUTS_TOPIC, partition_for
from schemas.topics import IndicatorBatch, ObservationBatch, Tick, encode
from services.backoff import Backoff
from services.db.alerts import (
    active_silences,
    remove_silence,
    store_alert_events,
    store_silence,
    unclaimed_events,
)
from services.db.writers import insert_dead_letters
from services.mqtt_auth import aiomqtt_options
from services.notify import Notifier, publish_alert_events
from services.notify.groups import Grouping
from streams import metrics
from streams.app import alert_events_topic, alert_inputs_topic, app, registry, results_producer, settings
from streams.durable_writes import pool, write_until_stored
from streams.isolate import Isolated
from streams.state import Assignment, PieceTable, owned_partition, partition_owner
from streams.watermark import SourceWatermark

log = logging.getLogger(__name__)

# Batches of events waiting for MQTT or the notifier; beyond that the notifier's sweep of the stored
# events delivers them (MQTT carries the current state, retained, so a later event supersedes).
QUEUE_BATCHES = 1000
# How far back the notifier's sweep looks for stored events nobody claimed.
NOTIFY_SWEEP_WINDOW_S = 86_400.0

# Rules, channels, routing: validated at start-up, a bad file stops the worker here.
_setup = AlertSetup.load(registry, settings.channels_path, settings.routing_path)
_rules, _channels, _routing = _setup.rules, _setup.channels, _setup.routing
alert_table = PieceTable("alert-state")
ENGINE_PIECE = "engine"  # one piece per station: its alerts, clock and pending inputs
APPLIED_PIECE = "applied"  # per partition: the offset of the last alert-inputs record applied
# In a station's engine piece: [partition, offset] of the last record of each partition it includes.
MARKS = "applied"
# The source watermarks, one per agent that feeds the alert-inputs log (keys of the applied piece too).
QC_SOURCES, INDICATOR_SOURCES = "qc", "indicators"
_SOURCE_FIELDS = {QC_SOURCES: "sources", INDICATOR_SOURCES: "indicator_sources"}
# In a partition mark: the engine's silences whose action records came through that partition.
SILENCES = "silences"


# -- records → engine inputs (no I/O) --------------------------------------------------------------
@dataclass
class BatchOutcome:
    """What one batch produced: events, and the silence changes to store before them."""

    events: list[AlertEvent] = field(default_factory=list)
    silences: dict[str, Silence] = field(default_factory=dict)
    removals: list[tuple[str, int]] = field(default_factory=list)
    origins: list[tuple[str, int]] = field(default_factory=list)  # (silence id, its record's partition)


def apply_action(
    engine: AlertEngine, document: dict[str, Any], applied: BatchOutcome, partition: int | None = None
) -> list[AlertEvent]:
    """One operator action, in stream order; an unknown or malformed action is logged and skipped."""
    try:
        action = action_of(document)
    except msgspec.ValidationError as exc:
        log.warning("alert action skipped (%s): %r", exc, document)
        return []
    try:
        if isinstance(action, Acknowledge):
            return engine.acknowledge(
                action.alert_id, actor=action.actor, time_us=action.time_us, comment=action.comment
            )
        if isinstance(action, SilenceAction):
            silence = Silence.from_action(action)
            events = engine.silence(silence)
            applied.silences[silence.id] = silence
            if partition is not None:
                applied.origins.append((silence.id, partition))
            return events
        events = engine.remove_silence(action.id, actor=action.actor, time_us=action.time_us)
        applied.removals.append((action.id, action.time_us))
        return events
    except (KeyError, TypeError, ValueError) as exc:  # well-formed, but not one the engine can apply
        log.warning("alert action skipped (%s): %r", exc, document)
        return []


def partition_stations(engine: AlertEngine, partition: int) -> list[str]:
    return [s for s in engine.stations if partition_for(s, settings.topic_partitions) == partition]


def observe_by_station(
    engine: AlertEngine,
    observations: list[Observation],
    wall_us: int,
    applied: BatchOutcome,
    isolated: Isolated,
) -> None:
    """Judge a record's observations station by station (each station's alerts depend on its own inputs
    only), so one station the engine fails on leaves the others judged."""
    by_station: dict[str, list[Observation]] = {}
    for observation in observations:
        by_station.setdefault(observation.station, []).append(observation)
    for station, mine in by_station.items():
        applied.events += (
            isolated.run(
                station,
                functools.partial(engine.observe, mine, wall_us or None),
                functools.partial(_observations_json, mine),
            )
            or []
        )


def _observations_json(observations: list[Observation]) -> bytes:
    """A station's observations as kept in a processing_failed dead letter."""
    return orjson.dumps([o.to_list() for o in observations])


@contextmanager
def _without(engine: AlertEngine, stations: Collection[str]) -> Iterator[None]:
    """The engine as if these stations were not in it (a record their state includes already)."""
    hidden = {s: engine.stations.pop(s) for s in sorted(stations) if s in engine.stations}
    try:
        yield
    finally:
        engine.stations.update(hidden)


def apply_record(
    engine: AlertEngine,
    value: bytes,
    partition: int,
    applied: BatchOutcome,
    sources: Mapping[str, SourceWatermark],
    isolated: Isolated,
    applied_already: Collection[str] = frozenset(),
) -> None:
    """Apply one record of the alert-inputs log; a malformed one is logged and skipped.

    `applied_already`: stations whose restored state includes this record (``AlertProgress.fresh``):
    it is applied as if they were not there (the source watermarks still see it)."""
    with _without(engine, applied_already):
        _apply_record(engine, value, partition, applied, sources, isolated, applied_already)


def _fresh(
    kind: str,
    sources: Mapping[str, SourceWatermark],
    partition: int,
    wall_us: int,
    items: list[Any],
    offsets: list[int],
) -> list[Any]:
    """The results of a record not judged before (``SourceWatermark.fresh``), repeats counted."""
    fresh, repeated = sources[kind].fresh(partition, wall_us, items, offsets)
    if repeated:
        metrics.ALERT_RESULTS_REPEATED.labels(kind).inc(repeated)
    return fresh


def _apply_record(
    engine: AlertEngine,
    value: bytes,
    partition: int,
    applied: BatchOutcome,
    sources: Mapping[str, SourceWatermark],
    isolated: Isolated,
    applied_already: Collection[str],
) -> None:
    try:
        record = orjson.loads(value)
        tag = record.get("type") if isinstance(record, dict) else None
        if tag == "observations/v1":
            judged = msgspec.convert(record, ObservationBatch)
            results = _fresh(QC_SOURCES, sources, partition, judged.wall_us, judged.results, judged.sources)
            observations = [reading_observation(r) for r in results if r.station not in applied_already]
            observe_by_station(engine, observations, judged.wall_us, applied, isolated)
        elif tag == "indicators/v1":
            made = msgspec.convert(record, IndicatorBatch)
            items = _fresh(INDICATOR_SOURCES, sources, partition, made.wall_us, made.items, made.sources)
            observations = indicator_observations([i for i in items if i.station not in applied_already])
            observe_by_station(engine, observations, made.wall_us, applied, isolated)
        elif tag == "tick/v1":
            tick = msgspec.convert(record, Tick)
            applied.events += engine.tick(tick.wall_us, partition_stations(engine, partition))
        elif isinstance(record, dict):
            applied.events += apply_action(engine, record, applied, partition)
        else:
            log.warning("alert input skipped: not a JSON object")
    except (orjson.JSONDecodeError, msgspec.ValidationError) as exc:
        log.warning("alert input skipped: %s", exc)


# -- storage ---------------------------------------------------------------------------------------
async def store_applied(conn: asyncpg.Connection, batches: Sequence[BatchOutcome]) -> int:
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


# -- how far the saved state has applied the log (no I/O) --------------------------------------------
def new_engine() -> AlertEngine:
    """A blank engine with the worker's registry, rules, channels, routing and settings."""
    return _setup.engine(settings.alert_late_after_s, settings.alert_tick_grace_s)


class AlertProgress:
    """Which alert-inputs records the engine state includes, and what of it to save.

    Per partition, the offset of the last record the saved engine state includes. Faust commits
    offsets every few seconds, the state after every batch: after a restart or a rebalance the
    records in between come again, and judging them twice would add events (late inputs are judged,
    never dropped), so they are skipped.

    A save is several changelog records (each changed station's piece, then each partition's mark)
    and a worker killed while writing leaves any prefix of them. So each station's piece carries the
    marks it was saved at (``MARKS``: [partition, offset] pairs) and is whole by itself: on a rebuild
    a record after its partition's mark is applied to every station except those whose piece
    already includes it (``fresh``); the partition mark stays the base (stations saved before pieces
    carried marks, or unchanged since their last save) and carries the source watermarks, which see
    every record after it.

    The engine's silences travel in the partition marks too: each mark lists the silences (still in
    the engine) whose action record came through its partition (a rule-wide silence, sent to every
    partition, is in each), and a rebuild takes the union of its partitions' lists. So a silence
    whose action record lies after a mark comes back when that record does, at its place in the log,
    and an alert the log raised before it fires as it did (taken from the database instead, such a
    silence was there already and the alert fired silenced). Without marks, or with marks saved
    before they carried silences, the silences come from the database (``stored_silences``). Pure:
    the agent writes what ``writes`` returns."""

    def __init__(
        self,
        applied: dict[int, int] | None = None,
        sources: dict[str, SourceWatermark] | None = None,
        ahead: dict[int, dict[str, int]] | None = None,
        origins: dict[str, set[int]] | None = None,
        stored_silences: bool = True,
    ) -> None:
        self.applied: dict[int, int] = dict(applied or {})
        # Silence id -> the partitions its action records came through.
        self.origins: dict[str, set[int]] = {k: set(v) for k, v in (origins or {}).items()}
        # Whether the rebuilt engine's silences must come from the database (no mark carried them).
        self.stored_silences = stored_silences
        self._moved: set[int] = set()  # partitions whose applied offset moved since the last save
        # Per partition, the newest source offset (readings for QC results, observations for indicators)
        # whose results were judged: repeats are skipped.
        self.sources = sources or {kind: SourceWatermark() for kind in _SOURCE_FIELDS}
        # Per partition, stations restored from a piece saved past the partition's mark (a torn save):
        # station -> the offset its state includes. Dropped as the log passes it.
        self._ahead: dict[int, dict[str, int]] = {p: dict(s) for p, s in (ahead or {}).items() if s}

    @classmethod
    def restore(cls, engine: AlertEngine, loaded: Mapping[str, Mapping[str, Any]]) -> AlertProgress:
        """Load the stored pieces ({owner: {piece: value}}, ``PieceTable.load``) into a blank engine."""
        applied: dict[int, int] = {}
        marks: dict[str, dict[int, list[int]]] = {kind: {} for kind in _SOURCE_FIELDS}
        saved_at: dict[str, list[list[int]]] = {}
        origins: dict[str, set[int]] = {}
        stored_silences = not any(owned_partition(owner) is not None for owner in loaded)
        for owner, pieces in loaded.items():
            partition = owned_partition(owner)
            if partition is not None:
                mark = pieces.get(APPLIED_PIECE)
                if isinstance(mark, int):  # written before the sources were kept
                    applied[partition] = mark
                elif isinstance(mark, dict):
                    applied[partition] = int(mark["offset"])
                    for kind, name in _SOURCE_FIELDS.items():
                        if name in mark:
                            marks[kind][partition] = [int(v) for v in mark[name]]
                    for silence in mark.get(SILENCES, ()):
                        engine.silences[silence["id"]] = Silence.from_dict(silence)
                        origins.setdefault(silence["id"], set()).add(partition)
                if not isinstance(mark, dict) or SILENCES not in mark:
                    stored_silences = True  # a mark saved before marks carried silences
            elif (piece := pieces.get(ENGINE_PIECE)) is not None:
                engine.load_station_state(owner, piece)
                saved_at[owner] = piece.get(MARKS, [])  # none: saved before pieces carried marks
        ahead: dict[int, dict[str, int]] = {}
        for station, pairs in saved_at.items():
            for partition, offset in pairs:
                if offset > applied.get(partition, -1):
                    ahead.setdefault(int(partition), {})[station] = int(offset)
        return cls(
            applied,
            {kind: SourceWatermark(marks[kind]) for kind in _SOURCE_FIELDS},
            ahead,
            origins,
            stored_silences,
        )

    def fresh(self, partition: int, offset: int) -> frozenset[str] | None:
        """Whether a record is new to the engine state (and mark it applied): None if the state
        includes it, else the stations whose state includes it all the same (not to apply it to)."""
        if offset <= self.applied.get(partition, -1):
            metrics.ALERT_INPUTS_REPLAYED.inc()
            return None
        self.applied[partition] = offset
        self._moved.add(partition)
        ahead = self._ahead.get(partition)
        if not ahead:
            return frozenset()
        included = frozenset(s for s, saved in ahead.items() if offset <= saved)
        for station in [s for s, saved in ahead.items() if saved <= offset]:
            del ahead[station]
        if not ahead:
            del self._ahead[partition]
        return included

    def marks(self, station: str) -> list[list[int]]:
        """The offsets a station's state includes, per partition: the applied ones, or further where
        its restored piece was saved past them and the log has not caught up yet."""
        return [
            [p, max(offset, self._ahead.get(p, {}).get(station, -1))]
            for p, offset in sorted(self.applied.items())
        ]

    def writes(
        self, engine: AlertEngine, applied: BatchOutcome | None = None
    ) -> list[tuple[str, dict[str, Any]]]:
        """The pieces to save, in order, as (owner, {piece: value}): the changed stations' states
        with their marks, then the applied marks of the partitions that moved (``applied``: what
        the batches since the last save did, for the partitions each silence came through)."""
        for silence_id, partition in applied.origins if applied else ():
            self.origins.setdefault(silence_id, set()).add(partition)
        self.origins = {k: v for k, v in self.origins.items() if k in engine.silences}
        out: list[tuple[str, dict[str, Any]]] = []
        for station in engine.take_dirty():
            state = engine.station_state(station)
            if state is not None:
                state[MARKS] = self.marks(station)
            out.append((station, {ENGINE_PIECE: state}))
        for partition in sorted(self._moved):
            mark: dict[str, object] = {
                "offset": self.applied[partition],
                SILENCES: [
                    engine.silences[k].to_dict() for k in sorted(self.origins) if partition in self.origins[k]
                ],
            }
            for kind, name in _SOURCE_FIELDS.items():
                mark[name] = self.sources[kind].state(partition)
            out.append((partition_owner(partition), {APPLIED_PIECE: mark}))
        self._moved = set()
        return out


# -- the engine of this worker ---------------------------------------------------------------------
class _Alerts:
    """The worker's alert engine, rebuilt from the state table (and stored silences) whenever the
    partitions it owns change."""

    def __init__(self) -> None:
        self.assignment = Assignment(ALERT_INPUTS_TOPIC)
        self.engine: AlertEngine | None = None
        self.progress = AlertProgress()

    async def get(self) -> AlertEngine:
        if self.assignment.changed() or self.engine is None:
            self.engine = await self._build(self.assignment.partitions or frozenset())
        return self.engine

    async def _build(self, partitions: frozenset[int]) -> AlertEngine:
        engine = new_engine()
        self.progress = AlertProgress.restore(engine, alert_table.load(partitions))
        if not self.progress.stored_silences:
            engine.take_dirty()
            return engine
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
        return engine

    def save(self, engine: AlertEngine, applied: BatchOutcome) -> None:
        for owner, pieces in self.progress.writes(engine, applied):
            alert_table.write(owner, pieces)


_alerts = _Alerts()


# -- delivery off the stream -----------------------------------------------------------------------
class _Outbox:
    """A bounded queue served by one background task; a full queue drops (and logs) a batch (the
    notifier's sweep of the stored events still delivers it; MQTT's retained state is superseded)."""

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
    backoff = Backoff(0.5, 30.0)
    while True:
        try:
            options: dict[str, Any] = aiomqtt_options(target)  # typed per keyword by aiomqtt.Client
            async with aiomqtt.Client(**options, identifier=identifier) as client:
                backoff.reset()
                while True:
                    if pending is None:
                        pending = await outbox.queue.get()
                    await publish_alert_events(client, pending, registry=registry)
                    pending = None
        except aiomqtt.MqttError as exc:
            log.warning("MQTT alert publishing failed (%s); reconnecting in %.1f s", exc, backoff.next_s)
            await backoff.sleep()


async def _serve_notifier(outbox: _Outbox) -> None:
    """Deliver routed events as they are stored; every ``TIDEWATCH_NOTIFY_SWEEP_S``, busy or idle, sweep
    the stored events for routed ones nobody has claimed (dropped from a full queue, or stored just
    before a crash) and retry claims a crashed worker left pending."""
    grouping = Grouping(_routing, registry)
    async with Notifier(await pool(), channels=_channels, grouping=grouping) as notifier:
        swept = time.monotonic()
        while True:
            wait_s = max(0.0, settings.notify_sweep_s - (time.monotonic() - swept))
            try:
                events = await asyncio.wait_for(outbox.queue.get(), timeout=wait_s)
            except TimeoutError:
                events = None
            try:
                if events:
                    await notifier.deliver(events)
                if time.monotonic() - swept >= settings.notify_sweep_s:
                    swept = time.monotonic()
                    await _sweep(notifier)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("alert notification failed (%s); the sweep of stored events retries", exc)


async def _sweep(notifier: Notifier) -> None:
    async with (await pool()).acquire() as conn:
        missed = await unclaimed_events(conn, NOTIFY_SWEEP_WINDOW_S, sorted(notifier.senders))
    if missed:
        log.warning("delivering %d stored alert events that were never handed over", len(missed))
        await notifier.deliver(missed)
    await notifier.retry_stale()


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
@app.timer(interval=settings.alert_tick_s)
async def write_ticks() -> None:
    """A tick into each alert-inputs partition this worker owns: the engine's timers fire on it."""
    value = encode(Tick(time.time_ns() // 1000))
    for partition in sorted(_alerts.assignment.current()):
        await alert_inputs_topic.send(value=value, partition=partition)


# faust's agent type takes the StreamT interface, which lacks the take_events a faust.Stream (what an
# agent is given) has.
@app.agent(alert_inputs_topic)  # type: ignore[arg-type]
async def evaluate_alerts(stream: faust.Stream[bytes]) -> None:
    async for records in stream.take_events(200, within=settings.store_batch_within_s):
        _start_delivery()
        engine = await _alerts.get()
        applied = BatchOutcome()
        isolated = Isolated("alerts")
        progress = _alerts.progress
        for record in records:
            partition = record.message.partition
            applied_already = progress.fresh(partition, record.message.offset)
            if applied_already is not None:
                apply_record(
                    engine, record.value, partition, applied, progress.sources, isolated, applied_already
                )
        await write_until_stored(store_applied, [applied])
        if isolated.letters:
            await write_until_stored(insert_dead_letters, isolated.letters)
        # One record per event, on its station's partition (consumers key by alert id and seq).
        await results_producer.deliver(
            [
                (
                    alert_events_topic.get_topic_name(),
                    partition_for(event.station, settings.topic_partitions),
                    orjson.dumps(event.to_dict()),
                    event.alert_id.encode(),
                )
                for event in applied.events
            ]
        )
        # The engine state reaches the changelog only after the events it produced are stored and on
        # the alert-events topic: a state that holds a record's events makes a replay skip that record.
        _alerts.save(engine, applied)
        if applied.events:
            _mqtt_out.put(applied.events)
            _notify_out.put(applied.events)
        observe_events(engine, applied.events)
