-- Who held which role in each incident, and when: a row per holding, closed when they stop holding it. Names are
-- kept as they were, so history reads the same after a role is renamed or a person deleted.
CREATE TABLE incident_roles (
    id          TEXT PRIMARY KEY,
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    role        TEXT NOT NULL,
    role_name   TEXT NOT NULL,
    user_id     TEXT NOT NULL,
    user_name   TEXT NOT NULL,
    assigned_at INTEGER NOT NULL,
    assigned_by TEXT NOT NULL,
    released_at INTEGER,
    released_by TEXT
);
CREATE INDEX incident_roles_incident ON incident_roles (incident_id, assigned_at);

-- People who joined an incident's response by themselves or were added, and when they left. Those paged for it
-- are found among its deliveries; a row here records that they left.
CREATE TABLE incident_responders (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    user_id     TEXT NOT NULL,
    joined      TEXT NOT NULL,
    since       INTEGER NOT NULL,
    left_at     INTEGER,
    PRIMARY KEY (incident_id, user_id)
);

-- Incidents whose roles are to be filled from the roles' defaults (it opened, or its severity changed): a timer
-- the engine takes, since filling a role pages whoever takes it.
CREATE TABLE role_fills (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    due_at      INTEGER NOT NULL
);
CREATE INDEX role_fills_due ON role_fills (due_at, incident_id);
