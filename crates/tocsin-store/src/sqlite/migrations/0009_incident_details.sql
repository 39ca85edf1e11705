-- What customers notice, and the links responders keep with an incident (JSON, read only by Rust).
ALTER TABLE incidents ADD COLUMN customer_impact TEXT NOT NULL DEFAULT '';
ALTER TABLE incidents ADD COLUMN links TEXT NOT NULL DEFAULT '[]';
