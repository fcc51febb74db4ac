"""The baseline a user writes first: one MQTT subscriber, one INSERT per reading, autocommit.

No validation, no Kafka, no QC, no batching: aiomqtt delivers each message, ``json.loads`` decodes
it and every variable becomes its own ``INSERT`` (asyncpg outside a transaction commits each one).
Run as its own process by the sustained benchmark, beside the pipeline on the same broker, database
and load, so the pipeline's figures can be given as ratios against it:

    python -m benchmarks.naive DATABASE_URL MQTT_URL NETWORK
"""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime

import aiomqtt
import asyncpg

from services.mqtt_auth import aiomqtt_options, parse_mqtt_url

TABLE_DDL = """
CREATE TABLE IF NOT EXISTS naive_observations (
    time        timestamptz NOT NULL,
    station_id  text NOT NULL,
    variable    text NOT NULL,
    value       double precision,
    stored_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, variable, time)
)
"""
INSERT = "INSERT INTO naive_observations (time, station_id, variable, value) VALUES ($1, $2, $3, $4)"


async def run(database_url: str, mqtt_url: str, network: str) -> None:
    conn = await asyncpg.connect(database_url)
    await conn.execute(TABLE_DDL)
    async with aiomqtt.Client(
        **aiomqtt_options(parse_mqtt_url(mqtt_url)), identifier=f"naive-{network}"
    ) as client:
        await client.subscribe(f"tidewatch/v1/{network}/+/readings", qos=1)
        print("naive subscriber ready", flush=True)
        async for message in client.messages:
            reading = json.loads(message.payload)
            time = datetime.fromisoformat(reading["time"])
            for variable, value in reading["values"].items():
                await conn.execute(INSERT, time, reading["station"], variable, value)


if __name__ == "__main__":
    asyncio.run(run(*sys.argv[1:4]))
