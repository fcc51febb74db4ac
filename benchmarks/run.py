"""Run the benchmarks and write ``benchmarks/results/latest.md`` (``make bench``).

Options via environment: BENCH_RATE (messages/s published, default 3000 = 24,000 readings/s),
BENCH_MESSAGES (messages per end-to-end run, default 45000), BENCH_STATIONS (default "10,100,1000").
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from pathlib import Path

from benchmarks.pipeline import baseline_copy, baseline_mqtt_receive, end_to_end, report
from services.config import load_settings
from services.db.prepare import prepare_database
from services.stack.launcher import start_stack
from streams.indicators.catalogue import INDICATORS

RESULTS = Path(__file__).resolve().parent / "results"


async def main() -> None:
    rate = float(os.environ.get("BENCH_RATE", "3000"))
    n_messages = int(os.environ.get("BENCH_MESSAGES", "45000"))
    station_counts = [int(n) for n in os.environ.get("BENCH_STATIONS", "10,100,1000").split(",")]
    base = load_settings()
    settings = base.with_(
        database_url=base.database_url.rsplit("/", 1)[0] + "/tidewatch_bench", kafka_offset_reset="latest"
    )
    work = Path(tempfile.mkdtemp(prefix="tidewatch-bench-"))
    stack = await start_stack(settings, work, fresh_kafka=True, private_mqtt=True)
    try:
        await prepare_database(stack.settings, INDICATORS)
        mqtt = await baseline_mqtt_receive(
            stack.settings, f"m{uuid.uuid4().hex[:6]}", 100, n_messages, rate * 3
        )
        copy = await baseline_copy(stack.settings, 100, n_messages)
        results = [await end_to_end(stack.settings, work, n, n_messages, rate) for n in station_counts]
        # What the QC stage costs: storage with and without QC, nothing downstream, same load.
        largest = station_counts[-1]
        for qc in (True, False):
            results.append(
                await end_to_end(stack.settings, work, largest, n_messages, rate, qc=qc, downstream=False)
            )
    finally:
        stack.stop()
    text = report(results, mqtt, copy)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "latest.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    asyncio.run(main())
