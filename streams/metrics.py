"""Prometheus metrics of the stream worker.

Label sets are bounded: station kind, station id (the registry's size), variable ids from the
vocabulary, QC flags, rule ids and severities. Nothing is labelled per reading or per message.
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

from schemas.contract import REASONS
from schemas.registry import Registry

QC_FLAG_VALUES = (1, 2, 3, 4, 9)
AGENTS = ("qc", "indicators", "alerts")  # the agents whose work is isolated per station

STORED = Counter("tidewatch_readings_stored_total", "Readings newly stored (duplicates excluded)", ["kind"])
DUPLICATES = Counter(
    "tidewatch_readings_duplicate_total", "Readings already stored (redelivered or repeated)", ["kind"]
)
STATE_SPLIT = Counter(
    "tidewatch_state_split_total",
    "State pieces larger than one changelog record, written in parts (see streams/state.py)",
    ["table"],
)
ALERT_INPUTS_REPLAYED = Counter(
    "tidewatch_alert_inputs_replayed_total",
    "Alert-inputs records seen again after a restart or rebalance and skipped (already in the engine state)",
)
ALERT_RESULTS_REPEATED = Counter(
    "tidewatch_alert_results_repeated_total",
    "QC results or indicators sent again by a worker that died between sending and storing, skipped by "
    "the alert engine",
    ["source"],
)
STATION_FAILURES = Counter(
    "tidewatch_station_failures_total",
    "A station's part of a batch that an agent failed on (kept as a processing_failed dead letter)",
    ["agent"],
)
STATE_BYTES = Counter(
    "tidewatch_state_bytes_written_total", "Encoded state written to the changelog tables", ["table"]
)
DEAD_LETTERS_STORED = Counter("tidewatch_dead_letters_stored_total", "Dead letters stored", ["reason"])
BATCH_READINGS = Histogram(
    "tidewatch_store_batch_readings",
    "Readings per database write",
    buckets=(10, 50, 100, 500, 1000, 5000, 10000, 50000),
)
STORE_SECONDS = Histogram(
    "tidewatch_store_seconds",
    "Time to commit one batch of readings",
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
INGEST_TO_STORE_SECONDS = Histogram(
    "tidewatch_ingest_to_store_seconds",
    "From ingest receiving a message to its readings being committed",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60),
)
CONSUMER_LAG = Gauge(
    "tidewatch_consumer_lag_records", "Kafka records not yet consumed", ["topic", "partition"]
)
STATION_LAST_SEEN = Gauge(
    "tidewatch_station_last_seen_timestamp_seconds",
    "Sample time of the newest stored reading",
    ["station", "kind"],
)
LATEST_VALUE = Gauge(
    "tidewatch_latest_value", "Newest stored value of key variables", ["station", "kind", "variable"]
)
QC_FLAGS = Counter(
    "tidewatch_qc_flags_total", "QC flags assigned (final flags)", ["kind", "variable", "flag"]
)
INDICATORS = Counter("tidewatch_indicators_total", "Indicator values emitted", ["indicator"])
ALERT_EVENTS = Counter("tidewatch_alert_events_total", "Alert transitions", ["rule", "kind", "severity"])
OPEN_ALERTS = Gauge("tidewatch_open_alerts", "Alerts currently firing", ["rule", "severity"])

STATION_INFO = Gauge(
    "tidewatch_station_info",
    "Registry facts of each station (value 1), for maps",
    ["station", "kind", "name", "latitude", "longitude"],
)
LATEST_INDICATOR = Gauge(
    "tidewatch_latest_indicator", "Newest value of key indicators per station", ["station", "indicator"]
)

# Indicators worth a gauge per station (surge panel, warning-level timeline).
# surge_provisional_m: surge from a tide model below the quality bar (shown, never warned on).
KEY_INDICATORS = frozenset(
    {"surge_m", "surge_provisional_m", "surge_max_cycle_m", "water_level_warning", "wave_warning"}
)

# Variables whose newest value is worth a gauge per station (Grafana's station table and map).
KEY_VARIABLES = frozenset(
    {
        "water_level_m",
        "water_temperature_degC",
        "dissolved_oxygen_mg_l",
        "wave_height_m",
        "chlorophyll_ug_l",
        "salinity_psu",
        "battery_voltage_v",
    }
)


def initialise(registry: Registry) -> None:
    """Create the bounded series at 0 (or their value), so rate() sees the first increment."""
    kinds = sorted({s.kind for s in registry.stations.values()})
    for kind in [*kinds, "unknown"]:
        STORED.labels(kind)
        DUPLICATES.labels(kind)
    for reason in REASONS:
        DEAD_LETTERS_STORED.labels(reason)
    for agent in AGENTS:
        STATION_FAILURES.labels(agent)
    for source in ("qc", "indicators"):
        ALERT_RESULTS_REPEATED.labels(source)
    for station in registry.stations.values():
        STATION_INFO.labels(
            station.id, station.kind, station.name, f"{station.latitude:.4f}", f"{station.longitude:.4f}"
        ).set(1)
        for variable in station.variables:
            for flag in QC_FLAG_VALUES:
                QC_FLAGS.labels(station.kind, variable, str(flag))
