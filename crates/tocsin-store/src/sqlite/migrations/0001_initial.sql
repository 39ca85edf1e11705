-- Times are Unix microseconds (UTC). JSON columns hold serde_json text.

CREATE TABLE users (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    email      TEXT NOT NULL UNIQUE,
    time_zone  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE teams (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams (id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

-- Services are soft-deleted: incidents keep referring to them.
CREATE TABLE services (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    description  TEXT NOT NULL,
    team_id      TEXT REFERENCES teams (id) ON DELETE SET NULL,
    tier         INTEGER,
    runbook_url  TEXT,
    severity_map TEXT NOT NULL,
    grouping     TEXT NOT NULL DEFAULT '{"mode":"per_alert"}',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    deleted_at   INTEGER
);
CREATE UNIQUE INDEX services_live_name ON services (name) WHERE deleted_at IS NULL;

CREATE TABLE service_dependencies (
    service_id    TEXT NOT NULL REFERENCES services (id),
    depends_on_id TEXT NOT NULL REFERENCES services (id),
    PRIMARY KEY (service_id, depends_on_id)
);

CREATE TABLE integrations (
    id         TEXT PRIMARY KEY,
    service_id TEXT NOT NULL REFERENCES services (id),
    kind       TEXT NOT NULL,
    name       TEXT NOT NULL,
    key_hash   TEXT NOT NULL UNIQUE,
    key_prefix TEXT NOT NULL,
    -- Kind-specific settings (field mapping, rate limit) as JSON.
    config     TEXT NOT NULL DEFAULT '{}',
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
CREATE INDEX integrations_service ON integrations (service_id);

CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    name         TEXT NOT NULL,
    token_hash   TEXT NOT NULL UNIQUE,
    token_prefix TEXT NOT NULL,
    scope        TEXT NOT NULL,
    user_id      TEXT REFERENCES users (id) ON DELETE SET NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE incidents (
    id              TEXT PRIMARY KEY,
    number          INTEGER NOT NULL UNIQUE,
    title           TEXT NOT NULL,
    description     TEXT NOT NULL,
    severity        INTEGER NOT NULL,
    status          TEXT NOT NULL,
    created_at      INTEGER NOT NULL,
    created_by      TEXT NOT NULL,
    updated_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    acknowledged_by TEXT,
    resolved_at     INTEGER,
    resolved_by     TEXT
);
CREATE INDEX incidents_status ON incidents (status, number);
CREATE INDEX incidents_created ON incidents (created_at);

CREATE TABLE incident_services (
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    service_id  TEXT NOT NULL REFERENCES services (id),
    PRIMARY KEY (incident_id, service_id)
);
CREATE INDEX incident_services_service ON incident_services (service_id, incident_id);

CREATE TABLE timeline (
    seq         INTEGER PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id),
    at          INTEGER NOT NULL,
    actor       TEXT NOT NULL,
    kind        TEXT NOT NULL,
    message     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX timeline_incident ON timeline (incident_id, seq);

CREATE TABLE alerts (
    seq             INTEGER PRIMARY KEY,
    id              TEXT NOT NULL UNIQUE,
    service_id      TEXT NOT NULL REFERENCES services (id),
    integration_id  TEXT NOT NULL REFERENCES integrations (id),
    dedup_key       TEXT NOT NULL,
    status          TEXT NOT NULL,
    severity        TEXT NOT NULL,
    summary         TEXT NOT NULL,
    source          TEXT NOT NULL,
    component       TEXT,
    grp             TEXT,
    class           TEXT,
    custom_details  TEXT NOT NULL,
    links           TEXT NOT NULL,
    images          TEXT NOT NULL,
    client          TEXT,
    client_url      TEXT,
    labels          TEXT NOT NULL,
    -- The value alerts are grouped on (the service's grouping key, else the sender's group), if any.
    group_value     TEXT,
    -- Why the alert opened or joined no incident, as JSON (suppressed, silenced, in maintenance...).
    no_page_reason  TEXT,
    incident_id     TEXT REFERENCES incidents (id),
    created_at      INTEGER NOT NULL,
    acknowledged_at INTEGER,
    resolved_at     INTEGER
);
-- At most one open alert per dedup key and service: the dedup invariant, enforced by the database.
CREATE UNIQUE INDEX alerts_open_key ON alerts (service_id, dedup_key) WHERE status <> 'resolved';
CREATE INDEX alerts_incident ON alerts (incident_id);
-- Finds the open alerts of a group, whose incident new alerts of the group join.
CREATE INDEX alerts_open_group ON alerts (service_id, group_value) WHERE status <> 'resolved' AND group_value IS NOT NULL;
CREATE INDEX alerts_dedup_key ON alerts (dedup_key);

-- What every event changes about its alert, apart from the alert row: narrow, so that a burst of repeat triggers
-- dirties a few pages instead of one wide alert row each.
CREATE TABLE alert_activity (
    alert_seq       INTEGER PRIMARY KEY REFERENCES alerts (seq),
    event_count     INTEGER NOT NULL,
    last_event_at   INTEGER NOT NULL,
    first_event_seq INTEGER NOT NULL,
    last_event_seq  INTEGER NOT NULL
);

-- Every accepted event, including the ones that changed nothing, appended in order. There is deliberately no index
-- by alert (its inserts would land on random pages): an alert's events lie between the first and last event seq
-- in its alert_activity row.
CREATE TABLE alert_events (
    seq            INTEGER PRIMARY KEY,
    integration_id TEXT NOT NULL,
    alert_seq      INTEGER,
    dedup_key      TEXT NOT NULL,
    action         TEXT NOT NULL,
    result         TEXT NOT NULL,
    received_at    INTEGER NOT NULL
);

CREATE TABLE change_events (
    seq            INTEGER PRIMARY KEY,
    id             TEXT NOT NULL UNIQUE,
    service_id     TEXT NOT NULL REFERENCES services (id),
    integration_id TEXT NOT NULL REFERENCES integrations (id),
    summary        TEXT NOT NULL,
    source         TEXT,
    timestamp      INTEGER,
    custom_details TEXT NOT NULL,
    links          TEXT NOT NULL,
    received_at    INTEGER NOT NULL
);
CREATE INDEX change_events_service ON change_events (service_id, seq);

-- The last requests each integration accepted, as a ring of slots overwritten in turn: bounded by construction.
CREATE TABLE raw_payloads (
    integration_id TEXT NOT NULL REFERENCES integrations (id),
    slot           INTEGER NOT NULL,
    received_at    INTEGER NOT NULL,
    body           TEXT NOT NULL,
    truncated      INTEGER NOT NULL,
    outcome        TEXT NOT NULL,
    PRIMARY KEY (integration_id, slot)
) WITHOUT ROWID;

-- Routing and suppression rules, run in position order on every trigger.
CREATE TABLE rules (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL,
    position   INTEGER NOT NULL,
    service    TEXT,
    matchers   TEXT NOT NULL,
    action     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);

CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX silences_ends ON silences (ends_at);

CREATE TABLE maintenance_windows (
    id          TEXT PRIMARY KEY,
    service_id  TEXT NOT NULL REFERENCES services (id),
    description TEXT NOT NULL,
    schedule    TEXT NOT NULL,
    created_at  INTEGER NOT NULL
);
CREATE INDEX maintenance_service ON maintenance_windows (service_id);

CREATE TABLE counters (
    name  TEXT PRIMARY KEY,
    value INTEGER NOT NULL
);
INSERT INTO counters (name, value) VALUES ('incident_number', 0);
