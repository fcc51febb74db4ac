"""Quality control and storage: readings → QARTOD flags → PostgreSQL/TimescaleDB and the observations topic.

Per batch of Kafka records: run the QC engine over every reading, publish the results (delivered),
then store new readings with their flags and corrected flags of earlier ones in one round trip and
checkpoint the QC context when due (see ``_CheckpointedQc``). Faust moves the offsets on only after the loop
body returns; a crash before that replays the batch: readings already stored are not duplicated, and
the QC context is rebuilt from the checkpoint and the stored readings. A stored reading's results are
always downstream already; a crash between publishing and storing publishes them again.
"""

from __future__ import annotations

import functools
import logging
import math
import time
from collections import defaultdict

import faust
import numpy as np
import orjson

from schemas.quality import decode
from schemas.records import READINGS_TOPIC, StationReadings, decode_batch, decode_dead_letter, partition_for
from schemas.topics import ObservationBatch, encode
from services.db.judgements import judgements_since
from services.db.provenance import register_versions
from services.db.writers import ObservationRow, insert_dead_letters, recent_readings, upsert_observations
from streams import metrics
from streams.app import (
    alert_inputs_topic,
    app,
    by_partition_records,
    dead_letter_topic,
    observations_topic,
    readings_topic,
    registry,
    results_producer,
    settings,
)
from streams.durable_writes import pool, write_until_stored
from streams.isolate import Isolated
from streams.qc import MISSING, NOT_EVALUATED, QcEngine, QcResult, Readings, load_qc_config
from streams.qc.first_flags import alert_view
from streams.qc.manual import JudgementBook
from streams.qc.provenance import qc_version
from streams.state import Assignment, PieceTable

log = logging.getLogger(__name__)
# A QC checkpoint round is spread over this many batches, so none of them holds the event loop long.
CHECKPOINT_SLICES = 20
_kinds = {s.id: s.kind for s in registry.stations.values()}
_qc_config = load_qc_config(
    registry, settings.qc_config_path
)  # validated at start-up: a bad file stops the worker here
metrics.initialise(registry)

qc_table = PieceTable("qc-state")
# What judges each station's readings, numbered in config_versions when the agent starts.
_qc_versions = [qc_version(_qc_config, station) for station in sorted(registry.stations)]


class NoQc:
    """``TIDEWATCH_QC=off`` (benchmarks): every reading stored as not evaluated (2), or missing (9)."""

    def process(self, readings: Readings) -> list[QcResult]:
        return [
            QcResult(
                s, v, int(t), None if x != x else float(x), MISSING if x != x else NOT_EVALUATED, 0, False
            )
            for s, v, t, x in zip(
                readings.station,
                readings.variable,
                readings.time_us.tolist(),
                readings.value.tolist(),
                strict=True,
            )
        ]

    def export_state(self) -> dict[str, dict | None]:
        return {}


