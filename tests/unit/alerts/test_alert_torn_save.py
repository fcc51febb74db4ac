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

import orjson
import pytest

from alerts import AlertEngine
from alerts.events import AlertEvent
from alerts.silences import Silence
from schemas.actions import Acknowledge, RemoveSilence, SilenceAction, encode_action
from schemas.quality import QcResult
from schemas.records import partition_for
from schemas.topics import ObservationBatch, Tick, encode
from streams.agents.alerts import ENGINE_PIECE, MARKS, AlertProgress, BatchOutcome, apply_record, new_engine
from streams.app import settings
from streams.isolate import Isolated
from tests.unit.indicators.changelog import torn_table

T0_US = 1_790_000_000 * 1_000_000
MINUTE_US = 60_000_000
SECOND_US = 1_000_000
LEVEL = "water_level_m"
# Three tide gauges of one partition and one of another (1-minute readings: silent after 3 minutes
# without one); one worker owns both partitions.
DALIAN, LUSHUN, HULUDAO, ZHUANGHE = "dalian", "lushun", "huludao", "zhuanghe"
PARTITION = partition_for(DALIAN, settings.topic_partitions)
OTHER = partition_for(ZHUANGHE, settings.topic_partitions)
assert PARTITION != OTHER and {partition_for(s, settings.topic_partitions) for s in (LUSHUN, HULUDAO)} == {
    PARTITION
}
BATCH = 8  # records per agent batch (about a minute and a half of the log)
Entry = tuple[int, int, bytes]  # (partition, offset, record) in the order the agent reads them


def wall(minute: float) -> int:
    return T0_US + round(minute * MINUTE_US)


def level(station: str, minute: int) -> float | None:
    """Dalian rises into its yellow band and falls back; Lushun into blue; Huludao and Zhuanghe go
    quiet for a while."""
    if station == DALIAN:
        return 3.9 if 9 <= minute < 22 else (3.7 if 6 <= minute < 26 else 3.0)
    if station == LUSHUN:
        return 3.3 if 12 <= minute < 40 else 2.9
    if station == ZHUANGHE:
        return None if 16 <= minute < 33 else 2.0
    return None if 18 <= minute < 30 else 2.5


def flag(station: str, minute: int) -> int:
    """Two of Lushun's readings fail QC in a row: one short of its repeated-failure alert."""
    return 4 if station == LUSHUN and minute in (44, 45) else 1


def base_log(minutes: int) -> list[tuple[float, int, bytes]]:
    """(minute it is written, partition, record): on each partition a readings record a minute (2 s
    after its data time, one result per station, its own source offset), and two ticks in between."""
    log: list[tuple[float, int, bytes]] = []
    for partition, stations, late_s in ((PARTITION, (DALIAN, LUSHUN, HULUDAO), 2), (OTHER, (ZHUANGHE,), 3)):
        for m in range(minutes):
            results, sources = [], []
            for station in stations:
                value = level(station, m)
                if value is not None:
                    results.append(QcResult(station, LEVEL, wall(m), value, flag(station, m), 0, False))
                    sources.append(m)
            written = m + late_s / 60
            log.append((written, partition, encode(ObservationBatch(results, wall(written), sources))))
            for tick_s in (20 + late_s, 40 + late_s):
                log.append((m + tick_s / 60, partition, encode(Tick(wall(m + tick_s / 60)))))
    return log


def entries(timed: list[tuple[float, int, bytes]]) -> list[Entry]:
    """The records in the order written, with each partition's offsets."""
    offsets: dict[int, int] = defaultdict(int)
    out = []
    for _, partition, value in sorted(timed, key=lambda t: t[0]):
        out.append((partition, offsets[partition], value))
        offsets[partition] += 1
    return out


