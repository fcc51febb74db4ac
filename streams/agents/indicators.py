"""Indicators agent: QC results → sea-level and ecological indicators → database and indicators topic.

Consumes the observations topic (every new or corrected QC flag) and the tide-models topic (models
fitted by the refit timer below), keeps one sea-level and one ecological state per station in
changelog tables, and upserts what the states emit (a None value deletes a retracted row). Only
readings whose latest flag is GOOD feed an indicator; a later downgrade withdraws the reading.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import defaultdict
from typing import Any

import faust
import msgspec
import numpy as np

from schemas.indicators import Indicator
from schemas.records import OBSERVATIONS_TOPIC, Sample, partition_for
from schemas.registry import Station
from schemas.topics import IndicatorBatch, ObservationBatch, TideModelUpdate, encode
from services.db.indicators import (
    first_good_level_us,
    good_levels,
    latest_tide_model,
    store_tide_model,
    write_indicators,
)
from services.db.provenance import register_versions
from services.db.writers import insert_dead_letters
from streams import metrics
from streams.app import (
    alert_inputs_topic,
    app,
    by_partition_records,
    observations_topic,
    registry,
    results_producer,
    settings,
    tide_models_topic,
)
from streams.durable_writes import pool, write_until_stored
from streams.indicators.ecology import INPUT_VARIABLES, EcologyState, params_for_station
from streams.indicators.ecology.climatology import PACKAGED_DIR, climatologies_in
from streams.indicators.provenance import indicator_version
from streams.indicators.sealevel import SeaLevelConfig, SeaLevelState
from streams.indicators.sealevel.compute import sealevel_station
from streams.indicators.sealevel.inference import Inference, station_inference
from streams.indicators.sealevel.refit import RefitPolicy, enough_coverage, refit, refit_window
from streams.indicators.sealevel.tide import TideModel
from streams.isolate import Isolated
from streams.qc import GOOD, QcResult
from streams.state import Assignment, PieceTable

log = logging.getLogger(__name__)

WATER_LEVEL, WAVE_HEIGHT = "water_level_m", "wave_height_m"
REFIT_POLICY = RefitPolicy()

# Built (and validated) at start-up: a bad threshold stops the worker with the station and field.
_sealevel_cfg = {
    s.id: SeaLevelConfig.from_station(s) for s in registry.stations.values() if sealevel_station(s)
}
_ecology_params = {s.id: params_for_station(s) for s in registry.stations.values()}
# SST climatologies from files, for stations without a long history of their own.
_climatology = climatologies_in(settings.climatology_dir or PACKAGED_DIR, registry.stations)

# What computes each station's indicators, numbered in config_versions when the agent starts.
_indicator_versions = [
    indicator_version(s, _climatology.get(s.id)) for _, s in sorted(registry.stations.items())
]

sealevel_table = PieceTable("sealevel-state")
ecology_table = PieceTable("ecology-state")
_input = msgspec.json.Decoder(ObservationBatch | TideModelUpdate)


class _States:
    """Live state objects of the assigned stations, restored from the tables' pieces on first use.

    When the worker's partitions change, the live objects are dropped and the stored pieces of the
    stations it now owns are read once; a station's state is built from them when it is next needed.
    """

    def __init__(self) -> None:
        self.assignment = Assignment(OBSERVATIONS_TOPIC)
        self.sealevel: dict[str, SeaLevelState] = {}
        self.ecology: dict[str, EcologyState] = {}
        self._saved: dict[str, dict[str, dict[str, Any]]] = {"sealevel": {}, "ecology": {}}

    def refresh(self) -> None:
        if self.assignment.changed():
            partitions = self.assignment.partitions or frozenset()
            self.sealevel.clear()
            self.ecology.clear()
            self._saved = {
                "sealevel": sealevel_table.load(partitions),
                "ecology": ecology_table.load(partitions),
            }

    def _pieces(self, kind: str, station: str) -> dict[str, Any] | None:
        return self._saved[kind].pop(station, None)

    def sealevel_of(self, station: str) -> SeaLevelState | None:
        cfg = _sealevel_cfg.get(station)
        if cfg is None:
            return None
        if station not in self.sealevel:
            saved = self._pieces("sealevel", station)
            state = SeaLevelState(cfg)
            if saved:
                try:
                    state = SeaLevelState.from_pieces(cfg, saved)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("sea-level state of %s not restored (%s): rebuilt from scratch", station, exc)
                    sealevel_table.forget(station, saved)
            self.sealevel[station] = state
        return self.sealevel[station]

    def ecology_of(self, station: str) -> EcologyState | None:
        params = _ecology_params.get(station)
        if params is None:
            return None
        if station not in self.ecology:
            saved = self._pieces("ecology", station)
            climatology = _climatology.get(station)
            state = EcologyState(station, params, climatology)
            if saved:
                try:
                    state = EcologyState.from_pieces(saved, params, climatology)
                except (ValueError, KeyError, TypeError) as exc:
                    log.error("ecology state of %s not restored (%s): rebuilt from scratch", station, exc)
                    ecology_table.forget(station, saved)
            self.ecology[station] = state
        return self.ecology[station]

    def save(self, stations: set[str]) -> int:
        """Write the pieces the batch changed; returns the bytes written."""
        written = 0
        for station in sorted(stations):
            if station in self.sealevel:
                written += sealevel_table.write(station, self.sealevel[station].export())
            if station in self.ecology:
                written += ecology_table.write(station, self.ecology[station].export())
        return written


_states = _States()


def _sealevel_indicators(station: str, results: list[QcResult]) -> list[Indicator]:
    state = _states.sealevel_of(station)
    if state is None:
        return []
    out: list[Indicator] = []
    for variable in (WATER_LEVEL, WAVE_HEIGHT):
        picked = [r for r in results if r.variable == variable]
        if picked:
            out += state.update(
                variable,
                np.array([r.time_us for r in picked], dtype=np.int64),
                np.array([np.nan if r.value is None else r.value for r in picked]),
                np.array([r.flag for r in picked]),
            )
    return out


def _ecology_indicators(station: str, results: list[QcResult]) -> list[Indicator]:
    state = _states.ecology_of(station)
    if state is None:
        return []
    by_time: dict[int, dict[str, float | None]] = defaultdict(dict)
    for r in results:
        if r.variable in INPUT_VARIABLES:
            # None withdraws the reading: QC no longer calls it good (or it never was).
            by_time[r.time_us][r.variable] = r.value if r.flag == GOOD else None
    if not by_time:
        return []
    return state.update([Sample(t, values) for t, values in sorted(by_time.items())])


def _station_indicators(station: str, results: list[QcResult]) -> list[Indicator]:
    return _sealevel_indicators(station, results) + _ecology_indicators(station, results)


def _results_record(results: list[QcResult]) -> bytes:
    """A station's QC results as kept in a processing_failed dead letter."""
    return encode(ObservationBatch(results))


