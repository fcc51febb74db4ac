"""A worker killed while saving the alert engine's state leaves only part of that save in the changelog.

``AlertProgress.writes`` hands the agent each changed station's engine piece, then each partition's
applied mark (the offset of the last alert-inputs record the state includes, and the source
watermarks), and the agent writes them one changelog record at a time. A SIGKILL (or a new owner
that read the changelog while the old one was still writing) can leave any prefix of them. The new
owner restores from that prefix, loads the silences the database holds (stored before the save), and
receives again every record after the last committed offset, which is never past the start of the
torn save. Whatever the cut, the alert history (events by (alert_id, seq), as the database keeps
them) and the stations' states must end where the uninterrupted run's do: no record applied twice to
a station whose piece landed, none lost for one whose piece did not (issue 12).
"""

from __future__ import annotations

import copy
from collections import defaultdict
from dataclasses import dataclass, field

import msgspec
import orjson
import pytest

from alerts import AlertEngine
from alerts.events import AlertEvent
from alerts.silences import Silence
from schemas.actions import Acknowledge, RemoveSilence, SilenceAction, encode_action
from schemas.quality import QcResult
from schemas.records import partition_for
from schemas.topics import ObservationBatch, Tick, encode
from streams.alerting import AlertProgress, Applied, apply_record, new_engine
from streams.app import settings
from streams.isolate import Isolated
from tests.unit.indicators.changelog import torn_table

T0_US = 1_790_000_000 * 1_000_000
MINUTE_US = 60_000_000
SECOND_US = 1_000_000
LEVEL = "water_level_m"
# Three tide gauges of one partition (1-minute readings: silent after 3 minutes without one).
DALIAN, LUSHUN, HULUDAO = "dalian", "lushun", "huludao"
PARTITION = partition_for(DALIAN, settings.topic_partitions)
BATCH = 4  # records per agent batch


def wall(minute: float) -> int:
    return T0_US + round(minute * MINUTE_US)


def level(station: str, minute: int) -> float | None:
    """Dalian rises into its yellow band and falls back; Lushun into blue; Huludao goes quiet."""
    if station == DALIAN:
        return 3.9 if 9 <= minute < 22 else (3.7 if 6 <= minute < 26 else 3.0)
    if station == LUSHUN:
        return 3.3 if 12 <= minute < 40 else 2.9
    return None if 18 <= minute < 30 else 2.5


def flag(station: str, minute: int) -> int:
    """Two of Lushun's readings fail QC in a row: one short of its repeated-failure alert."""
    return 4 if station == LUSHUN and minute in (44, 45) else 1


def base_log(minutes: int) -> list[tuple[float, bytes]]:
    """(minute it is written, record): a readings record a minute (2 s after its data time, one
    result per station, its own source offset), and two ticks in between."""
    log: list[tuple[float, bytes]] = []
    for m in range(minutes):
        results, sources = [], []
        for station in (DALIAN, LUSHUN, HULUDAO):
            value = level(station, m)
            if value is not None:
                results.append(QcResult(station, LEVEL, wall(m), value, flag(station, m), 0, False))
                sources.append(m)
        log.append((m + 2 / 60, encode(ObservationBatch(results, wall(m + 2 / 60), sources))))
        log.append((m + 20 / 60, encode(Tick(wall(m + 20 / 60)))))
        log.append((m + 40 / 60, encode(Tick(wall(m + 40 / 60)))))
    return log


@dataclass
class Run:
    """The agent's loop over one partition's log, without Kafka: what it stored and wrote per batch."""

    engine: AlertEngine
    progress: AlertProgress
    events: list[list[AlertEvent]] = field(default_factory=list)  # per batch
    silences: list[dict[str, Silence]] = field(default_factory=list)
    removals: list[list[str]] = field(default_factory=list)
    writes: list[list[tuple[str, object]]] = field(default_factory=list)  # changelog records per batch

    def batch(self, records: list[tuple[int, bytes]]) -> None:
        applied = Applied()
        isolated = Isolated("alerts")
        for offset, value in records:
            applied_already = self.progress.fresh(PARTITION, offset)
            if applied_already is not None:
                apply_record(
                    self.engine, value, PARTITION, applied, self.progress.sources, isolated, applied_already
                )
        assert not isolated.letters
        self.events.append(applied.events)
        self.silences.append(dict(applied.silences))
        self.removals.append([silence_id for silence_id, _ in applied.removals])
        records_out: list[tuple[str, object]] = []
        for owner, pieces in self.progress.writes(self.engine):
            for piece, data in pieces.items():  # through JSON as PieceTable encodes it
                encoded = orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
                records_out.append((f"{owner}/{piece}", encoded))
        self.writes.append(records_out)

    def feed(self, log: list[bytes], start: int, end: int) -> None:
        for first in range(start, end, BATCH):
            self.batch([(o, log[o]) for o in range(first, min(end, first + BATCH))])


def run(log: list[bytes]) -> Run:
    whole = Run(new_engine(), AlertProgress())
    whole.feed(log, 0, len(log))
    return whole