@dataclass
class Run:
    """The agent's loop over the log, without Kafka: what it stored and wrote per batch."""

    engine: AlertEngine
    progress: AlertProgress
    events: list[list[AlertEvent]] = field(default_factory=list)  # per batch
    silences: list[dict[str, Silence]] = field(default_factory=list)
    removals: list[list[str]] = field(default_factory=list)
    writes: list[list[tuple[str, object]]] = field(default_factory=list)  # changelog records per batch

    def batch(self, records: list[Entry]) -> None:
        applied = BatchOutcome()
        isolated = Isolated("alerts")
        for partition, offset, value in records:
            applied_already = self.progress.fresh(partition, offset)
            if applied_already is not None:
                apply_record(
                    self.engine, value, partition, applied, self.progress.sources, isolated, applied_already
                )
        assert not isolated.letters
        self.events.append(applied.events)
        self.silences.append(dict(applied.silences))
        self.removals.append([silence_id for silence_id, _ in applied.removals])
        records_out: list[tuple[str, object]] = []
        for owner, pieces in self.progress.writes(self.engine, applied):
            for piece, data in pieces.items():  # through JSON as PieceTable encodes it
                encoded = orjson.loads(orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS))
                records_out.append((f"{owner}/{piece}", encoded))
        self.writes.append(records_out)

    def feed(self, log: list[Entry], start: int, end: int) -> None:
        """The records from position `start` (every partition's commit before it) to `end`."""
        for first in range(start, end, BATCH):
            self.batch(log[first : min(end, first + BATCH)])


def run(log: list[Entry]) -> Run:
    whole = Run(new_engine(), AlertProgress())
    whole.feed(log, 0, len(log))
    return whole


def restored(table: dict[str, object], stored: dict[str, Silence]) -> Run:
    """A new owner's engine: the pieces that landed, with the silences their partition marks carry;
    the database's (as ``_Alerts._build`` loads them: not removed, ending after the oldest station
    clock) only when no mark carried them."""
    loaded: dict[str, dict[str, object]] = defaultdict(dict)
    for key, value in table.items():
        owner, piece = key.split("/", 1)
        loaded[owner][piece] = copy.deepcopy(value)
    engine = new_engine()
    progress = AlertProgress.restore(engine, dict(loaded))
    clocks = [s.clock_us for s in engine.stations.values() if s.clock_us is not None]
    for silence in stored.values() if progress.stored_silences else ():
        if silence.ends_us > min(clocks, default=0):
            engine.silences[silence.id] = silence
    engine.take_dirty()
    return Run(engine, progress)


def stored_silences(whole: Run, batch: int) -> dict[str, Silence]:
    """The silences in the database once ``batch`` was stored (every batch stores before its save)."""
    stored: dict[str, Silence] = {}
    for silences, removals in zip(whole.silences[: batch + 1], whole.removals[: batch + 1], strict=True):
        stored |= silences
        for silence_id in removals:
            stored.pop(silence_id, None)
    return stored


def keyed(events: list[AlertEvent]) -> dict[tuple[str, int], dict]:
    return {(e.alert_id, e.seq): e.to_dict() for e in events}


def alert_log(quiet_at: float = 23.0) -> list[Entry]:
    """An hour of the four gauges with operator actions: Dalian's warning acknowledged, Zhuanghe's
    and Huludao's silent-station alerts silenced by one silence of the rule (a copy on each
    partition) and unsilenced when it is removed early (the same way), Lushun silenced by station."""
    timed = base_log(60)
    first = run(entries(timed))
    opened = next(
        e.alert_id
        for batch in first.events
        for e in batch
        if e.station == DALIAN and e.rule == "water_level_warning"
    )
    quiet = SilenceAction("quiet", None, "station_silent", wall(40), "duty", wall(quiet_at))
    unquiet = RemoveSilence("quiet", "duty", wall(27.5))
    actions = [
        (10.5, PARTITION, Acknowledge(opened, "duty", wall(10.5), "seen")),
        (quiet_at, PARTITION, quiet),
        (quiet_at + 0.02, OTHER, quiet),
        (23.5, PARTITION, SilenceAction("lushun-works", LUSHUN, None, wall(34), "duty", wall(23.5))),
        (27.51, PARTITION, unquiet),
        (27.5, OTHER, unquiet),
    ]
    timed += [(minute, partition, encode_action(action)) for minute, partition, action in actions]
    return entries(timed)


