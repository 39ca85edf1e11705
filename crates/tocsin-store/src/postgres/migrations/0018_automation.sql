-- Runbook automation: the steps a runbook version carries, whether the current version has steps that run on
-- their own, the secrets steps' requests use (sealed), each run of a step for an incident, and incidents to look
-- at for automatic steps (a timer: one opened, or gained an alert).
ALTER TABLE runbook_versions ADD COLUMN steps TEXT NOT NULL DEFAULT '[]';
ALTER TABLE runbooks ADD COLUMN automatic INTEGER NOT NULL DEFAULT 0;

CREATE TABLE automation_secrets (
    name       TEXT PRIMARY KEY,
    value      TEXT NOT NULL,
    updated_at BIGINT NOT NULL,
    updated_by TEXT NOT NULL
);

CREATE TABLE automation_runs (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    runbook         TEXT NOT NULL,
    runbook_version BIGINT NOT NULL,
    step_key        TEXT NOT NULL,
    step            TEXT NOT NULL,
    status          TEXT NOT NULL,
    -- 1 while awaiting approval, queued or running: a step has at most one such run per incident.
    active          INTEGER NOT NULL,
    requested_at    BIGINT NOT NULL,
    requested_by    TEXT NOT NULL,
    approved_at     BIGINT,
    approved_by     TEXT,
    started_at      BIGINT,
    finished_at     BIGINT,
    outcome         TEXT,
    output          TEXT,
    idempotency_key TEXT NOT NULL,
    retry_of        TEXT,
    -- Queued: when to start it. Running: when its claim lapses.
    due_at          BIGINT,
    claimed_by      TEXT
);
CREATE UNIQUE INDEX automation_runs_one_active ON automation_runs (incident_id, runbook, step_key) WHERE active = 1;
CREATE INDEX automation_runs_due ON automation_runs (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX automation_runs_of_incident ON automation_runs (incident_id, runbook, step_key);

CREATE TABLE automation_checks (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    due_at      BIGINT NOT NULL
);
CREATE INDEX automation_checks_due ON automation_checks (due_at, incident_id);
