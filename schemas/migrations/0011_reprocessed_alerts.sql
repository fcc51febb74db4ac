-- Alerts of the past judged again (`tidewatch reprocess --what alerts`): per run and alert, the events the
-- rules made live (old) and make now over the stored inputs (new), and the outcome: unchanged, changed,
-- new (raised only now) or gone (raised only then); an alert now and one then stand for each other
-- when their events overlap in time. History only: nothing here is notified, and the live
-- `alerts` and `alert_events` are left as they were.
CREATE TABLE IF NOT EXISTS reprocessed_alerts (
    run_id      bigint NOT NULL REFERENCES history_runs (run_id),
    alert_id    text NOT NULL,        -- the alert as the rules raise it now (the live one's when gone)
    old_alert_id text,                -- the live alert it stands for (NULL: new), same station and rule
    station_id  text NOT NULL,
    rule        text NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('unchanged', 'changed', 'new', 'gone')),
    old_peak    text,                 -- highest severity fired (NULL: never fired)
    new_peak    text,
    old_events  jsonb NOT NULL,       -- [[kind, severity, time µs], ...] of the judged events in the range
    new_events  jsonb NOT NULL,
    PRIMARY KEY (run_id, alert_id)
);
CREATE INDEX IF NOT EXISTS reprocessed_alerts_station_idx ON reprocessed_alerts (station_id, run_id);
