-- The latest stored state of each sender group (Alertmanager's groupKey and the like), as the digest of everything
-- the group said. A process may answer a re-send of exactly that state without writing, whichever process stored
-- it; a person resolving an incident, or a change to what triage reads, deletes every row, so the next re-send of
-- any group is evaluated again.
CREATE TABLE sender_groups (
    integration_id TEXT NOT NULL,
    group_key      TEXT NOT NULL,
    state          TEXT NOT NULL,
    PRIMARY KEY (integration_id, group_key)
);
