-- Public incidents on status pages: what customers are told of an incident, with the components it affects now
-- (JSON), and each update posted, with the component changes it made (JSON).
CREATE TABLE public_incidents (
    id            TEXT PRIMARY KEY,
    page_id       TEXT NOT NULL REFERENCES status_pages (id) ON DELETE CASCADE,
    incident_id   TEXT REFERENCES incidents (id) ON DELETE SET NULL,
    name          TEXT NOT NULL,
    status        TEXT NOT NULL,
    impact        TEXT NOT NULL,
    -- The impact given when it was published; when null, the impact follows the components it affects.
    impact_given  TEXT,
    components    TEXT NOT NULL,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    monitoring_at INTEGER,
    resolved_at   INTEGER
);
CREATE INDEX public_incidents_page ON public_incidents (page_id, created_at, id);

CREATE TABLE public_incident_updates (
    id                 TEXT PRIMARY KEY,
    public_incident_id TEXT NOT NULL REFERENCES public_incidents (id) ON DELETE CASCADE,
    status             TEXT NOT NULL,
    body               TEXT NOT NULL,
    changes            TEXT NOT NULL,
    created_at         INTEGER NOT NULL
);
CREATE INDEX public_incident_updates_incident ON public_incident_updates (public_incident_id, created_at, id);
