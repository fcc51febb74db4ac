-- Core tables: run on any PostgreSQL >= 13 and on TimescaleDB (hypertables come in timescale/).
-- Times are timestamptz (stored UTC); units live in the variables table and in variable ids.

CREATE TABLE IF NOT EXISTS variables (
    id            text PRIMARY KEY,
    description   text NOT NULL,
    unit          text NOT NULL,
    cf_name       text NOT NULL,
    physical_min  double precision NOT NULL,
    physical_max  double precision NOT NULL
);

CREATE TABLE IF NOT EXISTS stations (
    id                   text PRIMARY KEY,
    name                 text NOT NULL,
    name_zh              text NOT NULL DEFAULT '',
    kind                 text NOT NULL,
    network              text NOT NULL,
    area                 text NOT NULL DEFAULT '',
    latitude             double precision NOT NULL,
    longitude            double precision NOT NULL,
    datum_name           text NOT NULL,
    msl_above_datum_m    double precision NOT NULL,
    sampling_interval_s  double precision NOT NULL,
    variables            text[] NOT NULL,
    thresholds           jsonb NOT NULL DEFAULT '{}',
    updated_at           timestamptz NOT NULL DEFAULT now()
);

-- One row per station, variable and sample time: the key makes every write idempotent.
-- qc_flag follows QARTOD: 1 good, 2 not evaluated, 3 suspect, 4 fail, 9 missing.
CREATE TABLE IF NOT EXISTS observations (
    time         timestamptz NOT NULL,
    station_id   text NOT NULL,
    variable     text NOT NULL,
    value        double precision,
    qc_flag      smallint NOT NULL DEFAULT 2,
    qc_tests     jsonb,
    received_at  timestamptz NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, variable, time)
);
CREATE INDEX IF NOT EXISTS observations_time_idx ON observations (time DESC);

-- Refused messages (or refused parts of one) with the untouched payload and the reason code.
-- fingerprint = sha256 of (received_at, source, reason, detail, payload): a redelivered dead letter
-- is stored once.
CREATE TABLE IF NOT EXISTS dead_letters (
    received_at  timestamptz NOT NULL,
    fingerprint  bytea NOT NULL,
    source       text NOT NULL,
    station_id   text,
    reason       text NOT NULL,
    detail       text NOT NULL,
    payload      bytea NOT NULL,
    stored_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (received_at, fingerprint)
);
CREATE INDEX IF NOT EXISTS dead_letters_reason_idx ON dead_letters (reason, received_at DESC);
