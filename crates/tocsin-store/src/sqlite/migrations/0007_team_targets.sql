-- Escalation policies can page a team (its members, or whoever is on call in the schedules it owns), so schedules
-- name their team and policy targets can name a team.
ALTER TABLE schedules ADD COLUMN team_id TEXT REFERENCES teams (id);
ALTER TABLE policy_targets ADD COLUMN team_id TEXT REFERENCES teams (id);
CREATE INDEX schedules_team ON schedules (team_id) WHERE team_id IS NOT NULL;
CREATE INDEX policy_targets_team ON policy_targets (team_id) WHERE team_id IS NOT NULL;
