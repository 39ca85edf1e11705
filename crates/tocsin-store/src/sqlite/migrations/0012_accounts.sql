-- People sign in: a password (an Argon2id hash), sessions kept by the hash of their ID so that every instance
-- sees them and the table yields none, and the single-use links that set a password (first owner, invitation,
-- reset), kept by the hash of their token.
ALTER TABLE users ADD COLUMN password_hash TEXT;

CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    token_hash   TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    address      TEXT,
    user_agent   TEXT NOT NULL,
    revoked_at   INTEGER
);
CREATE INDEX sessions_user ON sessions (user_id);

CREATE TABLE account_links (
    token_hash TEXT PRIMARY KEY,
    purpose    TEXT NOT NULL,
    user_id    TEXT REFERENCES users (id) ON DELETE CASCADE,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);
