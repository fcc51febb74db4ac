-- Daily observation summary for the annual report: per station, variable, UTC day and QC flag the
-- readings, the values, the first and last reading time and the largest value; per station and UTC day
-- the first and last reading of any variable and the gaps between readings longer than an hour inside
-- the day. The report reads these instead of scanning a year of observations.
--
-- Kept exact by markers, not by the writers: triggers on observations note each (station, variable,
-- day) a statement inserted, updated or deleted (late readings, QC corrections, manual flags,
-- reprocessing), and `tidewatch report` (or `tidewatch report --refresh`) recomputes the marked days
-- from observations before it reads (services/report/summary.py). The write path pays one small
-- insert per statement and day touched. The same triggers run on TimescaleDB hypertables (statement
-- transition tables on INSERT/UPDATE; a row trigger on DELETE, as compression refuses DELETE
-- transition tables), so there is no TimescaleDB variant: a continuous aggregate cannot hold the gaps
-- (window functions) and is exact only after its own refresh, which would be a second mechanism.
--
-- Locking: a marking statement holds advisory lock 74658 shared until its transaction ends; the refresh
-- claims the markers (claimed = true) under the exclusive lock, taken only when no writer holds it
-- (pg_try_advisory_xact_lock: writers never queue behind it), so every claimed marker's readings are
-- committed before the claimed days are recomputed, and a marker written meanwhile stays unclaimed.

CREATE TABLE IF NOT EXISTS observation_days (
    station_id  text NOT NULL,
    variable    text NOT NULL,
    day         date NOT NULL,                  -- UTC
    qc_flag     smallint NOT NULL,
    readings    bigint NOT NULL,                -- rows, missing values included
    n_values    bigint NOT NULL,                -- rows with a value
    first_time  timestamptz NOT NULL,
    last_time   timestamptz NOT NULL,
    value_max   double precision,
    PRIMARY KEY (station_id, day, variable, qc_flag)
);

CREATE TABLE IF NOT EXISTS observation_station_days (
    station_id  text NOT NULL,
    day         date NOT NULL,                  -- UTC
    first_time  timestamptz NOT NULL,           -- of any variable
    last_time   timestamptz NOT NULL,
    gap_from    timestamptz[] NOT NULL,         -- gaps > 1 h between readings inside the day
    gap_to      timestamptz[] NOT NULL,
    PRIMARY KEY (station_id, day)
);

CREATE TABLE IF NOT EXISTS observation_days_dirty (
    station_id  text NOT NULL,
    variable    text NOT NULL,
    day         date NOT NULL,
    claimed     boolean NOT NULL DEFAULT false,  -- taken by a refresh that has not finished
    PRIMARY KEY (station_id, variable, day, claimed)
);

CREATE OR REPLACE FUNCTION observation_days_mark() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(74658);
    INSERT INTO observation_days_dirty (station_id, variable, day)
    SELECT DISTINCT station_id, variable, (time AT TIME ZONE 'UTC')::date FROM changed_rows
    ORDER BY 1, 2, 3  -- one lock order for every writer
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION observation_days_mark_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared(74658);
    INSERT INTO observation_days_dirty (station_id, variable, day)
    VALUES (OLD.station_id, OLD.variable, (OLD.time AT TIME ZONE 'UTC')::date)
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END $$;

CREATE OR REPLACE FUNCTION observation_days_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    TRUNCATE observation_days, observation_station_days, observation_days_dirty;
    RETURN NULL;
END $$;

DROP TRIGGER IF EXISTS observation_days_inserted ON observations;
CREATE TRIGGER observation_days_inserted AFTER INSERT ON observations
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION observation_days_mark();
DROP TRIGGER IF EXISTS observation_days_updated ON observations;
CREATE TRIGGER observation_days_updated AFTER UPDATE ON observations
    REFERENCING NEW TABLE AS changed_rows FOR EACH STATEMENT EXECUTE FUNCTION observation_days_mark();
DROP TRIGGER IF EXISTS observation_days_deleted ON observations;
CREATE TRIGGER observation_days_deleted AFTER DELETE ON observations
    FOR EACH ROW EXECUTE FUNCTION observation_days_mark_row();
DROP TRIGGER IF EXISTS observation_days_truncate ON observations;
CREATE TRIGGER observation_days_truncate AFTER TRUNCATE ON observations
    FOR EACH STATEMENT EXECUTE FUNCTION observation_days_truncated();

-- Readings stored before this migration: every day of them is marked (one scan, once).
INSERT INTO observation_days_dirty (station_id, variable, day)
SELECT DISTINCT station_id, variable, (time AT TIME ZONE 'UTC')::date FROM observations
ON CONFLICT DO NOTHING;