def restored(table: dict[str, object], stored: dict[str, Silence]) -> Run:
    """A new owner's engine: the pieces that landed, then the silences the database holds (as
    ``_Alerts._build`` loads them: not removed, ending after the oldest station clock)."""
    loaded: dict[str, dict[str, object]] = defaultdict(dict)
    for key, value in table.items():
        owner, piece = key.split("/", 1)
        loaded[owner][piece] = copy.deepcopy(value)
    engine = new_engine()
    progress = AlertProgress.restore(engine, dict(loaded))
    clocks = [s.clock_us for s in engine.stations.values() if s.clock_us is not None]
    for silence in stored.values():
        if silence.ends_us > min(clocks, default=0):
            engine.silences[silence.id] = silence
    engine.take_dirty()
    return Run(engine, progress)


def keyed(events: list[AlertEvent]) -> dict[tuple[str, int], dict]:
    return {(e.alert_id, e.seq): e.to_dict() for e in events}


def alert_log() -> list[bytes]:
    """An hour of the three gauges with operator actions: Dalian's warning acknowledged, a silence
    of every silent-station alert (removed early) while Huludao is quiet, Lushun silenced by station."""
    timed = base_log(60)
    first = run([r for _, r in timed])
    opened = next(
        e.alert_id
        for batch in first.events
        for e in batch
        if e.station == DALIAN and e.rule == "water_level_warning"
    )
    actions = [
        (10.5, Acknowledge(opened, "duty", wall(10.5), "seen")),
        (19.5, SilenceAction("quiet", None, "station_silent", wall(40), "duty", wall(19.5))),
        (23.5, SilenceAction("lushun-works", LUSHUN, None, wall(34), "duty", wall(23.5))),
        (27.5, RemoveSilence("quiet", "duty", wall(27.5))),
    ]
    timed += [(minute, encode_action(action)) for minute, action in actions]
    return [r for _, r in sorted(timed, key=lambda t: t[0])]


@pytest.fixture(scope="module")
def log() -> list[bytes]:
    return alert_log()


def test_the_log_makes_every_kind_of_event(log) -> None:
    whole = run(log)
    kinds = {e.kind for batch in whole.events for e in batch}
    assert {"firing", "escalated", "acknowledged", "silenced", "unsilenced", "resolved"} <= kinds, kinds
    stations = {e.station for batch in whole.events for e in batch}
    assert stations == {DALIAN, LUSHUN, HULUDAO}
    # Batches whose save writes more than one station: those a cut can tear.
    assert sum(len(w) > 2 for w in whole.writes) > 10


def test_a_torn_alert_save_then_the_replay_ends_where_the_uninterrupted_run_does(log) -> None:
    whole = run(log)
    ahead = 3  # batches replayed after the torn one before comparing
    checked, failures = 0, []
    for b in range(1, len(whole.writes) - ahead):
        end = min(len(log), (b + 1 + ahead) * BATCH)
        expected = keyed([e for batch in whole.events[: b + 1 + ahead] for e in batch])
        partial = Run(new_engine(), AlertProgress())
        partial.feed(log, 0, end)
        expected_state = partial.engine.to_dict()["stations"]
        # The database: events and silences of every batch up to the torn one (stored before its save).
        stored: dict[str, Silence] = {}
        for silences, removals in zip(whole.silences[: b + 1], whole.removals[: b + 1], strict=True):
            stored |= silences
            for silence_id in removals:
                stored.pop(silence_id, None)
        before = keyed([e for batch in whole.events[: b + 1] for e in batch])
        for cut in range(len(whole.writes[b]) + 1):
            for replay_from in (b, b - 1):  # the last commit: before the torn batch, or one earlier
                again = restored(torn_table(whole.writes, b, cut), stored)
                again.feed(log, replay_from * BATCH, end)
                events = dict(before)
                conflicts = []
                for key, event in keyed([e for batch in again.events for e in batch]).items():
                    if key in events and events[key] != event:
                        conflicts.append(key)
                    events.setdefault(key, event)
                state = again.engine.to_dict()["stations"]
                if events != expected or conflicts or state != expected_state:
                    failures.append(
                        (
                            b,
                            cut,
                            replay_from,
                            sorted(set(events) ^ set(expected)),
                            conflicts,
                            sorted(s for s in expected_state if state.get(s) != expected_state[s]),
                        )
                    )
                checked += 1
    assert checked > 100
    assert not failures, f"{len(failures)} of {checked} torn saves replayed wrong: {failures[:5]}"


def test_a_state_saved_before_stations_carried_their_marks_restores(log) -> None:
    """The format in production: station pieces without marks, partition marks with sources."""
    whole = run(log[: 40 * BATCH])
    table = torn_table(whole.writes, len(whole.writes) - 1, len(whole.writes[-1]))
    old = {
        k: ({f: x for f, x in v.items() if f != "applied"} if isinstance(v, dict) and "/engine" in k else v)
        for k, v in table.items()
    }
    again = restored(old, {})
    again.feed(log, 40 * BATCH - BATCH, len(log))
    straight = Run(new_engine(), AlertProgress())
    straight.feed(log, 0, len(log))
    assert again.engine.to_dict()["stations"] == straight.engine.to_dict()["stations"]
    assert msgspec.json.encode(again.events[-1]) == msgspec.json.encode(straight.events[-1])
