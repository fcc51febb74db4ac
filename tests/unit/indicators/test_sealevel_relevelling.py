"""A re-levelled gauge: the tide model and its refit follow the station zero, so surge carries no step.

A gauge re-levelled 40 days into the record (its zero raised 6 cm against the national datum, so every
later reading is 6 cm lower for the same water) keeps a tide model fitted before it. Without the levelling
history the surge after the re-levelling is the tide's error minus 6 cm for as long as the model lives,
and a refit over a window across the re-levelling fits the mean of two zeros.
"""

from __future__ import annotations

import dataclasses
import datetime as dt

import numpy as np
import pytest
from test_sealevel_tide import LATITUDE, T0_US, US_PER_DAY, synthetic_series

from schemas.datums import DatumHistory, parse_levellings, zero_shift_m
from schemas.registry import load_registry
from streams.indicators.sealevel import catalogue as r
from streams.indicators.sealevel.compute import SeaLevelConfig, compute_indicators
from streams.indicators.sealevel.refit import RefitPolicy, refit, refit_window
from streams.indicators.sealevel.stream import SeaLevelState
from streams.indicators.sealevel.tide import fit_tide

RELEVEL_DAY = 40
RAISED_M = 0.06  # the zero's rise at the re-levelling: readings after it are this much lower
ZERO_BEFORE_M = -2.50  # the zero's height above the national datum before the re-levelling
RELEVEL_US = T0_US + RELEVEL_DAY * US_PER_DAY


def _date(us: int) -> str:
    return (dt.datetime(1970, 1, 1) + dt.timedelta(microseconds=us)).date().isoformat()


HISTORY = parse_levellings(
    [
        {"from": "2020-01-01", "zero_above_national_1985_m": ZERO_BEFORE_M, "zero_above_chart_m": 1.0},
        {"from": _date(RELEVEL_US), "zero_above_national_1985_m": ZERO_BEFORE_M + RAISED_M},
    ],
    ValueError,
)


def _gauge(history: DatumHistory) -> SeaLevelConfig:
    station = load_registry().stations["dalian"]
    station = dataclasses.replace(station, datum=dataclasses.replace(station.datum, history=history))
    return SeaLevelConfig.from_station(station)


@pytest.fixture(scope="module")
def record() -> tuple[np.ndarray, np.ndarray]:
    """60 days of 6-min readings of a calm sea (1 cm noise) on the zero in force at each time."""
    times, water, _ = synthetic_series(60, step_s=360, noise_m=0.01, seed=5)
    return times, water - np.where(times >= RELEVEL_US, RAISED_M, 0.0)


def _values(records: list, indicator: str) -> dict[int, float | None]:
    return {rec.time_us: rec.value for rec in records if rec.indicator == indicator}


def test_zero_shift_follows_the_levellings() -> None:
    times = np.array([T0_US - 3000 * US_PER_DAY, T0_US, RELEVEL_US - 1, RELEVEL_US, RELEVEL_US + US_PER_DAY])
    # Onto the zero after the re-levelling: readings taken before it on the lower zero are 6 cm too high.
    # Before the first levelling nothing is known, so the zero counts as unchanged.
    assert zero_shift_m(HISTORY, times, RELEVEL_US).tolist() == pytest.approx([0, -RAISED_M, -RAISED_M, 0, 0])
    assert zero_shift_m(HISTORY, times, T0_US).tolist() == pytest.approx([0, 0, 0, RAISED_M, RAISED_M])
    assert not zero_shift_m(DatumHistory(), times, RELEVEL_US).any()


