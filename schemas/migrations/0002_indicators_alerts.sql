-- Indicators, tide models and the alert record. Times are timestamptz (UTC); units are named.

-- Indicator time series: one row per station, indicator and time, upserted as late data corrects it.
CREATE TABLE IF NOT EXISTS indicators (
    time         timestamptz NOT NULL,
    station_id   text NOT NULL,
    indicator    text NOT NULL,
    value        double precision,
    unit         text NOT NULL,
    computed_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, indicator, time)
);

-- What every indicator id means: definition, unit, inputs, parameters and method.
CREATE TABLE IF NOT EXISTS indicator_catalogue (
    id          text PRIMARY KEY,
    unit        text NOT NULL,
    definition  text NOT NULL,
    inputs      text NOT NULL,
    parameters  text NOT NULL,
    method      text NOT NULL
);

-- Harmonic tide models fitted per station (utide), kept for audit and to survive restarts.
CREATE TABLE IF NOT EXISTS tide_models (
    station_id      text NOT NULL,
    effective_from  timestamptz NOT NULL,
    record_start    timestamptz NOT NULL,
    record_end      timestamptz NOT NULL,
    n_readings      integer NOT NULL,
    constituents    text[] NOT NULL,
    model           jsonb NOT NULL,
    fitted_at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (station_id, effective_from)
);

-- Every alert transition, in order per alert: (alert_id, seq) makes replays idempotent.
CREATE TABLE IF NOT EXISTS alert_events (
    alert_id     text NOT NULL,
    seq          integer NOT NULL,
    station_id   text NOT NULL,
    rule         text NOT NULL,
    kind         text NOT NULL,
    severity     text NOT NULL,
    time         timestamptz NOT NULL,
    value        double precision,
    message_en   text NOT NULL,
    message_zh   text NOT NULL,
    channels     text[] NOT NULL DEFAULT '{}',
    actor        text,
    comment      text,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, seq)
);
CREATE INDEX IF NOT EXISTS alert_events_time_idx ON alert_events (time DESC);

-- The current state of each alert (a projection of alert_events, kept by the stream worker).
CREATE TABLE IF NOT EXISTS alerts (
    alert_id         text PRIMARY KEY,
    station_id       text NOT NULL,
    rule             text NOT NULL,
    state            text NOT NULL,          -- pending | firing | resolved
    severity         text NOT NULL,
    opened_at        timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    resolved_at      timestamptz,
    value            double precision,
    message_en       text NOT NULL,
    message_zh       text NOT NULL,
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    ack_comment      text,
    silenced_until   timestamptz,
    last_seq         integer NOT NULL
);
CREATE INDEX IF NOT EXISTS alerts_open_idx ON alerts (state, severity) WHERE state <> 'resolved';

-- Silences by station and/or rule, with an end time.
CREATE TABLE IF NOT EXISTS silences (
    id          text PRIMARY KEY,
    station_id  text,
    rule        text,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  text NOT NULL,
    comment     text NOT NULL DEFAULT '',
    removed_at  timestamptz,
    CHECK (ends_at > starts_at)
);

-- Notification deliveries per alert event and channel; failures end as 'dead' after retries.
CREATE TABLE IF NOT EXISTS notifications (
    alert_id    text NOT NULL,
    seq         integer NOT NULL,
    channel     text NOT NULL,
    status      text NOT NULL,               -- pending | sent | dead
    attempts    integer NOT NULL DEFAULT 0,
    last_error  text,
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (alert_id, seq, channel)
);

-- Operators who may acknowledge and silence (password hashes only; see services/console).
CREATE TABLE IF NOT EXISTS operators (
    username       text PRIMARY KEY,
    display_name   text NOT NULL,
    password_hash  text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now()
);
