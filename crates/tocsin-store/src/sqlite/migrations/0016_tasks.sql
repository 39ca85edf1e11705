-- Each incident's checklist: tasks from templates and added by hand, numbered from 1 within the incident.
CREATE TABLE incident_tasks (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    number      INTEGER NOT NULL,
    title       TEXT NOT NULL,
    assignee    TEXT,
    due_at      INTEGER,
    done_at     INTEGER,
    done_by     TEXT,
    created_at  INTEGER NOT NULL,
    created_by  TEXT NOT NULL,
    template    TEXT,
    PRIMARY KEY (incident_id, number)
);

-- The templates applied to each incident, so that each applies once (a severity change adds only the new ones).
CREATE TABLE incident_task_templates (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    template    TEXT NOT NULL,
    applied_at  INTEGER NOT NULL,
    PRIMARY KEY (incident_id, template)
);
