"""Measure the simulator alone: generation cost and the publisher's sustained rate to a real broker.

    python -m services.simulate.bench [--stations 200] [--messages 50000] [--host 127.0.0.1 --port 1883]

CPU is this process's user+system time (paho's network thread included), so "µs CPU a message" is
what the simulator costs the machine per publish; Mosquitto's own CPU is not in it. Messages go to
`tidewatch/v1/bench<random>/…` with no subscriber, unpaced (--rate 0) and replaying far faster
than real time, so the figure is the publisher's ceiling, not a recommended rate.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import time
import uuid

from services.simulate.model import US, Simulation
from services.simulate.publisher import chunk_us, run_simulator
from services.simulate.scenario import default_scenario
from services.simulate.synthetic import synthetic_registry


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bench_generation(stations: int, messages: int, seed: int) -> dict[str, float]:
    registry = synthetic_registry(stations, seed, network="bench")
    start_us = 1_790_000_000 * US
    sim = Simulation(registry, default_scenario(), seed, start_us)
    wall, cpu = time.perf_counter(), _cpu_s()
    count = readings = 0
    cursor = start_us
    step_us = chunk_us(sim.messages_per_sim_s(), len(sim.runs))
    while count < messages:
        for message in sim.messages_between(cursor, cursor + step_us):
            count += 1
            readings += message.readings
        cursor += step_us
    wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    return {
        "messages": count,
        "msg_per_s": count / wall,
        "cpu_us_per_msg": cpu / count * 1e6,
        "readings_per_msg": readings / count,
    }


async def bench_publish(stations: int, messages: int, seed: int, host: str, port: int) -> dict[str, float]:
    registry = synthetic_registry(stations, seed, network=f"bench{uuid.uuid4().hex[:6]}")
    start_us = int(time.time() - 365 * 86_400) * US
    wall, cpu = time.perf_counter(), _cpu_s()
    stats = await run_simulator(
        registry,
        host,
        port,
        speedup=1e7,
        rate=None,
        start_us=start_us,
        duration_s=None,
        seed=seed,
        faults=True,
        max_messages=messages,
    )
    wall, cpu = time.perf_counter() - wall, _cpu_s() - cpu
    return {
        "messages": stats.messages,
        "msg_per_s": stats.messages / wall,
        "readings_per_s": stats.readings / wall,
        "cpu_us_per_msg": cpu / stats.messages * 1e6,
        "bytes_per_msg": stats.bytes / stats.messages,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stations", type=int, default=200)
    parser.add_argument("--messages", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=1883)
    args = parser.parse_args()
    result = {
        "stations": args.stations,
        "generation": bench_generation(args.stations, args.messages, args.seed),
        "publish": asyncio.run(bench_publish(args.stations, args.messages, args.seed, args.host, args.port)),
    }
    print(
        json.dumps(
            {
                k: {m: round(v, 1) for m, v in r.items()} if isinstance(r, dict) else r
                for k, r in result.items()
            }
        )
    )


if __name__ == "__main__":
    main()
