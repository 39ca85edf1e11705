-- Where an open incident's response stands (investigating, identified, monitoring), and the times of its course
-- as people recorded or corrected them (JSON, read only by Rust; what is missing comes from the incident's own
-- times).
ALTER TABLE incidents ADD COLUMN stage TEXT NOT NULL DEFAULT 'investigating';
ALTER TABLE incidents ADD COLUMN milestones TEXT NOT NULL DEFAULT '{}';
