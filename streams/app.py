"""The faust application every stream agent registers on.

Configured from the same ``TIDEWATCH_*`` environment as the other services. Topics are declared
with the partition count ingest uses for its station → partition mapping, so per-station state in
tables stays co-partitioned with the readings that update it.
"""

from __future__ import annotations

from pathlib import Path

import faust

from schemas.records import DEAD_LETTER_TOPIC, READINGS_TOPIC
from services.config import Settings, load_settings


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        settings.worker_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="memory://",
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=1,
        value_serializer="raw",
        key_serializer="raw",
        # A crashed member is noticed in ~10 s instead of faust's 60 s default (first join ~6 s).
        broker_session_timeout=10,
        broker_heartbeat_interval=1,
        consumer_auto_offset_reset="earliest",
        web_enabled=False,
        # faust keeps a per-app folder; keep it out of the working tree.
        datadir=str(Path(settings.data_dir) / "faust" / settings.worker_id),
    )
    app.tidewatch_settings = settings  # type: ignore[attr-defined]
    return app


settings = load_settings()
app = create_app(settings)
readings_topic = app.topic(
    READINGS_TOPIC, value_type=bytes, value_serializer="raw", partitions=settings.topic_partitions
)
dead_letter_topic = app.topic(
    DEAD_LETTER_TOPIC, value_type=bytes, value_serializer="raw", partitions=settings.topic_partitions
)
