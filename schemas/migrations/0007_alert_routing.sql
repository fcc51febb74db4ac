-- Alert routing (alerts/routing.yaml): incidents grouped across stations and their notices.
-- A group's members are the latest event of each member alert (services/notify/groups.py keeps
-- them, one transaction per group under its row lock); each notice is kept so a crashed notifier's
-- pending claim (notifications: alert_id = group id, seq = revision) can be sent again.
-- A member event a group absorbed is claimed in notifications with status 'grouped'.
CREATE TABLE IF NOT EXISTS alert_groups (
    group_id      text PRIMARY KEY,
    spec          text NOT NULL,
    window_start  timestamptz NOT NULL,
    state         text NOT NULL DEFAULT 'open',   -- open | resolved
    severity      text NOT NULL DEFAULT 'none',
    members       jsonb NOT NULL DEFAULT '{}'::jsonb,
    revision      integer NOT NULL DEFAULT -1,
    opened_at     timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS alert_groups_updated_idx ON alert_groups (updated_at DESC);

CREATE TABLE IF NOT EXISTS alert_group_notices (
    group_id     text NOT NULL REFERENCES alert_groups (group_id) ON DELETE CASCADE,
    revision     integer NOT NULL,
    notice       jsonb NOT NULL,
    recorded_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (group_id, revision)
);

-- Recurring silences of one station (quiet hours, maintenance windows), created in the console.
-- Each occurrence becomes an ordinary silence '{id}@{start µs}' on the alert-inputs log when it
-- begins (services/console/schedules.py); removing a schedule stops its future occurrences.
CREATE TABLE IF NOT EXISTS silence_schedules (
    id            text PRIMARY KEY,
    station_id    text NOT NULL,
    rule          text,
    start_minute  integer NOT NULL CHECK (start_minute BETWEEN 0 AND 1439),
    duration_min  integer NOT NULL CHECK (duration_min BETWEEN 1 AND 10080),
    weekdays      integer[] NOT NULL,
    timezone      text NOT NULL,
    created_by    text NOT NULL,
    comment       text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL DEFAULT now(),
    removed_at    timestamptz
);
