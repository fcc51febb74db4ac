"""The alert evaluator: observations, clock ticks and operator actions in, alert events out.

Everything is judged on arrival, in the order the inputs are given (the stream gives them in the
order of one log partition, so a replay of the log gives the identical events): a reading rule's
event comes out while the first reading that meets its condition is processed, and the rule's own
``for`` is the only wait. Each (station, rule) alert depends only on its own inputs, the station's
clock and the operator actions, and its event times are the data times of those inputs (or the due
time of a timer), never the time they happened to be processed.

Time: each station has its own clock: its newest data time, running on at wall-clock pace from the
arrival of the record that brought it, and never going back (a record whose uplink was slower than the
one before, or a backlog, leaves it where it is). So a station alone on its partition goes silent on
time and a station whose uplink is an hour late is judged by its own data, not by its neighbours'.
Timers (silent station, re-notify, silence end) fire at their due time, on a clock tick (``tick``:
what was due a grace before its wall time) or on the station's next record (what was due when it
arrived, before it is judged), so where a tick lands among records written about the same time
changes nothing. Silence is judged on the station's arrival clock: silent once nothing was heard from
it for the rule's intervals, and heard again with its next reading whatever that reading's data time.
Late inputs (arriving more than the lateness allowance after their data time, or older than the
clock) are judged all the same and their events are marked late.

QC flags: a reading is judged on its first flags; the spike test needs the next reading, so the
stream sends the reading again as a revision when its flags change. The revision is judged again
from the alert as it was before the reading (``AlertState.undo``): if the outcome differs, a
``retracted`` or ``corrected`` event says so; if the first judgement showed nothing, the revision's
events are emitted as they come (a sensor fault the spike test confirms). What happened to the alert
between the reading and its revision (``AlertState.since``: acknowledgements, silences made or
removed, timers fired) is then applied again to the re-judged alert without telling anyone twice, so
an acknowledgement or a silence survives the revision and a timer in between does not stop it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any

from alerts.channels import Channel
from alerts.conditions import judge
from alerts.events import AlertEvent
from alerts.inputs import QC, READING, Observation
from alerts.lifecycle import INACTIVE, AlertState, Transition
from alerts.router import Router
from alerts.routing import Routing
from alerts.rules import ANY_NAME, Rule, SilentCondition
from alerts.severity import name
from alerts.silences import Silence
from alerts.station_state import StationState
from alerts.templates import render, template_fields
from schemas.alert_ids import opened_us, parse_alert_id
from schemas.registry import Registry

RENOTIFY, SILENCE_END, SILENT, TIER = "renotify", "silence_end", "silent", "tier"
DEFAULT_LATE_AFTER_US = 600_000_000
# A record is stamped with its wall time just before it is sent; a tick written meanwhile by the
# worker's timer can land in the log before it. Within this grace the order of the two changes nothing.
DEFAULT_TICK_GRACE_US = 5_000_000
STALE = "stale"  # an undo point given up: too much happened since (or a state written before `since`)
# What `AlertState.since` notes, each a list starting with its kind: ["ack", severity rank],
# ["silence", id, ends_us], ["unsilence", id, time_us], ["timers", before_us] (timers due before it fired).
ACK, SILENCE, UNSILENCE, TIMERS = "ack", "silence", "unsilence", "timers"
# Notes kept per alert before its undo point is given up (a revision after that many operator
# actions is counted in late_revisions); consecutive timers share one note.
MAX_SINCE = 32


class AlertEngine:
    def __init__(
        self,
        registry: Registry,
        rules: Mapping[str, Rule],
        channels: Sequence[Channel],
        *,
        late_after_us: int = DEFAULT_LATE_AFTER_US,
        tick_grace_us: int = DEFAULT_TICK_GRACE_US,
        routing: Routing | None = None,
    ) -> None:
        """`late_after_us`: an input whose arrival is more than this (or two sampling intervals of its
        station, whichever is longer) after its data time makes late events. `tick_grace_us`: how
        long before a tick a record may have been written and still land after it in the log; a tick
        fires the timers due by each station's time that long before the tick's own time."""
        if late_after_us < 0 or tick_grace_us < 0:
            raise ValueError("late_after_us and tick_grace_us must not be negative")
        self.tick_grace_us = tick_grace_us
        self.registry = registry
        self.rules = rules
        self.channels = tuple(channels)
        self.router = Router(routing or Routing(), self.channels)  # inhibition and escalation tiers
        self.stations: dict[str, StationState] = {}
        self.silences: dict[str, Silence] = {}
        self._dirty: set[str] = set()
        self._rules_by_station: dict[str, list[Rule]] = {
            station: [rules[r] for r in sorted(rules) if rules[r].applies_to(station)]
            for station in registry.stations
        }
        self._allowance_us = {
            station_id: max(late_after_us, round(2 * station.sampling_interval_s * 1e6))
            for station_id, station in registry.stations.items()
        }

    # -- inputs ------------------------------------------------------------------------------------
    def observe(self, observations: Iterable[Observation], wall_us: int | None = None) -> list[AlertEvent]:
        """Judge observations now, in the given order. `wall_us` is when they reached the engine's
        log (None: each arrived at its own data time, as in a live stream without delay)."""
        events: list[AlertEvent] = []
        for observation in observations:
            if self._rules_by_station.get(observation.station):
                events += self._observe(observation, observation.time_us if wall_us is None else wall_us)
        return events

    def tick(self, wall_us: int, stations: Iterable[str] | None = None) -> list[AlertEvent]:
        """A clock tick at wall time `wall_us`: fire the timers due by each station's time.

        `stations` limits this to the stations of one partition (the tick is a record of that
        partition); silences are forgotten once every station's clock is past their end."""
        chosen = sorted(self.stations) if stations is None else sorted(set(stations) & set(self.stations))
        events: list[AlertEvent] = []
        # Judged as of the grace before the tick: a record stamped since may still come after it, and
        # it fires what is due by its own arrival itself (``_observe``), so where the tick lands
        # among such records changes nothing.
        as_of_us = wall_us - self.tick_grace_us
        for station in chosen:
            state = self.stations[station]
            now_us = state.now_us(as_of_us)
            if now_us is not None:
                fired = self._run_timers(station, state, now_us)
                if fired:
                    self._dirty.add(station)
                    events += fired
        nows = [s.now_us(as_of_us) for s in self.stations.values()]
        if nows and None not in nows:
            until_us = min(n for n in nows if n is not None)
            for silence_id in [s.id for s in self.silences.values() if s.ends_us <= until_us]:
                del self.silences[silence_id]
        return events

    def acknowledge(self, alert_id: str, *, actor: str, time_us: int, comment: str = "") -> list[AlertEvent]:
        """An operator acknowledges a firing alert: stops re-notify until it escalates."""
        parsed = parse_alert_id(alert_id)
        if parsed is None:
            return []
        station, rule_id, _ = parsed
        alert = self.stations[station].alerts.get(rule_id) if station in self.stations else None
        rule = self.rules.get(rule_id)
        if alert is None or rule is None or not alert.is_open or alert.alert_id(station, rule) != alert_id:
            return []
        self._dirty.add(station)
        transitions = alert.acknowledge(station, rule, actor, time_us, comment)
        if transitions:
            _note(rule, alert, [ACK, alert.severity])
        return [self._render(station, rule, t) for t in transitions]

    def silence(self, silence: Silence) -> list[AlertEvent]:
        """Add a silence; open alerts it covers are silenced at its creation time."""
        self.silences[silence.id] = silence
        events: list[AlertEvent] = []
        for station, rule, alert in self._alerts(lambda a: a.is_open or bool(a.undo)):
            if not silence.covers(station, rule.id, silence.created_us):
                continue
            # Also noted on a closed alert: a revision may reopen it as it was when the silence began.
            if _note(rule, alert, [SILENCE, silence.id, silence.ends_us]):
                self._dirty.add(station)
            if not alert.is_open or (alert.silenced_until_us or -1) >= silence.ends_us:
                continue
            self._dirty.add(station)
            transitions = alert.silence(
                station, rule, silence.id, silence.ends_us, silence.created_us, silence.actor, silence.comment
            )
            events += [self._render(station, rule, t) for t in transitions]
        return events

    def remove_silence(self, silence_id: str, *, actor: str, time_us: int) -> list[AlertEvent]:
        """End a silence early; its alerts are unsilenced at `time_us` unless another silence covers them."""
        removed = self.silences.pop(silence_id, None)
        events: list[AlertEvent] = []
        if removed is None:
            # Unknown here: removed already (a copy on another partition), or a removal replayed after a
            # restart, which finds the stored silences without it (they are stored before the state is
            # saved): the open alerts it still silences beyond `time_us` are unsilenced all the same.
            chosen = self._alerts(
                lambda a: a.silence_id == silence_id and a.is_open and (a.silenced_until_us or 0) > time_us
            )
        else:
            chosen = self._alerts(lambda a: a.silence_id == silence_id or bool(a.undo))
        for station, rule, alert in chosen:
            # (its station and rule; an unknown silence: the alerts it holds)
            covered = removed is None or removed.covers(station, rule.id, removed.created_us)
            if covered and _note(rule, alert, [UNSILENCE, silence_id, time_us]):
                self._dirty.add(station)
            if alert.silence_id == silence_id and alert.is_open:
                self._dirty.add(station)
                transitions = self._end_silence(station, rule, alert, time_us, actor)
                events += [self._render(station, rule, t) for t in transitions]
        return events

    # -- state -------------------------------------------------------------------------------------
    def station_state(self, station: str) -> dict[str, Any] | None:
        state = self.stations.get(station)
        return state.to_dict() if state else None

    def load_station_state(self, station: str, data: dict[str, Any]) -> None:
        self.stations[station] = StationState.from_dict(data)

    def take_dirty(self) -> list[str]:
        """Stations whose state changed since the last call (to write back to the changelog table)."""
        dirty, self._dirty = sorted(self._dirty), set()
        return dirty

    def to_dict(self) -> dict[str, Any]:
        return {
            "stations": {station: s.to_dict() for station, s in sorted(self.stations.items())},
            "silences": {sid: s.to_dict() for sid, s in sorted(self.silences.items())},
        }

    def load_dict(self, data: dict[str, Any]) -> None:
        self.stations = {station: StationState.from_dict(s) for station, s in data["stations"].items()}
        self.silences = {sid: Silence.from_dict(s) for sid, s in data["silences"].items()}

    def open_alerts(self) -> list[dict[str, Any]]:
        return [
            {
                "alert_id": alert.alert_id(station, rule),
                "station": station,
                "rule": rule.id,
                "phase": alert.phase,
                "severity": name(alert.severity),
                "acknowledged": alert.acked,
                "silence_id": alert.silence_id,
            }
            for station, rule, alert in self._open_alerts()
        ]

    # -- evaluation --------------------------------------------------------------------------------
    def _state(self, station: str) -> StationState:
        self._dirty.add(station)
        return self.stations.setdefault(station, StationState())

    def _open_alerts(self) -> list[tuple[str, Rule, AlertState]]:
        return self._alerts(lambda alert: alert.is_open)

    def _alerts(self, chosen: Callable[[AlertState], bool]) -> list[tuple[str, Rule, AlertState]]:
        return [
            (station, self.rules[rule_id], alert)
            for station, state in sorted(self.stations.items())
            for rule_id, alert in sorted(state.alerts.items())
            if chosen(alert) and rule_id in self.rules
        ]

    def _observe(self, observation: Observation, arrival_us: int) -> list[AlertEvent]:
        station = observation.station
        state = self._state(station)
        # The station's time when this record reached the log: what was due by then fires first,
        # as a tick at that moment would have fired it. The clock never goes back: a record older
        # than it (a slower uplink, a backlog) cannot undo the time that has passed; a newer one
        # carries it on to its own data time.
        heard_us = max(observation.time_us, state.now_us(arrival_us) or observation.time_us)
        events = self._run_timers(station, state, heard_us)
        if not observation.revised:
            if (
                state.clock_us is not None
                and observation.time_us < state.clock_us
                and observation.kind == READING
            ):
                state.late_count += 1  # an indicator is known after its time by nature
            state.clock_us = heard_us
            state.arrival_us = max(arrival_us, state.arrival_us or arrival_us)
        received = arrival_us, arrival_us - observation.time_us > self._allowance_us[station]
        now_us = state.now_us(arrival_us)
        for rule in self._rules_by_station[station]:
            if not rule.reads(observation.kind, observation.name):
                continue
            seen = observation
            if rule.input_kind != QC and observation.qc_flag in rule.skip_qc_flags:
                if not observation.revised:
                    continue
                seen = _without_value(observation)  # withdrawn by QC: judged as saying nothing
            alert = state.alert(rule.id)
            if seen.revised:
                transitions = self._revise(station, state, rule, alert, seen, now_us)
            else:
                transitions = self._judge(station, rule, alert, seen, now_us)
            events += [self._render(station, rule, t, received) for t in transitions]
        return events

    def _judge(
        self,
        station: str,
        rule: Rule,
        alert: AlertState,
        observation: Observation,
        now_us: int | None,
    ) -> list[Transition]:
        """Judge one observation; `now_us` is the station's time when its record arrived."""
        condition = rule.conditions[station]
        time_us = observation.time_us
        closing: dict[str, Any] | None = None
        if isinstance(condition, SilentCondition):
            if observation.revised:
                return []
            # Silence is judged on the station's own arrival clock: a reading heard ends it, at the
            # station's time it was heard (never before the silence began), and the next silence
            # counts from then, even when its data time is older (a slower uplink, a backlog).
            time_us = max(time_us, now_us or time_us)
            alert.last_input_us = max(time_us, alert.last_input_us or time_us)
            severity: int | None = 0 if alert.is_open else None
        else:
            if observation.kind == READING and not observation.revised:
                point = _undo_point(rule, alert, observation.name)
                alert.undo[observation.name] = [time_us, point]
                if rule.input_name == ANY_NAME:
                    if alert.is_open:
                        closing = alert.fields()  # kept only if this reading resolves the alert
                elif alert.since:
                    alert.since = []  # what follows is noted from this reading on
            severity = judge(condition, alert.memory, observation)
        if severity is None:
            return []
        silence = self._covering_silence(station, rule.id, time_us)
        transitions = alert.judged(station, rule, severity, time_us, observation.value, silence, now_us)
        if closing is not None and not alert.is_open:
            alert.undo[observation.name].append(closing)
        return transitions

    def _revise(
        self,
        station: str,
        state: StationState,
        rule: Rule,
        alert: AlertState,
        observation: Observation,
        now_us: int | None,
    ) -> list[Transition]:
        """Judge a reading again with its final QC flags, from the alert as it was before the reading.

        A QC rule over every variable puts back only that variable's memory (the other variables'
        readings judged since still count); any other rule reads one variable and puts back the whole
        alert, which is possible while that reading is the last one it judged."""
        if isinstance(rule.conditions[station], SilentCondition):
            return []
        entry = alert.undo.get(observation.name)
        if entry is None or entry[0] < observation.time_us:
            # Never judged by this rule (its first flags were ones the rule skips): judge it now if
            # its final flags let the rule read it.
            if observation.value is None and observation.qc_flag in rule.skip_qc_flags:
                return []
            first = replace(observation, revised=False)
            return self._judge(station, rule, alert, first, now_us)
        if entry[0] > observation.time_us or entry[1] == STALE:
            state.late_revisions += 1
            return []
        shown, undo, seq, since = alert.visible(), dict(alert.undo), alert.seq, list(alert.since)
        # The alert as it was before the reading: for a rule over every variable only that variable's
        # memory (the other variables' readings judged since still count), unless the reading
        # resolved the alert: then the whole alert, to reopen it as if the reading had never been good.
        if rule.input_name == ANY_NAME:
            resolved_from = entry[2] if len(entry) > 2 and not alert.is_open else None
            if resolved_from is not None:
                memory = alert.memory
                alert.restore(resolved_from)
                alert.memory = memory
            _put_memory(alert.memory, observation.name, entry[1])
            if resolved_from is None:
                return self._judge(station, rule, alert, observation, now_us)
        else:
            before = entry[1]
            was_open = before is not None and before["phase"] != INACTIVE
            resolved_from = before if was_open and not alert.is_open else None
            if resolved_from is not None and "seq" not in resolved_from:
                state.late_revisions += 1  # an undo point written before reopening existed
                return []
            alert.restore(before)
        if resolved_from is not None:
            seq = resolved_from["seq"] + 1  # after the resolved event
        unchanged = alert.visible() == shown
        transitions = self._judge(station, rule, alert, observation, now_us)
        if rule.input_name != ANY_NAME:
            self._replay(station, rule, alert, since)
        alert.undo = undo
        if unchanged:
            return transitions
        alert.seq = seq
        transitions = alert.revised(station, rule, shown, observation.time_us)
        if not alert.is_open:
            alert.seq = 0  # resolved again by its final flags: nothing to reopen
        return transitions

    def _replay(self, station: str, rule: Rule, alert: AlertState, since: list[list[Any]]) -> None:
        """Apply again to a re-judged alert what happened to it after the reading (``since``), as it
        would have applied had the final flags been known then; nobody is told again. An
        acknowledgement covers the level it was given at (an escalation needs a new one); timers fire
        again as the re-judged alert has them, up to where they had fired."""
        seq = alert.seq
        for note in since:
            kind = note[0]
            if kind == ACK:
                if alert.severity <= note[1]:
                    alert.acknowledge(station, rule, "", 0, "")
            elif kind == SILENCE:
                if (alert.silenced_until_us or -1) < note[2]:
                    alert.silence(station, rule, note[1], note[2], 0, "", "")
            elif kind == UNSILENCE:
                if alert.silence_id == note[1] and alert.is_open:
                    self._end_silence(station, rule, alert, note[2], None)
            else:  # the station's timers of this alert (never a silent station's: it has no undo point)
                state = self.stations[station]
                # (tier steps are not: their memory lives beside the alert, in StationState.routing)
                while due := [
                    t
                    for t in self._timers(station, state)
                    if t[1] == rule.id and t[2] != TIER and t[0] < note[1]
                ]:
                    due_us, _, timer = min(due)
                    self._fire(station, rule, alert, due_us, timer)
        alert.seq = seq

    def _timers(self, station: str, state: StationState) -> list[tuple[int, str, str]]:
        timers = []
        for rule in self._rules_by_station[station]:
            alert = state.alerts.get(rule.id)
            if alert is None:
                continue
            due = alert.renotify_due_us(rule)
            if due is not None:
                timers.append((due, rule.id, RENOTIFY))
            if alert.silenced_until_us is not None:
                timers.append((alert.silenced_until_us, rule.id, SILENCE_END))
            if (tier_due := self.router.tier_due(state, rule.id, alert)) is not None:
                timers.append((tier_due, rule.id, TIER))
            condition = rule.conditions[station]
            if (
                isinstance(condition, SilentCondition)
                and not alert.is_open
                and alert.last_input_us is not None
            ):
                interval_s = self.registry.stations[station].sampling_interval_s
                timers.append(
                    (alert.last_input_us + round(condition.intervals * interval_s * 1e6), rule.id, SILENT)
                )
        return timers

    def _run_timers(self, station: str, state: StationState, before_us: int) -> list[AlertEvent]:
        """Fire, in due order, every timer due strictly before `before_us`."""
        events: list[AlertEvent] = []
        while True:
            due = [t for t in self._timers(station, state) if t[0] < before_us]
            if not due:
                return events
            due_us, rule_id, timer = min(due)
            rule, alert = self.rules[rule_id], state.alerts[rule_id]
            if rule.input_name == ANY_NAME:
                for entry in alert.undo.values():  # the alert has changed since a reading resolved it:
                    del entry[2:]  # its revision puts back that variable's memory only
            else:
                _note(rule, alert, [TIMERS, before_us])
            events += [
                self._render(station, rule, t) for t in self._fire(station, rule, alert, due_us, timer)
            ]

    def _fire(self, station: str, rule: Rule, alert: AlertState, due_us: int, timer: str) -> list[Transition]:
        """One timer of one alert, due at `due_us`."""
        if timer == RENOTIFY:
            return [alert.renotify(station, rule, due_us)]
        if timer == SILENCE_END:
            return self._end_silence(station, rule, alert, due_us, None)
        if timer == TIER:
            return [self.router.next_tier(station, self.stations[station], rule, alert, due_us)]
        condition = rule.conditions[station]
        assert isinstance(condition, SilentCondition)
        silence = self._covering_silence(station, rule.id, due_us)
        return alert.judged(station, rule, condition.severity, due_us, None, silence)

    def _covering_silence(self, station: str, rule_id: str, time_us: int) -> tuple[str, int] | None:
        covering = [s for s in self.silences.values() if s.covers(station, rule_id, time_us)]
        if not covering:
            return None
        longest = max(covering, key=lambda s: (s.ends_us, s.id))
        return longest.id, longest.ends_us

    def _end_silence(
        self, station: str, rule: Rule, alert: AlertState, time_us: int, actor: str | None
    ) -> list[Transition]:
        other = self._covering_silence(station, rule.id, time_us)
        if other is not None:
            alert.silence_id, alert.silenced_until_us = other
            return []
        return alert.unsilence(station, rule, time_us, actor)

    def _render(
        self,
        station_id: str,
        rule: Rule,
        transition: Transition,
        received: tuple[int, bool] | None = None,
    ) -> AlertEvent:
        station = self.registry.stations[station_id]
        severity = name(transition.severity)
        state = self.stations[station_id]
        channels, comment = self.router.route(state, rule.id, state.alert(rule.id), transition)
        fields = template_fields(
            station=station_id,
            station_name=station.name,
            station_name_zh=station.name_zh,
            rule=rule.id,
            title=rule.title_en,
            title_zh=rule.title_zh,
            input_name=rule.input_name,
            severity=severity,
            event=transition.kind,
            value=transition.value,
            time_us=transition.time_us,
            opened_us=opened_us(transition.alert_id),
        )
        return AlertEvent(
            alert_id=transition.alert_id,
            seq=transition.seq,
            station=station_id,
            rule=rule.id,
            kind=transition.kind,
            severity=severity,
            time_us=transition.time_us,
            value=transition.value,
            message_en=render(rule.message_en, fields),
            message_zh=render(rule.message_zh, fields),
            channels=channels,
            actor=transition.actor,
            comment=comment,
            received_us=None if received is None else received[0],
            late=received is not None and received[1],
            state=transition.state,
        )


