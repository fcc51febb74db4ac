-- History: imports of historical files and reprocessing of stored readings (tidewatch import /
-- tidewatch reprocess). Each run is recorded with what it was asked, the configuration digest and code
-- version it judged with, its progress checkpoint (a killed reprocess resumes there) and its counts.
CREATE TABLE IF NOT EXISTS history_runs (
    run_id          bigserial PRIMARY KEY,
    kind            text NOT NULL,                 -- import | reprocess
    request         jsonb NOT NULL,                -- files, or stations/variables/range/what
    request_key     text NOT NULL,                 -- digest of request + config digest: finds a run to resume
    config_digest   text NOT NULL,                 -- sha256 of the QC configuration of the stations judged
    code_version    text NOT NULL,                 -- package version and digest of the QC code
    state           text NOT NULL DEFAULT 'running',  -- running | done | failed
    checkpoint_us   bigint,                        -- reprocess: every reading before this time is done
    counts          jsonb NOT NULL DEFAULT '{}',
    started_at      timestamptz NOT NULL DEFAULT now(),
    updated_at      timestamptz NOT NULL DEFAULT now(),
    finished_at     timestamptz
);
CREATE INDEX IF NOT EXISTS history_runs_key_idx ON history_runs (request_key, state);

-- Old and new QC outcome of every stored reading a run changed (a reprocess, or an import landing
-- beside stored readings): what changed, from what, by which run.
CREATE TABLE IF NOT EXISTS qc_revisions (
    run_id       bigint NOT NULL REFERENCES history_runs (run_id) ON DELETE CASCADE,
    station_id   text NOT NULL,
    variable     text NOT NULL,
    time         timestamptz NOT NULL,
    old_flag     smallint NOT NULL,
    new_flag     smallint NOT NULL,
    old_tests    jsonb,
    new_tests    jsonb,
    PRIMARY KEY (run_id, station_id, variable, time)
);
