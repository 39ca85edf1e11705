-- Due work is taken in the order it fell due, ties broken by a key; with the tie-breaker in the index, a batch
-- reads only its own rows even when thousands fall due at the same instant, instead of sorting all of them.
DROP INDEX escalations_due;
CREATE INDEX escalations_due ON escalations (next_at, incident_id) WHERE next_at IS NOT NULL;
DROP INDEX deliveries_due;
CREATE INDEX deliveries_due ON deliveries (due_at, seq) WHERE status IN ('pending', 'sending');
