"""Prometheus metrics of the ingest process (label sets bounded: reason codes are a fixed list)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge

from schemas.contract import REASONS

MESSAGES = Counter("tidewatch_ingest_messages_total", "MQTT messages received by ingest")
READINGS = Counter("tidewatch_ingest_readings_total", "Readings accepted and forwarded to Kafka", ["kind"])
REFUSED = Counter(
    "tidewatch_ingest_refused_total", "Refusals sent to the dead-letter topic", ["reason", "kind"]
)
ACKED = Counter("tidewatch_ingest_acked_messages_total", "MQTT messages acknowledged after Kafka had them")
KAFKA_RETRIES = Counter("tidewatch_ingest_kafka_retries_total", "Kafka produce retries")
MQTT_RECONNECTS = Counter("tidewatch_ingest_mqtt_reconnects_total", "MQTT reconnections")
IN_FLIGHT = Gauge("tidewatch_ingest_in_flight_messages", "Messages received but not yet acknowledged")


def initialise(kinds: list[str]) -> None:
    """Create every bounded series at 0, so the first refusal is a visible increase in rate()."""
    for kind in [*kinds, "unknown"]:
        READINGS.labels(kind)
        for reason in REASONS:
            REFUSED.labels(reason, kind)
