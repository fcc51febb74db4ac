"""Shared helpers of the ecological indicator tests: samples, arrival orders and the streaming run."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import numpy as np

from schemas.records import Sample
from streams.indicators.ecology import Climatology, EcologyParams, EcologyState, Indicator
from streams.indicators.ecology.calendar import DAY_US, from_date
from tests.unit.indicators.changelog import apply_pieces


def day_us(iso: str) -> int:
    return from_date(date.fromisoformat(iso)) * DAY_US


def series_samples(times_us: Sequence[int], **columns: Sequence[float]) -> list[Sample]:
    """One sample per time with the given variables (NaN leaves a variable out of that sample)."""
    samples = []
    for i, t in enumerate(times_us):
        values = {name: float(col[i]) for name, col in columns.items() if not np.isnan(col[i])}
        samples.append(Sample(int(t), values))
    return samples


def late_arrivals(samples: list[Sample], max_delay_us: int, seed: int) -> list[Sample]:
    """Samples in the order they arrive when each is delayed by up to `max_delay_us`."""
    rng = np.random.default_rng(seed)
    arrival = np.array([s.time_us for s in samples]) + rng.uniform(0, max_delay_us, len(samples))
    return [samples[i] for i in np.argsort(arrival, kind="stable")]


def stream(
    arrivals: list[Sample],
    params: EcologyParams,
    climatology: Climatology | None = None,
    *,
    seed: int = 0,
    max_chunk: int = 200,
    restart_every: int = 7,
    replay: bool = True,
) -> tuple[dict[tuple[str, int], float | None], list[Indicator], EcologyState]:
    """Feed arrivals in random chunks, keep a changelog of the pieces each update exports (through
    JSON), restart from that changelog now and then, replay some chunks; return the last value
    emitted per key, every record, and the final state."""
    rng = np.random.default_rng(seed)
    state = EcologyState("st", params, climatology)
    changelog: dict[str, object] = {}
    last: dict[tuple[str, int], float | None] = {}
    records: list[Indicator] = []
    k, updates = 0, 0
    while k < len(arrivals):
        chunk = arrivals[k : k + int(rng.integers(1, max_chunk + 1))]
        k += len(chunk)
        updates += 1
        for batch in (chunk, chunk) if replay and updates % 5 == 0 else (chunk,):
            for record in state.update(batch):
                last[(record.indicator, record.time_us)] = record.value
                records.append(record)
        apply_pieces(changelog, state.export())
        if updates % restart_every == 0:
            state = EcologyState.from_pieces(changelog, params, climatology)
    return last, records, state


def final_values(last: dict[tuple[str, int], float | None]) -> dict[tuple[str, int], float]:
    """Last emitted values with retracted keys removed (what an upserting consumer holds)."""
    return {key: value for key, value in last.items() if value is not None}
