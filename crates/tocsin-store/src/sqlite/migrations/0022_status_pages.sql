-- Status pages: each page, its components (groups among them) and the services each component stands for.
CREATE TABLE status_pages (
    id           TEXT PRIMARY KEY,
    slug         TEXT NOT NULL UNIQUE,
    name         TEXT NOT NULL,
    time_zone    TEXT NOT NULL,
    severity_map TEXT NOT NULL,
    -- 'public' or 'private'.
    visibility   TEXT NOT NULL DEFAULT 'public',
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL
);

CREATE TABLE status_components (
    id                    TEXT PRIMARY KEY,
    page_id               TEXT NOT NULL REFERENCES status_pages (id) ON DELETE CASCADE,
    name                  TEXT NOT NULL,
    description           TEXT,
    group_id              TEXT REFERENCES status_components (id) ON DELETE SET NULL,
    is_group              INTEGER NOT NULL,
    position              INTEGER NOT NULL,
    -- How its status is set: automatic, or by hand (JSON).
    status_setting        TEXT NOT NULL,
    only_show_if_degraded INTEGER NOT NULL,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX status_components_page ON status_components (page_id, position, id);

CREATE TABLE status_component_services (
    component_id TEXT NOT NULL REFERENCES status_components (id) ON DELETE CASCADE,
    service_id   TEXT NOT NULL REFERENCES services (id) ON DELETE CASCADE,
    page_id      TEXT NOT NULL REFERENCES status_pages (id) ON DELETE CASCADE,
    PRIMARY KEY (component_id, service_id)
);
CREATE INDEX status_component_services_page ON status_component_services (page_id, service_id);