class _CheckpointedQc:
    """The worker's QC engine and when its context last reached the changelog.

    Writing the context after every batch costs more than QC itself (two table writes per touched
    series), so it is checkpointed every ``TIDEWATCH_QC_CHECKPOINT_S``. After a restart or a
    rebalance the engine imports the checkpoint; then, the first time each station shows up, its
    stored readings are fed back from the database, starting a context span before the earliest of
    (its checkpointed newest reading, its oldest reading in that batch). Everything processed before
    the restart is in the database (rows are written before offsets move on), so the context equals
    an uninterrupted one and replayed records are recognised as duplicates instead of being judged
    again without their neighbours.
    """

    def __init__(self) -> None:
        self.engine: QcEngine | NoQc | None = None
        self.checkpointed = 0.0
        self.round_left = 0  # batches left in the checkpoint round under way
        self.slice_series = 0  # series each of them exports
        self.assignment = Assignment(READINGS_TOPIC)
        self.restored: set[str] = set()
        # Stations the engine failed on since the last rebuild: stored unjudged (see ``judge``).
        self.quarantined: set[str] = set()

    async def get(self, readings: Readings) -> QcEngine | NoQc:
        # Records of a newly assigned partition can arrive before the rebalance signal: compare the
        # assignment itself, so a station's context is always rebuilt before its readings are judged.
        if self.assignment.changed():
            self.engine = None
        if self.engine is None:
            if settings.qc_enabled:
                engine = QcEngine(_qc_config)
                saved = qc_table.load(self.assignment.partitions or frozenset())
                engine.import_state(
                    {
                        f"{station}/{piece}": value
                        for station, pieces in saved.items()
                        for piece, value in pieces.items()
                    }
                )
                self.engine = engine
            else:
                self.engine = NoQc()
            self.restored = set()
            self.quarantined = set()
            self.checkpointed = time.monotonic()
            self.round_left = 0
        if isinstance(self.engine, QcEngine):
            await self._restore(self.engine, readings)
        return self.engine

    async def judge(self, readings: Readings, isolated: Isolated) -> list[QcResult]:
        """QC of a batch; if the engine fails on it, a rebuilt engine judges it station by station and a
        station it still fails on is stored unjudged (flag 2) and quarantined until the next rebuild."""
        engine = await self.get(readings)
        if not self.quarantined:
            try:
                return engine.process(readings)
            except Exception:
                log.exception("QC failed on a batch: the engine is rebuilt and judges it station by station")
                self.engine = None
                engine = await self.get(readings)
        results: list[QcResult] = []
        for station, part in readings.by_station():
            judged = None
            if station not in self.quarantined:
                judged = isolated.run(
                    station, functools.partial(engine.process, part), functools.partial(_readings_json, part)
                )
            if judged is None:
                self.quarantined.add(station)
                judged = NoQc().process(part)
            results += judged
        return results

    async def _restore(self, engine: QcEngine, readings: Readings) -> None:
        """Feed stations seen for the first time since the rebuild their stored context."""
        context_us = round(2 * _qc_config.late_horizon_s * 1_000_000)
        first_seen: dict[str, int] = {}
        for station, time_us in zip(readings.station, readings.time_us.tolist(), strict=True):
            if station not in self.restored:
                first_seen[station] = min(time_us, first_seen.get(station, time_us))
        for station, oldest_in_batch in first_seen.items():
            self.restored.add(station)
            variables = sorted(registry.stations[station].variables) if station in registry.stations else []
            known = [int(t[-1]) for t in (engine.series_flags(station, v)[0] for v in variables) if len(t)]
            since = min([oldest_in_batch, *known]) - context_us
            async with (await pool()).acquire() as conn:
                rows = await recent_readings(conn, station, since)
            if rows:
                nan = float("nan")
                engine.process(
                    Readings(
                        [station] * len(rows),
                        [r[0] for r in rows],
                        np.array([r[1] for r in rows], dtype=np.int64),
                        np.array([nan if r[2] is None else r[2] for r in rows]),
                    )
                )
                log.info("QC context of %s restored from %d stored readings", station, len(rows))

    def checkpoint_if_due(self) -> None:
        """Every ``TIDEWATCH_QC_CHECKPOINT_S``, a round: what changed since, spread over the next
        ``CHECKPOINT_SLICES`` batches (all at once, 1,000 buoys held the event loop ~1.5 s, and every
        agent of the worker, alerts included, waited)."""
        engine = self.engine
        if not isinstance(engine, QcEngine):
            return
        if not self.round_left:
            if time.monotonic() - self.checkpointed < settings.qc_checkpoint_s:
                return
            self.checkpointed = time.monotonic()
            self.round_left = CHECKPOINT_SLICES
            self.slice_series = max(1, math.ceil(engine.unexported() / CHECKPOINT_SLICES))
        by_station: dict[str, dict[str, dict | None]] = defaultdict(dict)
        for key, state in engine.export_state(at_most=self.slice_series).items():
            station, piece = key.split("/", 1)
            by_station[station][piece] = state
        for station, pieces in by_station.items():
            qc_table.write(station, pieces)
        self.round_left = 0 if not engine.unexported() else self.round_left - 1


_qc = _CheckpointedQc()


