"""The lifecycle of the one alert per (station, rule): inactive → pending → firing → resolved.

Everything is judged in event time: "for" counts from the first supporting observation, keep-firing
holds a severity until no observation has supported it for `keep_firing_us`, re-notify is due
`renotify_us` after the last notice. The state is small, bounded and JSON-serialisable, so it can
live in a changelog-backed table and a restarted worker continues exactly where it stopped.

A reading is judged on its first QC flags; when QC later withdraws it (the spike test needs the next
reading), ``undo`` holds what the alert was before that reading, so the engine can judge the reading
again with its final flags and, if the outcome differs, say so in a ``retracted``, ``corrected`` or
``reopened`` event. ``since`` notes what happened to the alert after that reading (operator actions,
timers), so the engine applies it again to the re-judged alert.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from alerts.events import CLOSING_KINDS
from alerts.rules import Rule
from alerts.severity import SEVERITIES
from schemas.alert_ids import alert_id

INACTIVE, PENDING, FIRING = "inactive", "pending", "firing"
RESOLVED = "resolved"  # the state a closing event leaves (the `alerts` projection's word for inactive)


@dataclass(frozen=True, slots=True)
class Transition:
    """One lifecycle event before rendering: what happened to which alert, at what event time."""

    alert_id: str
    seq: int
    kind: str
    severity: int
    time_us: int
    value: float | None
    fired: bool
    silenced: bool
    actor: str | None = None
    comment: str | None = None
    state: str | None = None  # the alert's state after the event: pending, firing or resolved


@dataclass(slots=True)
class AlertState:
    phase: str = INACTIVE
    memory: dict[str, list[int]] = field(default_factory=dict)
    opened_us: int | None = None
    seq: int = 0
    severity: int = 0
    peak: int = 0
    last_true_us: list[int | None] = field(default_factory=lambda: [None] * len(SEVERITIES))
    last_notified_us: int | None = None
    last_input_us: int | None = None
    # Value of the last observation that supported the alert, quoted by timer and operator events.
    value: float | None = None
    acked: bool = False
    silence_id: str | None = None
    silenced_until_us: int | None = None
    # Per input name: [time_us of the last judged reading, what to put back if QC withdraws it (the
    # alert's fields before it, None for a blank alert; a rule over every variable: that variable's
    # memory), and for such a rule the alert's fields before it when that reading resolved it].
    # An entry may be stale (engine.STALE: written by an older engine, or given up after too many notes).
    undo: dict[str, list[Any]] = field(default_factory=dict)
    # What happened to the alert since the last reading a rule over one variable judged (operator
    # actions and timers, engine._note), applied again when QC revises that reading.
    since: list[list[Any]] = field(default_factory=list)

    # -- serialisation -------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase,
            "memory": {name: list(v) for name, v in sorted(self.memory.items())},
            "opened_us": self.opened_us,
            "seq": self.seq,
            "severity": self.severity,
            "peak": self.peak,
            "last_true_us": list(self.last_true_us),
            "last_notified_us": self.last_notified_us,
            "last_input_us": self.last_input_us,
            "value": self.value,
            "acked": self.acked,
            "silence_id": self.silence_id,
            "silenced_until_us": self.silenced_until_us,
            "undo": {name: list(v) for name, v in sorted(self.undo.items())},
            "since": [list(entry) for entry in self.since],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> AlertState:
        state = cls(**{k: v for k, v in data.items() if k not in ("memory", "last_true_us", "undo", "since")})
        state.memory = {name: [int(x) for x in v] for name, v in data["memory"].items()}
        state.last_true_us = list(data["last_true_us"])
        state.undo = {name: list(v) for name, v in data.get("undo", {}).items()}
        state.since = [list(entry) for entry in data.get("since", ())]
        return state

    # -- undo (QC retractions) -----------------------------------------------------------------
    def fields(self) -> dict[str, Any] | None:
        """What a reading can change, to put back if QC withdraws it (None: a blank inactive alert).
        The sequence number is kept for a withdrawn resolution: the reopened alert counts on from it."""
        if self.phase == INACTIVE and not self.memory:
            return None
        data = self.to_dict()
        del data["undo"], data["since"]
        return data

    def restore(self, fields: dict[str, Any] | None) -> None:
        """Put back `fields` (see ``fields``); the event sequence number keeps counting."""
        seq, undo, since = self.seq, self.undo, self.since
        blank = AlertState() if fields is None else AlertState.from_dict({**fields, "seq": seq})
        for name in self.__slots__:
            setattr(self, name, getattr(blank, name))
        self.seq, self.undo, self.since = seq, undo, since

    def visible(self) -> tuple[Any, ...]:
        """What the alert shows the world: a re-judged reading that leaves this alone emits nothing."""
        return (self.phase, self.severity, self.opened_us)

    # -- queries -------------------------------------------------------------------------------
    @property
    def is_open(self) -> bool:
        return self.phase != INACTIVE

    def alert_id(self, station: str, rule: Rule) -> str:
        assert self.opened_us is not None
        return alert_id(station, rule.id, self.opened_us)

    def effective(self, rule: Rule, time_us: int) -> int:
        """The most severe rank supported by an observation within the keep-firing window."""
        since = time_us - rule.keep_firing_us
        ranks = [i + 1 for i, t in enumerate(self.last_true_us) if t is not None and t >= since]
        return max(ranks, default=0)

    def renotify_due_us(self, rule: Rule) -> int | None:
        if self.phase != FIRING or self.acked or self.silence_id or not rule.renotify_us:
            return None
        assert self.last_notified_us is not None
        return self.last_notified_us + rule.renotify_us

    # -- transitions ---------------------------------------------------------------------------
    def _emit(
        self,
        station: str,
        rule: Rule,
        kind: str,
        severity: int,
        time_us: int,
        value: float | None,
        actor: str | None = None,
        comment: str | None = None,
        *,
        fired: bool | None = None,
    ) -> Transition:
        """`fired`: whether the event goes to whoever hears of a firing alert (default: it is firing)."""
        transition = Transition(
            alert_id=self.alert_id(station, rule),
            seq=self.seq,
            kind=kind,
            severity=severity,
            time_us=time_us,
            value=value,
            fired=self.phase == FIRING if fired is None else fired,
            silenced=self.silence_id is not None,
            actor=actor,
            comment=comment,
            state=RESOLVED if kind in CLOSING_KINDS else self.phase,
        )
        self.seq += 1
        return transition

    def _close(self) -> None:
        self.phase = INACTIVE
        self.opened_us = None
        self.seq = self.severity = self.peak = 0
        self.last_true_us = [None] * len(SEVERITIES)
        self.last_notified_us = self.value = None
        self.acked = False
        self.silence_id = self.silenced_until_us = None

    def _fire(
        self,
        station: str,
        rule: Rule,
        kind: str,
        severity: int,
        time_us: int,
        value: float | None,
        now_us: int | None = None,
    ) -> Transition:
        self.phase = FIRING
        self.severity = severity
        self.peak = max(self.peak, severity)
        # Re-notify counts from when the notice went out: an input known late (a high water ~4 h after
        # it) must not be reminded of at once.
        self.last_notified_us = time_us if now_us is None else max(time_us, now_us)
        return self._emit(station, rule, kind, severity, time_us, value)

    def judged(
        self,
        station: str,
        rule: Rule,
        severity: int,
        time_us: int,
        value: float | None,
        silence: tuple[str, int] | None,
        now_us: int | None = None,
    ) -> list[Transition]:
        """Apply the severity an observation at `time_us` supports. `silence` is the (id, end) of a
        silence covering this station and rule at that time, used when the alert opens; `now_us` is
        the station's clock when the observation is judged (later than `time_us` for a late input)."""
        if severity:
            self.last_true_us[severity - 1] = time_us
            self.value = value
        if self.phase == INACTIVE:
            if not severity:
                return []
            self.opened_us = time_us
            if silence:
                self.silence_id, self.silenced_until_us = silence
            if rule.for_us == 0:
                return [self._fire(station, rule, "firing", severity, time_us, value, now_us)]
            self.phase, self.severity = PENDING, severity
            return [self._emit(station, rule, "pending", severity, time_us, value)]
        if self.phase == PENDING:
            # Keep-firing debounces the pending phase too: flapping data keeps counting towards "for",
            # but only an observation that itself supports the alert can make it fire.
            if not severity and self.effective(rule, time_us) == 0:
                done = self._emit(station, rule, "resolved", self.severity, time_us, value)
                self._close()
                return [done]
            assert self.opened_us is not None  # set when the alert went pending
            if severity and time_us - self.opened_us >= rule.for_us:
                now = self.effective(rule, time_us)
                return [self._fire(station, rule, "firing", now, time_us, value, now_us)]
            self.severity = max(severity, self.severity)
            return []
        now = self.effective(rule, time_us)
        if now == 0:
            done = self._emit(station, rule, "resolved", self.peak, time_us, value)
            self._close()
            return [done]
        if now > self.severity:
            self.acked = False
            return [self._fire(station, rule, "escalated", now, time_us, value, now_us)]
        if now < self.severity:
            self.severity = now
            return [self._emit(station, rule, "deescalated", now, time_us, value)]
        return []

    def revised(self, station: str, rule: Rule, before: tuple[Any, ...], time_us: int) -> list[Transition]:
        """The event for a reading judged again with its final QC flags, given what the alert showed
        (`before`) after its first flags: nothing if it shows the same, ``reopened`` (or ``pending``
        again) if the withdrawn reading had resolved it, ``retracted`` (and closed) if it had opened
        it, else ``corrected`` to the level the data support (told wherever the firing was, also when the
        correction puts it back to pending)."""
        if self.visible() == before:
            return []
        phase, severity, opened_us = before
        if phase == INACTIVE:  # a pending alert is simply pending again (pending is never notified)
            kind = "reopened" if self.phase == FIRING else "pending"
            return [self._emit(station, rule, kind, self.severity, time_us, self.value)]
        if self.phase == INACTIVE or self.opened_us != opened_us:
            self.phase, self.opened_us = phase, opened_us
            done = self._emit(station, rule, "retracted", severity, time_us, self.value)
            self._close()
            return [done]
        fired = FIRING in (phase, self.phase)
        return [self._emit(station, rule, "corrected", self.severity, time_us, self.value, fired=fired)]

    def renotify(self, station: str, rule: Rule, due_us: int) -> Transition:
        self.last_notified_us = due_us
        return self._emit(station, rule, "renotify", self.severity, due_us, self.value)

    def acknowledge(
        self, station: str, rule: Rule, actor: str, time_us: int, comment: str
    ) -> list[Transition]:
        if self.phase != FIRING or self.acked:
            return []
        self.acked = True
        return [self._emit(station, rule, "acknowledged", self.severity, time_us, self.value, actor, comment)]

    def silence(
        self, station: str, rule: Rule, silence_id: str, until_us: int, time_us: int, actor: str, comment: str
    ) -> list[Transition]:
        if not self.is_open:
            return []
        was_silenced = self.silence_id is not None
        self.silence_id, self.silenced_until_us = silence_id, until_us
        if was_silenced:
            return []
        return [self._emit(station, rule, "silenced", self.severity, time_us, self.value, actor, comment)]

    def unsilence(self, station: str, rule: Rule, time_us: int, actor: str | None = None) -> list[Transition]:
        if self.silence_id is None:
            return []
        self.silence_id = self.silenced_until_us = None
        if self.phase == FIRING:
            self.last_notified_us = time_us
        return [self._emit(station, rule, "unsilenced", self.severity, time_us, self.value, actor)]
