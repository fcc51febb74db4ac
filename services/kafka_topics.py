"""Create tidewatch's Kafka topics with the partition count the station → partition mapping uses.

Ingest and the stream workers both call this at start, so whichever starts first creates the topics
and neither depends on broker auto-creation (off in production Kafka).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, KafkaError, TopicAlreadyExistsError

from schemas.records import ALL_TOPICS
from services.backoff import Backoff

log = logging.getLogger(__name__)


def tidewatch_topics(partitions: int) -> dict[str, int]:
    """Every topic with the same partition count: all of them are partitioned by station."""
    return dict.fromkeys(ALL_TOPICS, partitions)


async def ensure_topics(bootstrap: str, topics: dict[str, int], *, timeout_s: float = 60.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout_s
    backoff = Backoff(0.2, 5.0)
    while True:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
        try:
            await admin.start()
            existing = set(await admin.list_topics())
            missing = [NewTopic(name, n, 1) for name, n in topics.items() if name not in existing]
            if missing:
                with contextlib.suppress(TopicAlreadyExistsError):
                    await admin.create_topics(missing)
                log.info("created Kafka topics %s", [t.name for t in missing])
            return
        except (KafkaConnectionError, KafkaError, OSError) as exc:
            if asyncio.get_running_loop().time() > deadline:
                raise
            log.warning("Kafka unreachable at %s (%s); retrying in %.1f s", bootstrap, exc, backoff.next_s)
            await backoff.sleep()
        finally:
            await admin.close()
