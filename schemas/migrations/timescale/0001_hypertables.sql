-- TimescaleDB only: hypertables, compression and retention. Applied after the core migrations
-- when the timescaledb extension is available (tidewatch db migrate says which mode it ran in).

SELECT create_hypertable('observations', by_range('time', INTERVAL '7 days'),
                         if_not_exists => true, migrate_data => true);
SELECT create_hypertable('dead_letters', by_range('received_at', INTERVAL '7 days'),
                         if_not_exists => true, migrate_data => true);

-- Compress observation chunks older than 30 days, segmented the way scientists query them.
ALTER TABLE observations SET (
    timescaledb.compress,
    timescaledb.compress_segmentby = 'station_id, variable',
    timescaledb.compress_orderby = 'time DESC'
);
SELECT add_compression_policy('observations', INTERVAL '30 days', if_not_exists => true);

-- Observations are the record (sea-level trends need decades): no retention on them.
-- Dead letters are for diagnosis: keep a year.
SELECT add_retention_policy('dead_letters', INTERVAL '365 days', if_not_exists => true);
