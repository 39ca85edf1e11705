-- Roles replace token scopes: every person holds a role, a token holds one or acts with its person's
-- (role NULL); a policy may belong to a team, whose members may then change it.
ALTER TABLE users ADD COLUMN role TEXT NOT NULL DEFAULT 'responder';
ALTER TABLE api_tokens ADD COLUMN role TEXT;
UPDATE api_tokens SET role = CASE scope WHEN 'read' THEN 'observer' WHEN 'write' THEN 'admin' WHEN 'admin' THEN 'owner'
    ELSE 'observer' END;
-- A token acting as a person holds at most the person's role: people keep what their live tokens could do.
UPDATE users SET role = 'owner'
    WHERE id IN (SELECT user_id FROM api_tokens WHERE role = 'owner' AND revoked_at IS NULL);
UPDATE users SET role = 'admin' WHERE role = 'responder'
    AND id IN (SELECT user_id FROM api_tokens WHERE role = 'admin' AND revoked_at IS NULL);
ALTER TABLE api_tokens DROP COLUMN scope;
ALTER TABLE escalation_policies ADD COLUMN team_id TEXT REFERENCES teams (id) ON DELETE SET NULL;

-- Every change any principal made, and every sign-in attempt: who, when, what, from where.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         INTEGER NOT NULL,
    actor_kind TEXT NOT NULL,
    actor_id   TEXT,
    actor_name TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    summary    TEXT NOT NULL,
    address    TEXT
);
CREATE INDEX audit_log_at ON audit_log (at);
