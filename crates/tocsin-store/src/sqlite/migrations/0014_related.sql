-- The numbers of incidents linked to this one as related, kept on both sides (JSON, read only by Rust).
ALTER TABLE incidents ADD COLUMN related TEXT NOT NULL DEFAULT '[]';
