-- Columns that let every backend run the same SQL: the order of an incident's services, a contact method's kind and
-- whether a page was sent after an acknowledgement, which were read from rowid and from JSON before; and the token
-- that tells every process's triage cache whether rules, silences or windows changed.

ALTER TABLE incident_services ADD COLUMN position INTEGER NOT NULL DEFAULT 0;
UPDATE incident_services SET position = rowid;

ALTER TABLE contact_methods ADD COLUMN kind TEXT NOT NULL DEFAULT '';
UPDATE contact_methods SET kind = coalesce(json_extract(target, '$.type'), '');


ALTER TABLE deliveries ADD COLUMN after_acknowledgement INTEGER NOT NULL DEFAULT 0;
UPDATE deliveries SET after_acknowledgement = coalesce(json_extract(purpose, '$.after_acknowledgement'), 0);

INSERT INTO counters (name, value) VALUES ('triage_version', 0);