def _alert_inputs_record(wall_us: int, chunk: list[tuple[Indicator, int]]) -> bytes:
    return encode(IndicatorBatch([i for i, _ in chunk], wall_us, [source for _, source in chunk]))


def _add_model(record: TideModelUpdate) -> list[Indicator]:
    state = _states.sealevel_of(record.station)
    return [] if state is None else state.add_model(TideModel.from_dict(record.model))


def _observe(indicators: list[Indicator]) -> None:
    counts: dict[str, int] = defaultdict(int)
    for item in indicators:
        counts[item.indicator] += 1
        if item.indicator in metrics.KEY_INDICATORS and item.value is not None:
            metrics.LATEST_INDICATOR.labels(item.station, item.indicator).set(item.value)
    for indicator, count in counts.items():
        metrics.INDICATORS.labels(indicator).inc(count)


# faust's agent type takes the StreamT interface, which lacks the take_events a faust.Stream (what an
# agent is given) has.
@app.agent(  # type: ignore[arg-type]
    app.topic(
        observations_topic.get_topic_name(),
        tide_models_topic.get_topic_name(),
        value_type=bytes,
        value_serializer="raw",
    )
)
async def compute_indicators(stream: faust.Stream[bytes]) -> None:
    versions = await write_until_stored(register_versions, _indicator_versions)
    async for events in stream.take_events(100, within=0.5):
        _states.refresh()
        # (indicator, source): the observations-topic offset of the record whose results made it, so
        # the alert engine knows a repeat from a worker that died after sending (see SourceWatermark);
        # a tide model's indicators have none (-1). Records are taken one by one, models first, so
        # what each record makes does not depend on how records happened to be batched.
        out: list[tuple[Indicator, int]] = []
        touched: set[str] = set()
        isolated = Isolated("indicators")
        records = [(event.message.offset, event.value, _input.decode(event.value)) for event in events]
        for _, raw, record in records:
            if isinstance(record, TideModelUpdate):
                # The record as it came is its dead letter's input (bytes(raw) is raw itself).
                made = isolated.run(
                    record.station, functools.partial(_add_model, record), functools.partial(bytes, raw)
                )
                out += [(item, -1) for item in made or []]
                touched.add(record.station)
        for offset, _, record in records:
            if isinstance(record, TideModelUpdate):
                continue
            per_station: dict[str, list[QcResult]] = defaultdict(list)
            for result in record.results:
                per_station[result.station].append(result)
            for station, results in per_station.items():
                made = isolated.run(
                    station,
                    functools.partial(_station_indicators, station, results),
                    functools.partial(_results_record, results),
                )
                out += [(item, offset) for item in made or []]
                touched.add(station)
        if isolated.letters:
            await write_until_stored(insert_dead_letters, isolated.letters)
        # To the alert engine's log in time slices (each judged there at its own data time), delivered
        # before the rows and the state: once the state holds a batch, a replay of it emits nothing.
        out.sort(key=lambda pair: (pair[0].time_us, pair[0].station, pair[0].indicator))
        wall_us = time.time_ns() // 1000
        indicators = [item for item, _ in out]
        if out:
            records_out = by_partition_records(
                alert_inputs_topic,
                out,
                lambda pair: pair[0].station,
                functools.partial(_alert_inputs_record, wall_us),
            )
            await results_producer.deliver(records_out)
            # The batch's stations' versions only (as the observation write binds them).
            made_by = {s: versions[s] for s in {i.station for i in indicators} if s in versions}
            await write_until_stored(functools.partial(write_indicators, versions=made_by), indicators)
        # State reaches the changelog only after what it emitted is stored.
        _states.save(touched)
        _observe(indicators)


