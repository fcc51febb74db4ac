-- TimescaleDB only: indicator and alert-event time series as hypertables.
SELECT create_hypertable('indicators', by_range('time', INTERVAL '30 days'),
                         if_not_exists => true, migrate_data => true);

-- Hourly rollup per QC flag, so a query can choose which flags count and still combine buckets
-- exactly (mean = sum(value_sum) / sum(n)). Filled by its refresh policy, not inside this migration.
CREATE MATERIALIZED VIEW IF NOT EXISTS observations_hourly
WITH (timescaledb.continuous, timescaledb.materialized_only = false) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket,
       station_id,
       variable,
       qc_flag,
       count(value) AS n,
       sum(value) AS value_sum,
       min(value) AS value_min,
       max(value) AS value_max
FROM observations
GROUP BY bucket, station_id, variable, qc_flag
WITH NO DATA;
SELECT add_continuous_aggregate_policy('observations_hourly',
    start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 hour',
    schedule_interval => INTERVAL '30 minutes', if_not_exists => true);
