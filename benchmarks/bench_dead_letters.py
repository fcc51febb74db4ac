"""Dead letters of one message with many refused samples: one letter per message vs one per refusal.

Run: .venv/bin/python benchmarks/bench_dead_letters.py [--samples 2000]
The message is a tide gauge's backlog of out-of-range water levels (~135 KiB for 2,000 samples). The
baseline is the former shape, rebuilt here: one DeadLetter per refusal, each carrying the payload.
Reported: letters, Kafka record bytes, payload bytes the database stores, peak allocation (tracemalloc).
"""

from __future__ import annotations

import argparse
import json
import tracemalloc
from collections.abc import Callable

from schemas.contract import Validator, Verdict, readings_topic
from schemas.records import DEAD_LETTER_TOPIC, DeadLetter, encode
from schemas.registry import load_registry
from services.ingest.batcher import Batcher

NOW_US = 1_795_000_000 * 1_000_000
MIB = 2**20


def _message(samples: int) -> bytes:
    backlog = [
        {
            "time": f"2026-11-{1 + i // 1440:02d}T{(i // 60) % 24:02d}:{i % 60:02d}:00Z",
            "values": {"water_level_m": 99.0},
        }
        for i in range(samples)
    ]
    return json.dumps({"station": "dalian", "backlog": backlog}).encode()


def _per_refusal(topic: str, payload: bytes, verdict: Verdict) -> list[bytes]:
    return [
        encode(DeadLetter(NOW_US, topic, r.reason, r.detail, payload, verdict.station))
        for r in verdict.refusals
    ]


def _per_message(topic: str, payload: bytes, verdict: Verdict) -> list[bytes]:
    batcher = Batcher(4)
    batcher.add(1, topic, payload, NOW_US, verdict)
    return [r.value for r in batcher.take().records if r.topic == DEAD_LETTER_TOPIC]


def _measure(
    name: str,
    build: Callable[[str, bytes, Verdict], list[bytes]],
    topic: str,
    payload: bytes,
    verdict: Verdict,
) -> None:
    tracemalloc.start()
    records = build(topic, payload, verdict)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    print(
        f"{name:>12}: {len(records):5d} letters, Kafka {sum(map(len, records)) / MIB:7.1f} MiB, "
        f"payload stored {len(records) * len(payload) / MIB:7.1f} MiB, peak {peak / MIB:7.1f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=2000)
    args = parser.parse_args()
    topic = readings_topic("liaoning", "dalian")
    payload = _message(args.samples)
    verdict = Validator(load_registry()).validate(topic, payload, NOW_US)
    print(f"message {len(payload) / 1024:.1f} KiB, {len(verdict.refusals)} refusals")
    _measure("per refusal", _per_refusal, topic, payload, verdict)
    _measure("per message", _per_message, topic, payload, verdict)


if __name__ == "__main__":
    main()
