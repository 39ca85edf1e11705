-- Slack: which Slack users are which people (linked by a one-time code or by email), the codes on offer, and the
-- signatures of requests already acted on, so a replay within Slack's five-minute window is refused.
CREATE TABLE slack_accounts (
    team_id       TEXT NOT NULL,
    slack_user_id TEXT NOT NULL,
    user_id       TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- 'code' or 'email'.
    linked_by     TEXT NOT NULL,
    linked_at     BIGINT NOT NULL,
    -- Set when the person unlinked it: the Slack user then acts as nobody, and is not linked again by email
    -- until someone links it by code.
    unlinked_at   BIGINT,
    PRIMARY KEY (team_id, slack_user_id)
);
CREATE INDEX slack_accounts_user ON slack_accounts (user_id);

CREATE TABLE slack_link_codes (
    code_hash  TEXT PRIMARY KEY,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    expires_at BIGINT NOT NULL
);
CREATE INDEX slack_link_codes_user ON slack_link_codes (user_id);

CREATE TABLE slack_requests (
    signature   TEXT PRIMARY KEY,
    received_at BIGINT NOT NULL
);
CREATE INDEX slack_requests_received ON slack_requests (received_at);