class _Judgements:
    """Operators' judgements, so the indicators and the alert engine see a judged reading with the
    operator's flag, as the database stores it (``services/db/writers.py``). New ones are read every
    ``TIDEWATCH_MANUAL_QC_REFRESH_S``; a reading judged in between goes downstream with its automatic
    flag, and the reprocess run a judgement starts (``manual.reprocess_judged``) puts that right."""

    def __init__(self) -> None:
        self.book = JudgementBook()
        self.read_at = -math.inf

    async def refresh_if_due(self) -> None:
        if time.monotonic() - self.read_at < settings.manual_qc_refresh_s:
            return
        self.read_at = time.monotonic()
        try:
            async with (await pool()).acquire() as conn:
                rows = await judgements_since(conn, self.book.newest_id)
        except Exception as exc:  # the database away: keep what is held, try again next time
            log.warning("manual QC judgements not read (%s); trying again later", exc)
            return
        for flag_id, station, variable, start, end, flag in rows:
            self.book.add(flag_id, station, (variable, start, end, flag))


_judgements = _Judgements()


def _readings_json(readings: Readings) -> bytes:
    """A station's readings as kept in a processing_failed dead letter: [variable, time µs, value]."""
    times, values = readings.time_us.tolist(), readings.value.tolist()
    rows = zip(readings.variable, times, values, strict=True)
    return orjson.dumps([[v, t, None if x != x else x] for v, t, x in rows])


def readings_of(items: list[StationReadings]) -> tuple[Readings, dict[tuple[str, int], int]]:
    """Columns for the QC engine, and when ingest received each (station, time)."""
    stations: list[str] = []
    variables: list[str] = []
    times: list[int] = []
    values: list[float] = []
    received: dict[tuple[str, int], int] = {}
    nan = float("nan")
    for item in items:
        for sample in item.samples:
            received[item.station, sample.time_us] = item.received_us
            for variable, value in sample.values.items():
                stations.append(item.station)
                variables.append(variable)
                times.append(sample.time_us)
                values.append(nan if value is None else value)
    return Readings(stations, variables, np.array(times, dtype=np.int64), np.array(values)), received


@functools.lru_cache(maxsize=4096)
def tests_json(code: int) -> str:
    """The per-test flags as stored (JSON); a few codes cover nearly every reading, so cached."""
    return orjson.dumps(decode(code)).decode()


def result_rows(
    results: list[QcResult], received: dict[tuple[str, int], int], now_us: int
) -> list[ObservationRow]:
    """Database rows of QC results; a correction of an older reading carries no receive time of its own."""
    return [
        (
            r.time_us,
            r.station,
            r.variable,
            r.value,
            r.flag,
            tests_json(r.tests),
            received.get((r.station, r.time_us), now_us),
            r.revised,
        )
        for r in results
    ]


def observe_stored(
    items: list[StationReadings],
    new_rows: dict[str, int],
    offered: dict[str, int],
    results: list[QcResult],
    seconds: float,
) -> None:
    """Per-batch metrics: one pass over the batch's messages, never a label lookup per reading."""
    metrics.STORE_SECONDS.observe(seconds)
    metrics.BATCH_READINGS.observe(sum(offered.values()))
    now = time.time()
    for item in items:
        kind = _kinds.get(item.station, "unknown")
        metrics.INGEST_TO_STORE_SECONDS.observe(now - item.received_us / 1e6)
        newest = max(item.samples, key=lambda s: s.time_us)
        metrics.STATION_LAST_SEEN.labels(item.station, kind).set(newest.time_us / 1e6)
        for variable, value in newest.values.items():
            if variable in metrics.KEY_VARIABLES and value is not None:
                metrics.LATEST_VALUE.labels(item.station, kind, variable).set(value)
    for station, count in offered.items():
        kind = _kinds.get(station, "unknown")
        new = new_rows.get(station, 0)
        metrics.STORED.labels(kind).inc(new)
        if count > new:
            metrics.DUPLICATES.labels(kind).inc(count - new)
    flags: dict[tuple[str, str, int], int] = defaultdict(int)
    for r in results:
        if not r.revised:
            flags[_kinds.get(r.station, "unknown"), r.variable, r.flag] += 1
    for (kind, variable, flag), count in flags.items():
        metrics.QC_FLAGS.labels(kind, variable, str(flag)).inc(count)