# When each gauge's refit was last tried: a rejected candidate or a monitoring run of published
# constants leaves no new model, and must not be retried at every check.
_last_attempt_us: dict[str, int] = {}


async def _inference(conn: Any, station: Station) -> Inference | None:
    """The station's inference for a fit now: its registry ratios, or its reference gauge's stored model."""
    spec = station.tide_inference
    reference = None
    if spec is not None and spec.reference_station is not None:
        doc = await latest_tide_model(conn, spec.reference_station)
        reference = None if doc is None else TideModel.from_dict(doc)
    return station_inference(spec, reference)


async def _refit(station: Station, state: SeaLevelState) -> dict[str, Any] | None:
    """Fit a candidate tide model on the station's QC-good history when the refit policy asks for one,
    and publish it only if it predicts held-back days at least as well as the current model."""
    if state.watermark_us is None:
        return None
    current = state.models[-1] if state.models else None
    async with (await pool()).acquire() as conn:
        history_start = await first_good_level_us(conn, station.id)
        window = refit_window(
            state.watermark_us, history_start, current, REFIT_POLICY, _last_attempt_us.get(station.id)
        )
        if window is None:
            return None
        rows = await good_levels(conn, station.id, window.start_us, window.end_us)
        inference = await _inference(conn, station)
    times = np.array([t for t, _ in rows], dtype=np.int64)
    levels = np.array([v for _, v in rows])
    if not enough_coverage(times, window, station.sampling_interval_s, REFIT_POLICY):
        return None
    _last_attempt_us[station.id] = window.end_us
    outcome = await asyncio.to_thread(
        refit,
        times,
        levels,
        station.latitude,
        window,
        current,
        REFIT_POLICY,
        station=station.id,
        inference=inference,
        zeros=station.datum.history,
    )
    log.info(
        "tide refit for %s: %s (held-back RMS candidate %s m, current %s m)",
        station.id,
        outcome.reason,
        outcome.candidate_rms_m,
        outcome.current_rms_m,
    )
    if outcome.model is None:
        return None
    model = outcome.model
    async with (await pool()).acquire() as conn:
        await store_tide_model(conn, station.id, model.to_dict(), model.constituents)
    log.info(
        "tide model for %s: %d readings, constituents %s (inferred %s)",
        station.id,
        len(times),
        model.constituents,
        list(model.inferred) or "none",
    )
    return model.to_dict()


@app.timer(interval=settings.tide_refit_check_s)
async def refit_tide_models() -> None:
    """Fit models off the stream (a fit takes ~0.2–2 s) and hand them to the agent through Kafka."""
    for station_id, state in list(_states.sealevel.items()):
        station = registry.stations[station_id]
        if station.kind != "tide_gauge":
            continue
        try:
            model = await _refit(station, state)
        except Exception:  # a failed fit must not stop the worker; the next check tries again
            log.exception("tide fit for %s failed", station_id)
            continue
        if model is not None:
            await tide_models_topic.send(
                value=encode(TideModelUpdate(station_id, model)),
                partition=partition_for(station_id, settings.topic_partitions),
            )
