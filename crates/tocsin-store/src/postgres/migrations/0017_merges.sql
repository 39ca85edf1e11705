-- An incident merged into another points at it by number; the survivor finds the incidents merged into it.
ALTER TABLE incidents ADD COLUMN merged_into BIGINT;
CREATE INDEX incidents_merged_into ON incidents (merged_into) WHERE merged_into IS NOT NULL;
