-- When an alert posted to the Alertmanager API resolves unless posted again (its endsAt): a timer the engine acts
-- on, kept with the alert's activity since every post moves it.
ALTER TABLE alert_activity ADD COLUMN ends_at BIGINT;
CREATE INDEX alert_activity_ends ON alert_activity (ends_at) WHERE ends_at IS NOT NULL;