def _station(result: QcResult) -> str:
    return result.station


class Sources:
    """Where each reading of a batch came from: the readings record's offset (see ``SourceWatermark``)."""

    def __init__(self) -> None:
        self.of_reading: dict[tuple[str, int], int] = {}
        self.newest: dict[int, int] = {}  # per partition, the batch's newest record

    def add(self, partition: int, offset: int, items: list[StationReadings]) -> None:
        self.newest[partition] = max(offset, self.newest.get(partition, -1))
        for item in items:
            for sample in item.samples:
                self.of_reading.setdefault((item.station, sample.time_us), offset)

    def of(self, result: QcResult) -> int:
        if not result.revised:
            found = self.of_reading.get((result.station, result.time_us))
            if found is not None:
                return found
        return self.newest.get(partition_for(result.station, settings.topic_partitions), -1)


async def emit_results(results: list[QcResult], sources: Sources) -> None:
    """QC results to the observations topic and the alert engine's log, delivered before returning."""
    # In time order, so each record is a time slice of the partition.
    results.sort(key=lambda r: (r.time_us, r.revised, r.station, r.variable))
    records = by_partition_records(
        observations_topic, results, _station, lambda chunk: encode(ObservationBatch(chunk))
    )
    wall_us = time.time_ns() // 1000
    records += by_partition_records(
        alert_inputs_topic,
        alert_view(results),
        _station,
        lambda chunk: encode(ObservationBatch(chunk, wall_us, [sources.of(r) for r in chunk])),
    )
    await results_producer.deliver(records)


# faust's agent type takes the StreamT interface, which lacks the take_events a faust.Stream (what an
# agent is given) has.
@app.agent(readings_topic)  # type: ignore[arg-type]
async def quality_control_and_store(stream: faust.Stream[bytes]) -> None:
    # The QC version stored with each station's flags (none with QC off: nothing judged them).
    versions = await write_until_stored(register_versions, _qc_versions) if settings.qc_enabled else {}
    async for events in stream.take_events(200, within=settings.store_batch_within_s):
        items: list[StationReadings] = []
        sources = Sources()
        for event in events:
            batch = decode_batch(event.value).items
            sources.add(event.message.partition, event.message.offset, batch)
            items += batch
        readings, received = readings_of(items)
        isolated = Isolated("qc")
        await _judgements.refresh_if_due()
        results = _judgements.book.overrule(await _qc.judge(readings, isolated))
        rows = result_rows(results, received, time.time_ns() // 1000)
        # Downstream first, then the rows: a replayed reading that is already stored counts as done
        # (QC sees a duplicate and emits nothing), so its results must have reached the indicators'
        # and the alert engine's logs before its row is written. A crash in between only repeats them.
        await emit_results(results, sources)
        started = time.perf_counter()
        # The batch's stations only (binding every station's costs ~5 % of the write at 1,000); a
        # quarantined station's readings are stored unjudged: no version.
        judged_by = {
            s: versions[s] for s in {i.station for i in items} if s in versions and s not in _qc.quarantined
        }
        new_rows = await write_until_stored(functools.partial(upsert_observations, versions=judged_by), rows)
        if isolated.letters:
            await write_until_stored(insert_dead_letters, isolated.letters)
        elapsed = time.perf_counter() - started
        # The QC context reaches the changelog only after the rows it flagged are stored.
        _qc.checkpoint_if_due()
        offered: dict[str, int] = defaultdict(int)
        for item in items:
            offered[item.station] += item.count()
        observe_stored(items, new_rows, offered, results, elapsed)


@app.agent(dead_letter_topic)
async def store_dead_letters(stream: faust.StreamT[bytes]) -> None:
    async for values in stream.take(500, within=settings.store_batch_within_s):
        letters = [decode_dead_letter(value) for value in values]
        if await write_until_stored(insert_dead_letters, letters):
            for letter in letters:
                metrics.DEAD_LETTERS_STORED.labels(letter.reason).inc()