def _note(rule: Rule, alert: AlertState, note: list[Any]) -> bool:
    """Note an operator action or a timer on an alert whose last reading QC may still revise (a rule
    over one variable: its revision puts the whole alert back and applies these again); whether the
    alert's state changed."""
    if rule.input_name == ANY_NAME or not alert.undo:
        return False
    since = alert.since
    if note[0] == TIMERS and since and since[-1][0] == TIMERS:
        since[-1][1] = max(since[-1][1], note[1])
    elif len(since) < MAX_SINCE:
        since.append(note)
    else:  # too much to apply again: that reading can no longer be taken back
        for entry in alert.undo.values():
            entry[1] = STALE
        alert.since = []
    return True


def _undo_point(rule: Rule, alert: AlertState, input_name: str) -> list[int] | dict[str, Any] | None:
    """What to put back if QC withdraws the reading about to be judged: a rule over every variable
    keeps only that variable's memory, any other rule the whole alert (``AlertState.fields``)."""
    if rule.input_name == ANY_NAME:
        memory = alert.memory.get(input_name)
        return None if memory is None else list(memory)
    return alert.fields()


def _put_memory(memory: dict[str, list[int]], input_name: str, point: list[int] | None) -> None:
    """Put back one variable's memory of a rule over every variable (None: it had none)."""
    if point is None:
        memory.pop(input_name, None)
    else:
        memory[input_name] = list(point)


def _without_value(observation: Observation) -> Observation:
    """A revision that withdraws a reading (its final flag is one the rule skips): no value to judge."""
    return replace(observation, value=None)
