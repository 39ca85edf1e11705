-- Incident numbers come from a sequence: a counter row that every new incident updates makes concurrent
-- SERIALIZABLE transactions abort each other. The sequence continues from the counter.
CREATE SEQUENCE incident_number;
SELECT setval('incident_number', value + 1, false) FROM counters WHERE name = 'incident_number';
