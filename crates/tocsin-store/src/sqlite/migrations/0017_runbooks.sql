-- Runbooks: each one's current version, and every version kept (the newest 100), so a change can be read back.
CREATE TABLE runbooks (
    key        TEXT PRIMARY KEY,
    version    INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE runbook_versions (
    key        TEXT NOT NULL REFERENCES runbooks (key) ON DELETE CASCADE,
    version    INTEGER NOT NULL,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    services   TEXT NOT NULL,
    matchers   TEXT NOT NULL,
    written_at INTEGER NOT NULL,
    written_by TEXT NOT NULL,
    PRIMARY KEY (key, version)
);
