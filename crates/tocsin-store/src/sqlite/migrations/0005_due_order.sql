-- Due escalations are taken in the order they fell due, ties broken by incident; with the tie-breaker in the index,
-- a batch reads only its own rows even when thousands fall due at the same instant. (Deliveries need no change
-- here: an index on a rowid table already ends with the rowid, their `seq`.)
DROP INDEX escalations_due;
CREATE INDEX escalations_due ON escalations (next_at, incident_id) WHERE next_at IS NOT NULL;