@pytest.fixture(scope="module")
def log() -> list[bytes]:
    return alert_log()


def test_the_log_makes_every_kind_of_event(log) -> None:
    whole = run(log)
    kinds = {e.kind for batch in whole.events for e in batch}
    assert {"firing", "escalated", "acknowledged", "silenced", "unsilenced", "resolved"} <= kinds, kinds
    stations = {e.station for batch in whole.events for e in batch}
    assert stations == {DALIAN, LUSHUN, HULUDAO, ZHUANGHE}
    silenced = {e.station for batch in whole.events for e in batch if e.kind == "silenced"}
    assert {LUSHUN, HULUDAO, ZHUANGHE} <= silenced
    # Batches whose save writes more than one station: those a cut can tear.
    assert sum(len(w) > 2 for w in whole.writes) > 10


def replayed_wrong(log: list[Entry], batches: range, cuts: slice = slice(None)) -> tuple[int, list]:
    """Each batch's save cut after each of its records (and before the first: a crash between
    storing and saving), replayed from the start of that batch or of the one before and three
    batches on: how many were checked, and those whose events (as stored) or station states differ
    from the uninterrupted run's."""
    whole = run(log)
    ahead = 3  # batches replayed after the torn one before comparing
    checked, failures = 0, []
    for b in batches:
        end = min(len(log), (b + 1 + ahead) * BATCH)
        expected = keyed([e for batch in whole.events[: b + 1 + ahead] for e in batch])
        partial = Run(new_engine(), AlertProgress())
        partial.feed(log, 0, end)
        expected_state = partial.engine.to_dict()["stations"]
        stored = stored_silences(whole, b)
        before = keyed([e for batch in whole.events[: b + 1] for e in batch])
        for cut in range(len(whole.writes[b]) + 1)[cuts]:
            for replay_from in (b, b - 1):  # the last commit: before the torn batch, or one earlier
                again = restored(torn_table(whole.writes, b, cut), stored)
                again.feed(log, replay_from * BATCH, end)
                events = dict(before)  # the database keeps the first event of each (alert_id, seq)
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
    return checked, failures


def test_a_torn_alert_save_then_the_replay_ends_where_the_uninterrupted_run_does(log) -> None:
    checked, failures = replayed_wrong(log, range(1, len(log) // BATCH - 3))
    assert checked > 400
    assert not failures, f"{len(failures)} of {checked} torn saves replayed wrong: {failures[:5]}"


def test_a_silence_in_the_batch_whose_save_was_lost_covers_only_what_came_after_it() -> None:
    log = alert_log(quiet_at=19.5)  # Zhuanghe's alert fires in the same batch, just before
    batch = next(i // BATCH for i, (_, _, value) in enumerate(log) if b'"silence"' in value)
    checked, failures = replayed_wrong(log, range(batch, batch + 1), slice(0, 1))
    assert checked == 2 and not failures, failures


def test_a_state_saved_before_stations_carried_their_marks_restores(log) -> None:
    """The format in production until now: station pieces without marks beside the partition marks
    (with their sources). A whole save of it restores and goes on as the uninterrupted run."""
    whole = run(log)
    saved = 30
    old = {
        key: {k: v for k, v in value.items() if k != MARKS} if key.endswith(f"/{ENGINE_PIECE}") else value
        for key, value in torn_table(whole.writes, saved, len(whole.writes[saved])).items()
        if isinstance(value, dict)
    }
    assert any(key.endswith(f"/{ENGINE_PIECE}") for key in old) and not any(
        MARKS in value for key, value in old.items() if key.endswith(f"/{ENGINE_PIECE}")
    )
    again = restored(old, stored_silences(whole, saved))
    again.feed(log, (saved - 1) * BATCH, len(log))
    assert [keyed(b) for b in again.events[2:]] == [keyed(b) for b in whole.events[saved + 1 :]]
    assert not again.events[0] and not again.events[1]  # the records the state includes are skipped
    assert again.engine.to_dict()["stations"] == whole.engine.to_dict()["stations"]
