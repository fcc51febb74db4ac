"""What a Mosquitto kill -9 loses of acknowledged messages, and what autosave costs (issue 19 item 4).

An offline ingest session (the ingest's identity and subscription) queues N QoS 1 messages; the broker
is killed right after the last PUBACK, restarted, and the session drained. Per autosave setting:
messages lost and the broker's CPU time while the messages arrived.

    .venv/bin/python -m benchmarks.broker_durability [messages]
"""

from __future__ import annotations

import asyncio
import re
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil

from schemas.contract import readings_topic
from services.config import Settings
from services.stack.mqtt import prepare_private_broker, run_broker
from tests.support.mqtt_broker import drain, publish_acknowledged, subscribe_and_leave

SETTINGS = {
    "autosave_interval 30 (before)": ("autosave_on_changes false", "autosave_interval 30"),
    "autosave_interval 1 (shipped)": ("autosave_on_changes false", "autosave_interval 1"),
    "autosave_on_changes, every 1000": ("autosave_on_changes true", "autosave_interval 1000"),
}


async def one_round(label: str, lines: tuple[str, str], messages: int, work: Path) -> dict[str, object]:
    broker = prepare_private_broker(work / uuid.uuid4().hex[:6])
    text = re.sub(r"^autosave_.*\n", "", broker.config.read_text(), flags=re.M)
    broker.config.write_text(text + "\n".join(lines) + "\n")
    settings = Settings(mqtt_url=broker.url("ingest"))
    network = f"bd{uuid.uuid4().hex[:8]}"
    log = broker.config.parent / "mqtt.log"
    child = await run_broker(broker, log)
    await subscribe_and_leave(broker, settings, network)
    process = psutil.Process(child.process.pid)
    cpu0, wall0 = sum(process.cpu_times()[:2]), time.perf_counter()
    acked = publish_acknowledged(broker.url("gateway"), readings_topic(network, "s1"), messages)
    wall, cpu = time.perf_counter() - wall0, sum(process.cpu_times()[:2]) - cpu0
    child.kill()
    child = await run_broker(broker, log)
    try:
        kept = len(await drain(broker, settings))
    finally:
        child.stop()
    return {"setting": label, "acked": acked, "lost": acked - kept, "publish_s": wall, "broker_cpu_s": cpu}


async def main(messages: int) -> None:
    with tempfile.TemporaryDirectory() as work:
        print("| setting | acknowledged | lost at kill -9 | publish s | broker CPU s |")
        print("|---|---:|---:|---:|---:|")
        for label, lines in SETTINGS.items():
            r = await one_round(label, lines, messages, Path(work))
            cells = f"{r['acked']:,} | {r['lost']:,} | {r['publish_s']:.2f} | {r['broker_cpu_s']:.2f}"
            print(f"| {r['setting']} | {cells} |")


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000))
