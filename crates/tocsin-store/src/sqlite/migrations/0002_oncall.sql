-- On-call schedules, escalation, contact methods and the notification outbox.
-- Every timer is a row with a due time (escalations.next_at, deliveries.due_at, heartbeats.due_at,
-- schedule_timers.next_at); the engine finds due work by index and nothing waits in memory.

CREATE TABLE schedules (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    description     TEXT NOT NULL,
    time_zone       TEXT NOT NULL,
    -- The layers as JSON (oncall::Layer list); overrides live in their own table.
    layers          TEXT NOT NULL,
    reminder_minutes INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL
);

CREATE TABLE schedule_overrides (
    id          TEXT PRIMARY KEY,
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    starts_at   INTEGER NOT NULL,
    ends_at     INTEGER NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX schedule_overrides_schedule ON schedule_overrides (schedule_id, ends_at);

-- Who each layer names, so that deleting a user who still takes part is refused with the schedules named.
CREATE TABLE schedule_participants (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL REFERENCES users (id),
    PRIMARY KEY (schedule_id, user_id)
);

-- When a schedule next needs the engine: the earliest shift reminder to send.
CREATE TABLE schedule_timers (
    schedule_id TEXT PRIMARY KEY REFERENCES schedules (id) ON DELETE CASCADE,
    next_at     INTEGER NOT NULL
);
CREATE INDEX schedule_timers_due ON schedule_timers (next_at);

-- One row per reminder sent, so a reminder goes out once however often the engine looks.
CREATE TABLE shift_reminders (
    schedule_id TEXT NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    shift_start INTEGER NOT NULL,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (schedule_id, user_id, shift_start)
);

-- Secret calendar feed URLs, per schedule or per user; the token is stored hashed.
CREATE TABLE calendar_feeds (
    id           TEXT PRIMARY KEY,
    schedule_id  TEXT REFERENCES schedules (id) ON DELETE CASCADE,
    user_id      TEXT REFERENCES users (id) ON DELETE CASCADE,
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    revoked_at   INTEGER,
    CHECK ((schedule_id IS NULL) != (user_id IS NULL))
);

CREATE TABLE escalation_policies (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    repeat      INTEGER NOT NULL,
    levels      TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

-- What each policy's levels name, so deletes of users and schedules still in use are refused.
CREATE TABLE policy_targets (
    policy_id   TEXT NOT NULL REFERENCES escalation_policies (id) ON DELETE CASCADE,
    user_id     TEXT REFERENCES users (id),
    schedule_id TEXT REFERENCES schedules (id)
);
CREATE INDEX policy_targets_policy ON policy_targets (policy_id);
CREATE INDEX policy_targets_user ON policy_targets (user_id);
CREATE INDEX policy_targets_schedule ON policy_targets (schedule_id);

CREATE TABLE service_policies (
    service_id TEXT PRIMARY KEY REFERENCES services (id),
    policy_id  TEXT NOT NULL REFERENCES escalation_policies (id)
);
CREATE INDEX service_policies_policy ON service_policies (policy_id);

-- One row per incident paged through a policy; next_at is the escalation timer (NULL once stopped).
CREATE TABLE escalations (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id),
    -- NULL once the incident was handed to people directly rather than to a policy.
    policy_id   TEXT REFERENCES escalation_policies (id),
    level       INTEGER NOT NULL,
    last_paged  INTEGER,
    round       INTEGER NOT NULL,
    next_at     INTEGER,
    -- JSON list of the user IDs the incident is currently assigned to.
    assignees   TEXT NOT NULL DEFAULT '[]',
    updated_at  INTEGER NOT NULL
);
CREATE INDEX escalations_due ON escalations (next_at) WHERE next_at IS NOT NULL;
CREATE INDEX escalations_policy ON escalations (policy_id);

CREATE TABLE contact_methods (
    id         TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name       TEXT NOT NULL,
    -- JSON ContactTarget (a webhook's signing secret included: it must be readable to sign).
    target     TEXT NOT NULL,
    enabled    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX contact_methods_user ON contact_methods (user_id);

CREATE TABLE notification_rules (
    id                TEXT PRIMARY KEY,
    user_id           TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    contact_method_id TEXT NOT NULL REFERENCES contact_methods (id) ON DELETE CASCADE,
    urgency           TEXT NOT NULL,
    delay_minutes     INTEGER NOT NULL
);
CREATE INDEX notification_rules_user ON notification_rules (user_id);

-- The outbox. A delivery is written in the same transaction as the change that causes it, and is sent when
-- due_at passes. status: pending → sending (claimed; due_at is then the claim's expiry) → delivered | failed,
-- or cancelled (the incident was acknowledged or resolved first). The ID is the idempotency key receivers see.
CREATE TABLE deliveries (
    seq               INTEGER PRIMARY KEY,
    id                TEXT NOT NULL UNIQUE,
    user_id           TEXT NOT NULL,
    contact_method_id TEXT NOT NULL,
    incident_id       TEXT,
    -- Groups the notifications of one page to one user, so a failed method can fall through to the next.
    page_id           TEXT,
    purpose           TEXT NOT NULL,
    status            TEXT NOT NULL,
    due_at            INTEGER NOT NULL,
    attempts          INTEGER NOT NULL DEFAULT 0,
    claimed_by        TEXT,
    last_error        TEXT,
    created_at        INTEGER NOT NULL,
    updated_at        INTEGER NOT NULL
);
CREATE INDEX deliveries_due ON deliveries (due_at) WHERE status IN ('pending', 'sending');
CREATE INDEX deliveries_incident ON deliveries (incident_id, seq) WHERE incident_id IS NOT NULL;
CREATE INDEX deliveries_page ON deliveries (page_id) WHERE page_id IS NOT NULL;
CREATE INDEX deliveries_user ON deliveries (user_id, seq);

CREATE TABLE delivery_attempts (
    delivery_id TEXT NOT NULL,
    attempt     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    outcome     TEXT NOT NULL,
    detail      TEXT NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
);

-- Heartbeat integrations: a missed beat (interval + grace) opens an alert; due_at is the timer.
CREATE TABLE heartbeats (
    integration_id TEXT PRIMARY KEY REFERENCES integrations (id),
    interval_secs  INTEGER NOT NULL,
    grace_secs     INTEGER NOT NULL,
    last_beat_at   INTEGER,
    due_at         INTEGER,
    down           INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX heartbeats_due ON heartbeats (due_at) WHERE due_at IS NOT NULL;

-- One row per engine role; a process runs the engine only while it holds the lease.
CREATE TABLE engine_leases (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);

-- Server-wide secrets generated on first start (e.g. the key that signs action links).
CREATE TABLE settings (
    name  TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
