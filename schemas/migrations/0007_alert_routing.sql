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
