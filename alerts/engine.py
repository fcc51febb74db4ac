"""The event-time alert evaluator: observations, time and operator actions in, alert events out.

Guarantee (see README): per station, observations are judged in event-time order once the station's
latest event time (or `advance_time`) has moved `horizon_us` past them, so every arrival order and
batching in which no observation comes later than that gives the identical event list; observations
older than the station's judged clock are counted as late and not judged. Timers (silent station,
re-notify, silence end) fire at their due event time, before any observation that is later.

QC flags are final only once a reading's neighbours are known (the spike test needs the next
reading), so the stream sends a reading again whenever its flags change (``revised``): a revision
replaces the reading while it waits to be judged, and with ``await_next_reading`` (the stream's
setting) a reading waits until the next reading of its series has come, or one sampling interval more
than the horizon has passed. Each reading is judged once, with the flags it has then; a revision after
that is counted and ignored, so a correction can neither fire an alert twice nor undo one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from alerts.channels import Channel, route
from alerts.conditions import judge
from alerts.events import AlertEvent
from alerts.inputs import READING, Observation
from alerts.lifecycle import AlertState, Transition
from alerts.rules import Rule, SilentCondition
from alerts.severity import name
from alerts.silences import Silence
from alerts.station_state import StationState
from alerts.templates import render, template_fields
from schemas.registry import Registry

RENOTIFY, SILENCE_END, SILENT = "renotify", "silence_end", "silent"


class AlertEngine:
    def __init__(
        self,
        registry: Registry,
        rules: Mapping[str, Rule],
        channels: Sequence[Channel],
        *,
        horizon_us: int = 0,
        await_next_reading: bool = False,
    ) -> None:
        """`horizon_us`: how late an observation may come and still be judged in order (0: judge each
        at once). `await_next_reading`: judge a reading only when its QC flags are final (see above)."""
        if horizon_us < 0:
            raise ValueError("horizon_us must not be negative")
        self.await_next_reading = await_next_reading
        self.registry = registry
        self.rules = rules
        self.channels = tuple(channels)
        self.horizon_us = horizon_us
        self.stations: dict[str, StationState] = {}
        self.silences: dict[str, Silence] = {}
        self._dirty: set[str] = set()
        self._rules_by_station: dict[str, list[Rule]] = {
            station: [rules[r] for r in sorted(rules) if rules[r].applies_to(station)]
            for station in registry.stations
        }

    # -- inputs ------------------------------------------------------------------------------------
    def observe(self, observations: Iterable[Observation]) -> list[AlertEvent]:
        """Take a batch of observations (any stations, any order) and judge what has settled.

        A revision replaces the waiting observation of the same reading; a first result of a reading
        already waiting is a replayed duplicate and is dropped.
        """
        touched: set[str] = set()
        for observation in observations:
            if not self._rules_by_station.get(observation.station):
                continue
            state = self._state(observation.station)
            key = state.key(observation)
            if key in state.buffer:  # only a reading can be there already
                if observation.revised:
                    state.buffer[key] = observation
                continue
            if state.clock_us is not None and observation.time_us <= state.clock_us and observation.revised:
                state.late_revisions += 1  # its reading has been judged (or was itself late)
                continue
            if state.clock_us is not None and observation.time_us < state.clock_us:
                state.late_count += 1
                continue
            state.buffer[key] = observation
            if state.max_seen_us is None or observation.time_us > state.max_seen_us:
                state.max_seen_us = observation.time_us
            touched.add(observation.station)
        events: list[AlertEvent] = []
        for station in sorted(touched):
            max_seen_us = self.stations[station].max_seen_us
            assert max_seen_us is not None
            events += self._settle(station, max_seen_us - self.horizon_us)
        return events

    def advance_time(self, now_us: int, stations: Iterable[str] | None = None) -> list[AlertEvent]:
        """Declare that event time has reached `now_us` (the partition watermark or a supplied now):
        observations older than `now_us - horizon_us` are judged now and timers due before it fire.

        `stations` limits this to the stations of one partition (a worker holds several partitions,
        each with its own watermark); silences are then forgotten only once every station is past them.
        """
        until_us = now_us - self.horizon_us
        chosen = sorted(self.stations) if stations is None else sorted(set(stations) & set(self.stations))
        events: list[AlertEvent] = []
        for station in chosen:
            events += self._settle(station, until_us)
        if stations is not None:
            clocks = [s.clock_us for s in self.stations.values()]
            until_us = min((c for c in clocks if c is not None), default=until_us)
            if None in clocks:
                return events
        for silence_id in [s.id for s in self.silences.values() if s.ends_us <= until_us]:
            del self.silences[silence_id]
        return events

    def acknowledge(self, alert_id: str, *, actor: str, time_us: int, comment: str = "") -> list[AlertEvent]:
        """An operator acknowledges a firing alert: stops re-notify until it escalates."""
        if alert_id.count("/") < 2:
            return []
        station, rule_id, _ = alert_id.rsplit("/", 2)
        alert = self.stations[station].alerts.get(rule_id) if station in self.stations else None
        rule = self.rules.get(rule_id)
        if alert is None or rule is None or not alert.is_open or alert.alert_id(station, rule) != alert_id:
            return []
        self._dirty.add(station)
        transitions = alert.acknowledge(station, rule, actor, time_us, comment)
        return [self._render(station, rule, t) for t in transitions]

    def silence(self, silence: Silence) -> list[AlertEvent]:
        """Add a silence; open alerts it covers are silenced at its creation time."""
        self.silences[silence.id] = silence
        events: list[AlertEvent] = []
        for station, rule, alert in self._open_alerts():
            covered = silence.covers(station, rule.id, silence.created_us)
            if not covered or (alert.silenced_until_us or -1) >= silence.ends_us:
                continue
            self._dirty.add(station)
            transitions = alert.silence(
                station, rule, silence.id, silence.ends_us, silence.created_us, silence.actor, silence.comment
            )
            events += [self._render(station, rule, t) for t in transitions]
        return events

    def remove_silence(self, silence_id: str, *, actor: str, time_us: int) -> list[AlertEvent]:
        """End a silence early; its alerts are unsilenced at `time_us` unless another silence covers them."""
        if self.silences.pop(silence_id, None) is None:
            return []
        events: list[AlertEvent] = []
        for station, rule, alert in self._open_alerts():
            if alert.silence_id == silence_id:
                self._dirty.add(station)
                events += self._end_silence(station, rule, alert, time_us, actor)
        return events

    # -- state -------------------------------------------------------------------------------------
    def station_state(self, station: str) -> dict | None:
        state = self.stations.get(station)
        return state.to_dict() if state else None

    def load_station_state(self, station: str, data: dict) -> None:
        self.stations[station] = StationState.from_dict(data)

    def take_dirty(self) -> list[str]:
        """Stations whose state changed since the last call (to write back to the changelog table)."""
        dirty, self._dirty = sorted(self._dirty), set()
        return dirty

    def to_dict(self) -> dict:
        return {
            "stations": {station: s.to_dict() for station, s in sorted(self.stations.items())},
            "silences": {sid: s.to_dict() for sid, s in sorted(self.silences.items())},
        }

    def load_dict(self, data: dict) -> None:
        self.stations = {station: StationState.from_dict(s) for station, s in data["stations"].items()}
        self.silences = {sid: Silence.from_dict(s) for sid, s in data["silences"].items()}

    def open_alerts(self) -> list[dict]:
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
        return [
            (station, self.rules[rule_id], alert)
            for station, state in sorted(self.stations.items())
            for rule_id, alert in sorted(state.alerts.items())
            if alert.is_open and rule_id in self.rules
        ]

    def _settle(self, station: str, until_us: int) -> list[AlertEvent]:
        state = self._state(station)
        if self.await_next_reading:
            until_us = self._qc_settled(station, state, until_us)
        ready = sorted(k for k in state.buffer if k[0] <= until_us)
        events: list[AlertEvent] = []
        for key in ready:
            observation = state.buffer.pop(key)
            events += self._run_timers(station, state, observation.time_us)
            state.clock_us = max(observation.time_us, state.clock_us or observation.time_us)
            events += self._judge(station, state, observation)
        events += self._run_timers(station, state, until_us)
        state.clock_us = max(until_us, state.clock_us if state.clock_us is not None else until_us)
        return events

    def _qc_settled(self, station: str, state: StationState, until_us: int) -> int:
        """`until_us`, held back before the newest reading of any series while its QC flags may still
        change: until the series' next reading is here, or for one sampling interval at most."""
        interval_us = round(self.registry.stations[station].sampling_interval_s * 1e6)
        newest: dict[str, int] = {}
        for time_us, kind, variable, _ in state.buffer:
            if kind == READING and time_us > newest.get(variable, time_us - 1):
                newest[variable] = time_us
        waiting = [t for t in newest.values() if t <= until_us < t + interval_us]
        return min([until_us, *(t - 1 for t in waiting)])

    def _judge(self, station: str, state: StationState, observation: Observation) -> list[AlertEvent]:
        events: list[AlertEvent] = []
        for rule in self._rules_by_station[station]:
            if not rule.reads(observation.kind, observation.name):
                continue
            if rule.input_kind != "qc" and observation.qc_flag in rule.skip_qc_flags:
                continue
            alert = state.alert(rule.id)
            condition = rule.conditions[station]
            if isinstance(condition, SilentCondition):
                alert.last_input_us = observation.time_us
                severity: int | None = 0 if alert.is_open else None
            else:
                severity = judge(condition, alert.memory, observation)
            if severity is None:
                continue
            silence = self._covering_silence(station, rule.id, observation.time_us)
            transitions = alert.judged(
                station, rule, severity, observation.time_us, observation.value, silence
            )
            events += [self._render(station, rule, t) for t in transitions]
        return events

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
            if timer == RENOTIFY:
                events.append(self._render(station, rule, alert.renotify(station, rule, due_us)))
            elif timer == SILENCE_END:
                events += self._end_silence(station, rule, alert, due_us, None)
            else:
                condition = rule.conditions[station]
                assert isinstance(condition, SilentCondition)
                silence = self._covering_silence(station, rule_id, due_us)
                transitions = alert.judged(station, rule, condition.severity, due_us, None, silence)
                events += [self._render(station, rule, t) for t in transitions]

    def _covering_silence(self, station: str, rule_id: str, time_us: int) -> tuple[str, int] | None:
        covering = [s for s in self.silences.values() if s.covers(station, rule_id, time_us)]
        if not covering:
            return None
        longest = max(covering, key=lambda s: (s.ends_us, s.id))
        return longest.id, longest.ends_us

    def _end_silence(
        self, station: str, rule: Rule, alert: AlertState, time_us: int, actor: str | None
    ) -> list[AlertEvent]:
        other = self._covering_silence(station, rule.id, time_us)
        if other is not None:
            alert.silence_id, alert.silenced_until_us = other
            return []
        return [self._render(station, rule, t) for t in alert.unsilence(station, rule, time_us, actor)]

    def _render(self, station_id: str, rule: Rule, transition: Transition) -> AlertEvent:
        station = self.registry.stations[station_id]
        severity = name(transition.severity)
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
            channels=route(
                self.channels,
                transition.kind,
                transition.severity,
                fired=transition.fired,
                silenced=transition.silenced,
            ),
            actor=transition.actor,
            comment=transition.comment,
        )
