-- Who asked to be told when someone else acknowledges or resolves an incident they were paged for.
CREATE TABLE status_subscriptions (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    acknowledged BIGINT NOT NULL,
    resolved     BIGINT NOT NULL
);
