-- Manual QC: an operator's judgement of a range of a series (good 1, suspect 3, bad 4), with who, when
-- and why. It overrides the automatic aggregate flag of the stored readings in the range (missing
-- readings stay 9; the per-test flags stay as QC gave them), and import and reprocess keep it; of
-- overlapping judgements the newest wins.
CREATE TABLE IF NOT EXISTS manual_flags (
    flag_id     bigserial PRIMARY KEY,
    station_id  text NOT NULL,
    variable    text,                         -- NULL: every variable of the station
    time_from   timestamptz NOT NULL,
    time_to     timestamptz NOT NULL,         -- exclusive
    flag        smallint NOT NULL CHECK (flag IN (1, 3, 4)),
    reason      text NOT NULL CHECK (length(btrim(reason)) > 0),
    operator    text NOT NULL REFERENCES operators (username),
    run_id      bigint REFERENCES history_runs (run_id),  -- the run that applied it (qc_revisions)
    created_at  timestamptz NOT NULL DEFAULT now(),
    CHECK (time_to > time_from)
);
CREATE INDEX IF NOT EXISTS manual_flags_station_idx ON manual_flags (station_id, time_from);
