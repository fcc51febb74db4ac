"""The simulated station network: samples and MQTT messages for a window of simulated time.

Pure: no clock, no network. Everything is a function of (registry, scenario, seed, start, window),
so a window gives the same messages whether it is generated in one call or in many small ones —
the publisher windows by wall-clock ticks and the tests by whatever suits them.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import orjson

from schemas.contract import readings_topic
from schemas.registry import Registry, Station
from services.simulate import faults as fk
from services.simulate import noise
from services.simulate.faults import FaultRates
from services.simulate.scenario import Scenario, default_scenario
from services.simulate.signals import StationModel
from services.simulate.timeline import place_events

US = 1_000_000
FLAT_BLOCK_S = 3 * 3600  # a stuck sensor stays stuck for one block
MAX_BACKLOG_SAMPLES = 200  # keeps a late batch far below the contract's 256 kB payload limit
OUTAGE_MIN_S, OUTAGE_SPAN_S = 20 * 60, 100 * 60  # unscheduled outages last 20–120 min
DECIMALS = {
    "latitude_deg": 5,
    "longitude_deg": 5,
    "air_pressure_hpa": 1,
    "wind_direction_deg": 0,
    "par_umol_m2_s": 1,
    "ch4_flux_nmol_m2_s": 2,
    "turbidity_ntu": 2,
    "battery_voltage_v": 2,
}
SPIKE_SIZE = {"latitude_deg": 0.05, "longitude_deg": 0.05, "wind_direction_deg": 90.0}
SPIKE_FRACTION_OF_RANGE = 0.08
FAULT_STREAMS = (
    *("spike", "spike_var", "null", "null_var", "flat", "flat_var", "gap", "msg", "dup"),
    *("outage", "outage_len", "outage_at", "bad_var"),
)

Values = dict[str, float | None]
Observed = tuple[int, Values, tuple[str, ...]]  # time_us, values, sensor faults in them


@dataclass(frozen=True, slots=True)
class SimMessage:
    """One MQTT publish.

    samples and readings are what ingest should accept from it (readings counts values, nulls
    included, like StationReadings.count()); fault is None, DUPLICATE, LATE_BATCH or a contract
    fault; value_faults are the sensor faults inside the accepted values.
    """

    topic: str
    payload: bytes
    station: str
    time_us: int
    samples: int
    readings: int
    fault: str | None = None
    value_faults: tuple[str, ...] = ()


def rfc3339(time_us: int) -> str:
    seconds, micros = divmod(time_us, US)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{text}.{micros:06d}Z" if micros else f"{text}Z"


class _StationRun:
    """Per-station constants: the signal model, keys of its fault streams, topic, sampling grid."""

    def __init__(self, model: StationModel, seed: int) -> None:
        station = model.station
        self.station: Station = station
        self.model = model
        self.topic = readings_topic(station.network, station.id)
        self.interval_us = round(station.sampling_interval_s * US)
        self.keys = {name: noise.stream_key(seed, station.id, "fault", name) for name in FAULT_STREAMS}
        self.silent = [(round(e.start_s * US), round(e.end_s * US)) for e in model.of_kind(fk.SILENT)]
        self.planned = [(round(e.start_s * US), round(e.end_s * US)) for e in model.of_kind(fk.LATE_BATCH)]

    def grid(self, t0_us: int, t1_us: int) -> np.ndarray:
        """Sample times in [t0, t1): multiples of the sampling interval."""
        k0, k1 = -(-t0_us // self.interval_us), -(-t1_us // self.interval_us)
        return np.arange(k0, k1, dtype=np.int64) * self.interval_us

    def first_sample_at_or_after(self, t_us: int) -> int:
        return -(-t_us // self.interval_us) * self.interval_us


class Simulation:
    """Deterministic samples and messages of a registry's stations under a scenario.

    start_us anchors the scenario (its times are hours after it); windows may start anywhere.
    """

    def __init__(
        self,
        registry: Registry,
        scenario: Scenario | None = None,
        seed: int = 0,
        start_us: int = 0,
        *,
        faults: bool | FaultRates = True,
        stations: Iterable[str] | None = None,
    ) -> None:
        self.registry = registry
        self.scenario = scenario if scenario is not None else default_scenario()
        self.seed = seed
        self.start_us = start_us
        if isinstance(faults, FaultRates):
            self.faults = faults
        else:
            self.faults = (self.scenario.faults or FaultRates()) if faults else FaultRates.off()
        wanted = set(stations) if stations is not None else None
        if wanted is not None and (unknown := wanted - set(registry.stations)):
            raise ValueError(f"stations not in the registry: {sorted(unknown)}")
        self.runs: list[_StationRun] = []
        for station in registry.stations.values():
            if wanted is None or station.id in wanted:
                model = place_events(StationModel(station, seed), self.scenario, start_us / US)
                self.runs.append(_StationRun(model, seed))
        self._by_id = {run.station.id: run for run in self.runs}
        self.dropped: Counter[str] = Counter()  # samples never sent: gap, silent

    def messages_per_sim_s(self) -> float:
        """Messages the network sends per simulated second without faults (one per sample)."""
        return sum(US / run.interval_us for run in self.runs)

    # --- pure signals -----------------------------------------------------------------------------
    def model(self, station_id: str) -> StationModel:
        return self._by_id[station_id].model

    def timeline(self) -> list[tuple[str, str, int, int, dict]]:
        """(station, event kind, start_us, end_us, resolved parameters) of every placed event."""
        rows = [
            (e.station, e.kind, round(e.start_s * US), round(e.end_s * US), dict(e.params))
            for run in self.runs
            for e in run.model.events
        ]
        return sorted(rows, key=lambda r: (r[2], r[0]))

    def clean_values(self, station_id: str, times_us: Sequence[int] | np.ndarray) -> dict[str, np.ndarray]:
        """Fault-free values, clipped to the vocabulary's physical ranges (unrounded)."""
        run = self._by_id[station_id]
        t_s = np.asarray(times_us, dtype=np.int64) / US
        values = run.model.values(t_s)
        for var, series in values.items():
            variable = self.registry.variables[var]
            values[var] = np.clip(series, variable.physical_min, variable.physical_max)
        return values

    # --- observed samples (sensor faults applied) --------------------------------------------------
    def samples_between(self, t0_us: int, t1_us: int) -> Iterator[tuple[str, int, Values]]:
        """Every sample the stations measure in [t0, t1), time-ordered, sensor faults included.

        Transport faults (gaps, silence, late delivery, duplicates, contract breaks) belong to
        messages_between: these are the samples as the loggers recorded them.
        """
        rows = [
            (t, i, run.station.id, values)
            for i, run in enumerate(self.runs)
            for t, values, _ in self._observe(run, run.grid(t0_us, t1_us))
        ]
        rows.sort(key=lambda r: (r[0], r[1]))
        for t, _, station_id, values in rows:
            yield station_id, t, values

    def _observe(self, run: _StationRun, times_us: np.ndarray) -> list[Observed]:
        if len(times_us) == 0:
            return []
        names = run.model.variables
        clean = self.clean_values(run.station.id, times_us)
        columns = [np.round(clean[v], DECIMALS.get(v, 3)).tolist() for v in names]
        rows: list[Observed] = [
            (t, dict(zip(names, r, strict=True)), ())
            for t, r in zip(times_us.tolist(), zip(*columns, strict=True), strict=True)
        ]
        if self.faults.flat_line or self.faults.spike or self.faults.null_value:
            self._sensor_faults(run, times_us, rows)
        return rows

    def _pick(self, run: _StationRun, stream: str, index: np.ndarray, count: int) -> np.ndarray:
        return np.minimum((noise.uniform(run.keys[stream], index) * count).astype(np.int64), count - 1)

    def _sensor_faults(self, run: _StationRun, times_us: np.ndarray, rows: list[Observed]) -> None:
        names = run.model.variables
        seconds = times_us // US
        blocks = seconds // FLAT_BLOCK_S
        stuck = np.flatnonzero(noise.uniform(run.keys["flat"], blocks) < self.faults.flat_line)
        if len(stuck):
            frozen_at = np.array(
                [run.first_sample_at_or_after(int(b) * FLAT_BLOCK_S * US) for b in blocks[stuck]]
            )
            frozen = self.clean_values(run.station.id, frozen_at)
            which = self._pick(run, "flat_var", blocks[stuck], len(names))
            for j, row_index in enumerate(stuck.tolist()):
                var = names[which[j]]
                t, values, tags = rows[row_index]
                if times_us[row_index] != frozen_at[j]:
                    values[var] = round(float(frozen[var][j]), DECIMALS.get(var, 3))
                    rows[row_index] = (t, values, (*tags, fk.FLAT_LINE))
        for stream, kind in (("spike", fk.SPIKE), ("null", fk.NULL_VALUE)):
            rate = self.faults.spike if kind == fk.SPIKE else self.faults.null_value
            hit = np.flatnonzero(noise.uniform(run.keys[stream], seconds) < rate)
            if not len(hit):
                continue
            which = self._pick(run, stream + "_var", seconds[hit], len(names))
            for j, row_index in enumerate(hit.tolist()):
                var = names[which[j]]
                t, values, tags = rows[row_index]
                clean = values[var]
                if kind == fk.NULL_VALUE:
                    values[var] = None
                elif clean is not None:
                    values[var] = self._spiked(var, clean, int(seconds[row_index]), run)
                rows[row_index] = (t, values, (*tags, kind))

    def _spiked(self, var: str, value: float, second: int, run: _StationRun) -> float:
        """A jump that stays physically possible, so QC (not the contract) has to catch it."""
        variable = self.registry.variables[var]
        size = SPIKE_SIZE.get(var, SPIKE_FRACTION_OF_RANGE * (variable.physical_max - variable.physical_min))
        up = value + size
        down = value - size
        sign_up = noise.uniform(run.keys["spike_var"] ^ 1, second)[0] < 0.5
        candidate = up if (sign_up and up <= variable.physical_max) or down < variable.physical_min else down
        return round(
            float(np.clip(candidate, variable.physical_min, variable.physical_max)), DECIMALS.get(var, 3)
        )

    # --- messages (transport and contract faults applied) -------------------------------------------
    def outages(self, station_id: str, t0_us: int, t1_us: int) -> list[tuple[int, int]]:
        """Late-batch windows (planned and random) that overlap [t0, t1) or end just before it."""
        run = self._by_id[station_id]
        reach_back = t0_us - (OUTAGE_MIN_S + OUTAGE_SPAN_S) * US - run.interval_us
        windows = [(s, e) for s, e in run.planned if e > reach_back and s < t1_us]
        if self.faults.late_batch:
            days = np.arange(reach_back // (86_400 * US), t1_us // (86_400 * US) + 1, dtype=np.int64)
            chosen = days[noise.uniform(run.keys["outage"], days) < self.faults.late_batch]
            if len(chosen):
                length_s = OUTAGE_MIN_S + noise.uniform(run.keys["outage_len"], chosen) * OUTAGE_SPAN_S
                offset_s = noise.uniform(run.keys["outage_at"], chosen) * (86_400 - length_s)
                for day, off, length in zip(
                    chosen.tolist(), offset_s.tolist(), length_s.tolist(), strict=True
                ):
                    start = (day * 86_400 + int(off)) * US
                    if start + int(length) * US > reach_back and start < t1_us:
                        windows.append((start, start + int(length) * US))
        return sorted(windows)

    def messages_between(self, t0_us: int, t1_us: int) -> Iterator[SimMessage]:
        """The MQTT messages the network publishes for samples in [t0, t1), in publish order."""
        out: list[tuple[int, int, SimMessage]] = []
        for order, run in enumerate(self.runs):
            for message in self._station_messages(run, t0_us, t1_us):
                out.append((message.time_us, order, message))
        out.sort(key=lambda item: (item[0], item[1]))
        for _, _, message in out:
            yield message

    def _station_messages(self, run: _StationRun, t0_us: int, t1_us: int) -> list[SimMessage]:
        times = run.grid(t0_us, t1_us)
        outages = self.outages(run.station.id, t0_us, t1_us)
        if not len(times) and not outages:
            return []
        silenced = np.zeros(len(times), dtype=bool)
        for s, e in run.silent:
            silenced |= (times >= s) & (times < e)
        buffered = np.zeros(len(times), dtype=bool)
        returns: dict[int, tuple[int, int]] = {}  # emission sample time → outage window
        for s, e in outages:
            buffered |= (times >= s) & (times < e)
            back = run.first_sample_at_or_after(e)
            if t0_us <= back < t1_us:
                returns[back] = (s, e)
        gap = noise.uniform(run.keys["gap"], times // US) < self.faults.gap
        emitting = np.isin(times, np.fromiter(returns, dtype=np.int64, count=len(returns)))
        send = ~silenced & ~buffered & (~gap | emitting)
        self.dropped[fk.SILENT] += int(silenced.sum())
        self.dropped[fk.GAP] += int((gap & ~silenced & ~buffered & ~emitting).sum())
        sent = times[send]
        u_contract = noise.uniform(run.keys["msg"], sent // US).tolist()
        duplicated = (noise.uniform(run.keys["dup"], sent // US) < self.faults.duplicate).tolist()
        messages: list[SimMessage] = []
        for (t, values, tags), u, dup in zip(self._observe(run, sent), u_contract, duplicated, strict=True):
            window = returns.get(t)
            if window is None:
                batch = self._live(run, t, values, tags, u)
            else:
                batch = self._late_batch(run, t, values, tags, window)
            if dup:  # the station's own message, if the contract accepts it, goes out twice
                own = [m for m in batch if m.station == run.station.id and m.fault not in fk.CONTRACT_FAULTS]
                if own:
                    batch.append(_duplicate(own[-1]))
            messages.extend(batch)
        return messages

    def _live(
        self, run: _StationRun, t: int, values: Values, tags: tuple[str, ...], u: float
    ) -> list[SimMessage]:
        """A message as sent live; u (uniform, per sample) decides whether it breaks the contract."""
        kind = None
        for candidate in fk.CONTRACT_FAULTS:
            u -= getattr(self.faults, candidate)
            if u < 0:
                kind = candidate
                break
        if kind is None or kind == fk.UNKNOWN_STATION:
            message = self._message(run, t, values, (), tags)
            messages = [message]
            if kind == fk.UNKNOWN_STATION:
                messages.append(self._unknown_station(run, t, values))
        else:
            messages = [self._broken(run, kind, t, values, tags)]
        return messages

    def _late_batch(
        self, run: _StationRun, t: int, values: Values, tags: tuple[str, ...], window: tuple[int, int]
    ) -> list[SimMessage]:
        """The station comes back: its buffered samples ride in the backlog (chunked if many)."""
        s, e = window
        held = run.grid(s, e)
        for silent_s, silent_e in run.silent:
            held = held[(held < silent_s) | (held >= silent_e)]
        backlog = self._observe(run, held)
        chunks = [backlog[i : i + MAX_BACKLOG_SAMPLES] for i in range(0, len(backlog), MAX_BACKLOG_SAMPLES)]
        messages = [self._message(run, None, None, chunk, (), fault=fk.LATE_BATCH) for chunk in chunks[:-1]]
        last = chunks[-1] if chunks else []
        messages.append(self._message(run, t, values, last, tags, fault=fk.LATE_BATCH if last else None))
        return messages

    def _message(
        self,
        run: _StationRun,
        t: int | None,
        values: Values | None,
        backlog: Sequence[Observed],
        tags: tuple[str, ...],
        fault: str | None = None,
    ) -> SimMessage:
        body: dict[str, object] = {"station": run.station.id}
        if t is not None and values is not None:
            body["time"] = rfc3339(t)
            body["values"] = values
        if backlog:
            body["backlog"] = [{"time": rfc3339(bt), "values": bv} for bt, bv, _ in backlog]
        all_tags = tags + tuple(tag for _, _, bt in backlog for tag in bt)
        samples = len(backlog) + (values is not None)
        readings = sum(len(bv) for _, bv, _ in backlog) + (len(values) if values else 0)
        time_us = t if t is not None else backlog[-1][0]
        return SimMessage(
            run.topic, orjson.dumps(body), run.station.id, time_us, samples, readings, fault, all_tags
        )

    def _broken(
        self, run: _StationRun, kind: str, t: int, values: Values, tags: tuple[str, ...]
    ) -> SimMessage:
        """A message that breaks the contract on purpose; what ingest may still accept is counted."""
        body: dict[str, object] = {"station": run.station.id, "time": rfc3339(t), "values": dict(values)}
        names = run.model.variables
        var = names[int(self._pick(run, "bad_var", np.array([t // US]), len(names))[0])]
        samples, readings = 0, 0
        if kind == fk.MALFORMED_JSON:
            text = orjson.dumps(body)
            return SimMessage(run.topic, text[: len(text) // 2], run.station.id, t, 0, 0, kind)
        if kind == fk.UNKNOWN_VARIABLE:
            body["values"][fk.UNKNOWN_VARIABLE_ID] = 1.0  # type: ignore[index]
            samples, readings = 1, len(values)
        elif kind == fk.OUT_OF_RANGE:
            variable = self.registry.variables[var]
            body["values"][var] = variable.physical_max + (variable.physical_max - variable.physical_min)  # type: ignore[index]
            samples, readings = int(len(values) > 1), len(values) - 1
        elif kind == fk.WRONG_UNIT:
            body["units"] = {var: fk.WRONG_UNITS.get(var, "count")}
        return SimMessage(run.topic, orjson.dumps(body), run.station.id, t, samples, readings, kind, tags)

    def _unknown_station(self, run: _StationRun, t: int, values: Values) -> SimMessage:
        ghost = f"{run.station.id}-unregistered"
        body = {"station": ghost, "time": rfc3339(t), "values": values}
        topic = readings_topic(run.station.network, ghost)
        return SimMessage(topic, orjson.dumps(body), ghost, t, 0, 0, fk.UNKNOWN_STATION)


def _duplicate(message: SimMessage) -> SimMessage:
    """The same bytes again: ingest accepts both, storage must keep one."""
    return SimMessage(
        message.topic,
        message.payload,
        message.station,
        message.time_us,
        message.samples,
        message.readings,
        fk.DUPLICATE,
        message.value_faults,
    )
