-- Early warnings: when the input behind an alert event reached the alert engine, and whether that
-- was later than the station's lateness allowance (a slow uplink, a backlog, a late indicator).
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS received timestamptz;
ALTER TABLE alert_events ADD COLUMN IF NOT EXISTS late boolean NOT NULL DEFAULT false;
-- The notifier's sweep of stored events nobody has claimed (the transactional outbox) reads recent
-- routed events by the time they were stored.
CREATE INDEX IF NOT EXISTS alert_events_recorded_idx ON alert_events (recorded_at)
    WHERE channels <> '{}';
