-- An incident that paged nobody says so until someone has it.
ALTER TABLE incidents ADD COLUMN unassigned_since BIGINT;
