-- Console access: operator roles, server-side sessions (so signing out revokes a cookie) and the
-- audit log of every console write (see services/console/access.py).
ALTER TABLE operators ADD COLUMN IF NOT EXISTS role text NOT NULL DEFAULT 'operator'
    CHECK (role IN ('viewer', 'operator', 'admin'));

CREATE TABLE IF NOT EXISTS console_sessions (
    id              text PRIMARY KEY,
    username        text NOT NULL REFERENCES operators (username) ON DELETE CASCADE,
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz NOT NULL,
    revoked_at      timestamptz,
    client_address  text
);
CREATE INDEX IF NOT EXISTS console_sessions_expiry ON console_sessions (expires_at);

CREATE TABLE IF NOT EXISTS audit_log (
    id              bigserial PRIMARY KEY,
    time            timestamptz NOT NULL DEFAULT now(),
    actor           text NOT NULL,
    action          text NOT NULL,
    target          text,
    detail          jsonb NOT NULL DEFAULT '{}'::jsonb,
    client_address  text
);
CREATE INDEX IF NOT EXISTS audit_log_time ON audit_log (time DESC);