def test_surge_after_a_relevelling_carries_no_step(record: tuple[np.ndarray, np.ndarray]) -> None:
    times, readings = record
    before = times < T0_US + 30 * US_PER_DAY
    model = fit_tide(times[before], readings[before], LATITUDE, station="dalian")
    after = times >= RELEVEL_US
    surge = _values(compute_indicators(_gauge(HISTORY), times, readings, [model]), r.SURGE)
    after_surge = np.array([surge[t] for t in times[after].tolist()])
    assert abs(after_surge.mean()) < 0.003 and np.abs(after_surge).max() < 0.06
    # The same gauge without its levelling history shows the fault the history removes.
    blind = _values(compute_indicators(_gauge(DatumHistory()), times, readings, [model]), r.SURGE)
    assert np.mean([blind[t] for t in times[after].tolist()]) == pytest.approx(-RAISED_M, abs=0.003)
    # The published tide is above the zero of its reading's time, as the reading is.
    tide = _values(compute_indicators(_gauge(HISTORY), times, readings, [model]), r.TIDE_PREDICTED)
    t = int(times[after][0])
    assert tide[t] == pytest.approx(model.predict(np.array([t]))[0] - RAISED_M)


def test_the_stream_equals_the_batch_across_a_relevelling(record: tuple[np.ndarray, np.ndarray]) -> None:
    times, readings = record
    before = times < T0_US + 30 * US_PER_DAY
    model = fit_tide(times[before], readings[before], LATITUDE, station="dalian")
    cfg = _gauge(HISTORY)
    state = SeaLevelState(cfg, [model])
    emitted: dict[tuple[str, int], float | None] = {}
    near = times >= RELEVEL_US - 2 * US_PER_DAY
    for chunk in np.array_split(np.flatnonzero(near), 40):
        for rec in state.update("water_level_m", times[chunk], readings[chunk]):
            emitted[(rec.indicator, rec.time_us)] = rec.value
    batch = compute_indicators(cfg, times[near], readings[near], [model])
    for name in (r.SURGE, r.TIDE_PREDICTED):
        want = _values(batch, name)
        got = {t: v for (i, t), v in emitted.items() if i == name}
        assert got.keys() == want.keys()
        assert max(abs(got[t] - want[t]) for t in want) < 1e-9


def test_a_refit_across_a_relevelling_fits_one_zero(record: tuple[np.ndarray, np.ndarray]) -> None:
    times, readings = record
    end_us = T0_US + 50 * US_PER_DAY
    fitted = (times >= T0_US + 20 * US_PER_DAY) & (times < end_us)
    window = refit_window(end_us, int(times[fitted][0]), None)
    assert window is not None
    later = times >= end_us

    def error_after(zeros: DatumHistory | None) -> float:
        outcome = refit(
            times[fitted], readings[fitted], LATITUDE, window, None, station="dalian", zeros=zeros
        )
        assert outcome.model is not None
        return float(np.mean(readings[later] - outcome.model.predict(times[later])))

    # The model takes effect at the window's end, on the zero then in force, and predicts it there.
    assert abs(error_after(HISTORY)) < 0.003
    # Fitting the readings as stored mixes two zeros (20 of its 30 days read 6 cm higher; the robust fit
    # leans to the majority): seen -5.5 cm.
    assert error_after(None) < -RAISED_M / 2


def test_a_refit_scores_the_current_model_on_each_readings_zero(
    record: tuple[np.ndarray, np.ndarray],
) -> None:
    times, readings = record
    first = times < T0_US + 30 * US_PER_DAY
    current = fit_tide(times[first], readings[first], LATITUDE, station="dalian")
    end_us = T0_US + 52 * US_PER_DAY
    seen = times < end_us
    window = refit_window(end_us, int(times[0]), current, RefitPolicy())
    assert window is not None
    outcome = refit(times[seen], readings[seen], LATITUDE, window, current, station="dalian", zeros=HISTORY)
    # Held back: the last day, after the re-levelling. Both models are as good as the noise there.
    assert outcome.current_rms_m is not None and outcome.current_rms_m < 0.015
    assert outcome.candidate_rms_m is not None and outcome.candidate_rms_m < 0.015
    blind = refit(times[seen], readings[seen], LATITUDE, window, current, station="dalian")
    assert blind.current_rms_m is not None and blind.current_rms_m > 0.05
