-- Every status each component has had, from when it began until it ended (null: it holds now), so that uptime
-- history is exact and survives restarts; at most one open span per component.
CREATE TABLE status_component_history (
    id           TEXT PRIMARY KEY,
    page_id      TEXT NOT NULL REFERENCES status_pages (id) ON DELETE CASCADE,
    component_id TEXT NOT NULL REFERENCES status_components (id) ON DELETE CASCADE,
    status       TEXT NOT NULL,
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT
);
CREATE INDEX status_component_history_page ON status_component_history (page_id, started_at);
CREATE UNIQUE INDEX status_component_history_open ON status_component_history (component_id)
    WHERE ended_at IS NULL;

-- Counts every change to what the public sees of a page, so that each instance knows when its copy is old.
ALTER TABLE status_pages ADD COLUMN version BIGINT NOT NULL DEFAULT 0;
