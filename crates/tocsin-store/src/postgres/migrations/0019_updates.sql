-- Stakeholder updates: each update posted on an incident, who subscribed to hear of them (people, or channels
-- whose target is sealed), the sends to channels (an outbox), and the next update each incident owes (a timer).
CREATE TABLE status_updates (
    incident_id TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    number      BIGINT NOT NULL,
    status      TEXT NOT NULL,
    severity    BIGINT NOT NULL,
    message     TEXT NOT NULL,
    report      TEXT,
    audiences   TEXT NOT NULL,
    posted_at   BIGINT NOT NULL,
    posted_by   TEXT NOT NULL,
    -- The names of the people it went to.
    people      TEXT NOT NULL,
    PRIMARY KEY (incident_id, number)
);

CREATE TABLE update_subscriptions (
    id           TEXT PRIMARY KEY,
    -- 'service' or 'incident', and its ID.
    scope_kind   TEXT NOT NULL,
    scope_id     TEXT NOT NULL,
    user_id      TEXT,
    channel_name TEXT,
    target       TEXT,
    created_at   BIGINT NOT NULL,
    created_by   TEXT NOT NULL
);
CREATE UNIQUE INDEX update_subscriptions_person ON update_subscriptions (scope_kind, scope_id, user_id);
CREATE INDEX update_subscriptions_scope ON update_subscriptions (scope_kind, scope_id, id);
CREATE INDEX update_subscriptions_user ON update_subscriptions (user_id);

CREATE TABLE update_sends (
    id              TEXT PRIMARY KEY,
    incident_id     TEXT NOT NULL REFERENCES incidents (id) ON DELETE CASCADE,
    number          BIGINT NOT NULL,
    subscription_id TEXT NOT NULL,
    channel_name    TEXT NOT NULL,
    target          TEXT NOT NULL,
    status          TEXT NOT NULL,
    attempts        BIGINT NOT NULL DEFAULT 0,
    -- Pending: when to try. Sending: when the claim lapses.
    due_at          BIGINT,
    claimed_by      TEXT,
    detail          TEXT,
    created_at      BIGINT NOT NULL,
    updated_at      BIGINT NOT NULL
);
CREATE INDEX update_sends_due ON update_sends (due_at) WHERE due_at IS NOT NULL;
CREATE INDEX update_sends_of_update ON update_sends (incident_id, number);

CREATE TABLE update_dues (
    incident_id TEXT PRIMARY KEY REFERENCES incidents (id) ON DELETE CASCADE,
    due_at      BIGINT NOT NULL,
    because     TEXT NOT NULL,
    reminders   BIGINT NOT NULL
);
CREATE INDEX update_dues_due ON update_dues (due_at, incident_id);
