//! Escalation policies: who is paged for an incident, and who next if nobody acknowledges.
//!
//! A policy is an ordered list of levels. When an incident opens on a service with a policy, level 0 pages its
//! targets at once; each level's `delay_minutes` later, if the incident is still unacknowledged, the next level
//! pages; after the last level the whole policy runs again `repeat` more times. Acknowledging stops escalation,
//! resolving stops everything. The state of one incident's escalation is an [`Escalation`], stored as a row with
//! its due time; [`Escalation::fire`] is the one step the engine takes when it falls due.

use crate::error::ValidationErrors;
use crate::ids::{IncidentId, PolicyId, ScheduleId, TeamId, UserId};
use crate::incident::IncidentStatus;
use crate::oncall::{Schedule, on_call};
use crate::severity::Severity;
use crate::timeline::TargetGap;
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

/// Who one level's targets page at an instant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LevelTargets {
    /// Each person once, in the order of the targets, with the schedule that put them on call (none when named
    /// directly).
    pub users: Vec<(UserId, Option<ScheduleId>)>,
    /// Targets that page nobody.
    pub gaps: Vec<TargetGap>,
}

impl LevelTargets {
    pub fn user_ids(&self) -> Vec<UserId> {
        self.users.iter().map(|(u, _)| u.clone()).collect()
    }
}

/// A team as targets see it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TeamEntry {
    pub name: String,
    pub members: Vec<UserId>,
    /// The schedules the team owns: its on-call rotation.
    pub schedules: Vec<ScheduleId>,
}

/// What resolving targets looks up: the schedules and teams they name, with the schedules those teams own.
/// Whatever is missing was deleted since, and pages nobody.
#[derive(Debug, Clone, Default)]
pub struct Directory {
    pub schedules: HashMap<ScheduleId, (String, Schedule)>,
    pub teams: HashMap<TeamId, TeamEntry>,
}

impl Directory {
    /// The schedules `targets` page through, directly or as a team's: what a `Directory` for them must hold.
    pub fn schedules_needed<'a>(
        targets: impl IntoIterator<Item = &'a EscalationTarget>,
        teams: &HashMap<TeamId, TeamEntry>,
    ) -> Vec<ScheduleId> {
        let mut ids: Vec<ScheduleId> = targets
            .into_iter()
            .flat_map(|t| match t {
                EscalationTarget::Schedule(id) => vec![id.clone()],
                EscalationTarget::TeamOnCall(team) => teams
                    .get(team)
                    .map(|t| t.schedules.clone())
                    .unwrap_or_default(),
                EscalationTarget::User(_) | EscalationTarget::Team(_) => Vec::new(),
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }

    /// The teams `targets` name.
    pub fn teams_needed<'a>(
        targets: impl IntoIterator<Item = &'a EscalationTarget>,
    ) -> Vec<TeamId> {
        let mut ids: Vec<TeamId> = targets
            .into_iter()
            .filter_map(|t| match t {
                EscalationTarget::Team(id) | EscalationTarget::TeamOnCall(id) => Some(id.clone()),
                EscalationTarget::User(_) | EscalationTarget::Schedule(_) => None,
            })
            .collect();
        ids.sort();
        ids.dedup();
        ids
    }
}

/// Who `targets` mean at `at`: users as named, a team's members, schedules (and a team's schedules) by who is
/// on call then.
pub fn resolve_targets(
    targets: &[EscalationTarget],
    at: DateTime<Utc>,
    directory: &Directory,
) -> LevelTargets {
    let mut resolved = LevelTargets::default();
    let add =
        |users: &mut Vec<(UserId, Option<ScheduleId>)>, u: &UserId, via: Option<&ScheduleId>| {
            if !users.iter().any(|(x, _)| x == u) {
                users.push((u.clone(), via.cloned()));
            }
        };
    let on_call_in = |id: &ScheduleId| {
        directory
            .schedules
            .get(id)
            .map(|(name, s)| (name, on_call(s, at)))
    };
    for target in targets {
        match target {
            EscalationTarget::User(u) => add(&mut resolved.users, u, None),
            EscalationTarget::Schedule(id) => match on_call_in(id) {
                None => resolved.gaps.push(TargetGap::ScheduleGone {
                    schedule_id: id.clone(),
                }),
                Some((_, Some(u))) => add(&mut resolved.users, &u, Some(id)),
                Some((name, None)) => resolved.gaps.push(TargetGap::NobodyOnCall {
                    schedule: name.clone(),
                }),
            },
            EscalationTarget::Team(id) => match directory.teams.get(id) {
                None => resolved.gaps.push(TargetGap::TeamGone {
                    team_id: id.clone(),
                }),
                Some(team) if team.members.is_empty() => {
                    resolved.gaps.push(TargetGap::TeamHasNoMembers {
                        team: team.name.clone(),
                    })
                }
                Some(team) => {
                    for u in &team.members {
                        add(&mut resolved.users, u, None);
                    }
                }
            },
            EscalationTarget::TeamOnCall(id) => match directory.teams.get(id) {
                None => resolved.gaps.push(TargetGap::TeamGone {
                    team_id: id.clone(),
                }),
                Some(team) => {
                    let mut anyone = false;
                    for schedule in &team.schedules {
                        if let Some((_, Some(u))) = on_call_in(schedule) {
                            add(&mut resolved.users, &u, Some(schedule));
                            anyone = true;
                        }
                    }
                    if !anyone {
                        resolved.gaps.push(TargetGap::TeamNobodyOnCall {
                            team: team.name.clone(),
                        });
                    }
                }
            },
        }
    }
    resolved
}

/// Whether a page no longer serves its incident: it is resolved, or acknowledged and the page is not one sent by
/// hand after the acknowledgement. A moot page is neither retried nor replaced by another contact method, and
/// is not sent again after a crash.
pub fn page_is_moot(status: IncidentStatus, after_acknowledgement: bool) -> bool {
    match status {
        IncidentStatus::Resolved => true,
        IncidentStatus::Acknowledged => !after_acknowledgement,
        IncidentStatus::Triggered => false,
    }
}

/// Whether a change of severity pages the incident's current level again, at the new urgency: it went from low to
/// high urgency while nobody had acknowledged it, so what was sent so far was not urgent enough.
pub fn repages_on_severity(from: Severity, to: Severity, status: IncidentStatus) -> bool {
    !from.is_high_urgency() && to.is_high_urgency() && status == IncidentStatus::Triggered
}

/// Who a level pages: a user directly, whoever is on call in a schedule at that moment, every member of a team,
/// or whoever is on call in the schedules a team owns.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "type", content = "id", rename_all = "snake_case")]
pub enum EscalationTarget {
    User(UserId),
    Schedule(ScheduleId),
    Team(TeamId),
    TeamOnCall(TeamId),
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationLevel {
    /// Minutes to wait after paging this level before paging the next one, if nobody acknowledged.
    #[schema(minimum = 1, maximum = 1440)]
    pub delay_minutes: u32,
    #[schema(min_items = 1)]
    pub targets: Vec<EscalationTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EscalationPolicySpec {
    #[schema(min_length = 1, max_length = 100, pattern = "\\S")]
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// How many more times to run through all levels after the last one (0 = once through).
    #[serde(default)]
    #[schema(maximum = 10)]
    pub repeat: u32,
    #[schema(min_items = 1, max_items = 20)]
    pub levels: Vec<EscalationLevel>,
    /// The team whose policy this is (ID or name): its members may change it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub team: Option<crate::refs::TeamRef>,
}

impl EscalationPolicySpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.repeat > 10 {
            errors.push("repeat", "must be at most 10");
        }
        if self.levels.is_empty() {
            errors.push("levels", "needs at least one level");
        }
        if self.levels.len() > 20 {
            errors.push("levels", "must have at most 20 levels");
        }
        for (i, level) in self.levels.iter().enumerate() {
            if level.targets.is_empty() {
                errors.push(
                    format!("levels[{i}].targets"),
                    "needs at least one user, schedule or team",
                );
            }
            for (j, t) in level.targets.iter().enumerate() {
                if level.targets[..j].contains(t) {
                    errors.push(format!("levels[{i}].targets[{j}]"), "is listed twice");
                }
            }
            // A zero delay would page every level within one engine cycle, which is never what anyone means.
            if !(1..=24 * 60).contains(&level.delay_minutes) {
                errors.push(format!("levels[{i}].delay_minutes"), "must be 1 to 1440");
            }
        }
        errors.into_result(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct EscalationPolicy {
    pub id: PolicyId,
    pub name: String,
    pub description: String,
    pub repeat: u32,
    pub levels: Vec<EscalationLevel>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// The team whose policy this is.
    pub team_id: Option<crate::ids::TeamId>,
}

/// Where one incident's escalation stands.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Escalation {
    pub incident_id: IncidentId,
    /// `None` once the incident was handed to people directly instead of to a policy.
    pub policy_id: Option<PolicyId>,
    /// The level that pages next, or would have, had escalation not stopped; counted from 0 (people count levels
    /// from 1).
    #[serde(rename = "level_index")]
    pub level: u32,
    /// The level that paged last, if any has; counted from 0.
    #[serde(rename = "last_paged_index")]
    pub last_paged: Option<u32>,
    /// Which pass through the policy this is: 0 for the first, up to the policy's `repeat`.
    pub round: u32,
    /// When `level` pages; `None` once escalation has stopped or run out of levels.
    pub next_at: Option<DateTime<Utc>>,
}

/// What firing a due escalation does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fired {
    /// The level that pages now, and its targets.
    pub level: u32,
    pub round: u32,
    pub targets: Vec<EscalationTarget>,
    /// The escalation afterwards: the next level with its due time, or stopped when the policy ran out.
    pub after: Escalation,
}

/// What follows a level that paged and reached nobody.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Miss {
    /// The next level pages now, not after this level's delay: waiting would only delay the first page.
    NextLevelNow(Escalation),
    /// A whole pass of the policy, or all that was left of it, reached nobody. The escalation goes on as
    /// scheduled (the next pass after the last level's delay), since whoever was missing may be there by then.
    PassReachedNobody(Escalation),
}

impl Fired {
    /// What follows this level when it reached nobody; `missed_in_a_row` counts the levels that reached nobody
    /// one after the other, this one included, and `now` is when it paged.
    pub fn reached_nobody(self, missed_in_a_row: usize, levels: usize, now: DateTime<Utc>) -> Miss {
        if self.after.next_at.is_none() || missed_in_a_row >= levels {
            Miss::PassReachedNobody(self.after)
        } else {
            Miss::NextLevelNow(Escalation {
                next_at: Some(now),
                ..self.after
            })
        }
    }
}

/// Organisation-wide paging settings.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PagingSettings {
    /// The escalation policy that takes an incident nobody else would page: one whose service has no policy, one
    /// declared without a service, one whose policy's whole pass reached nobody.
    #[serde(default)]
    pub fallback_policy: Option<PolicyId>,
}

impl Escalation {
    /// A new incident's escalation: level 0 pages at `now`.
    pub fn start(incident_id: IncidentId, policy_id: PolicyId, now: DateTime<Utc>) -> Self {
        Self {
            incident_id,
            policy_id: Some(policy_id),
            level: 0,
            last_paged: None,
            round: 0,
            next_at: Some(now),
        }
    }

    /// Pages the due level and schedules the next. The next level is due its delay after this one was *due*,
    /// not after the engine got to it, so a late cycle never pushes the rest of the policy later.
    ///
    /// A policy edited to fewer levels since the escalation started continues from its last level.
    pub fn fire(&self, policy: &EscalationPolicy) -> Option<Fired> {
        let due = self.next_at?;
        let last = policy.levels.len().checked_sub(1)?;
        let index = (self.level as usize).min(last);
        let level = &policy.levels[index];
        let next_at = due + Duration::minutes(i64::from(level.delay_minutes));
        let after = if index < last {
            Some((index as u32 + 1, self.round))
        } else if self.round < policy.repeat {
            Some((0, self.round + 1))
        } else {
            None
        };
        Some(Fired {
            level: index as u32,
            round: self.round,
            targets: level.targets.clone(),
            after: match after {
                Some((level, round)) => Escalation {
                    level,
                    round,
                    last_paged: Some(index as u32),
                    next_at: Some(next_at),
                    ..self.clone()
                },
                None => Escalation {
                    level: index as u32,
                    last_paged: Some(index as u32),
                    next_at: None,
                    ..self.clone()
                },
            },
        })
    }

    /// Escalating by hand: the given level (default: the one after the last paged) pages at `now`, and the policy
    /// continues from there.
    pub fn escalate_to(
        &self,
        policy: &EscalationPolicy,
        level: Option<u32>,
        now: DateTime<Utc>,
    ) -> Result<Self, String> {
        let count = policy.levels.len() as u32;
        let target = match level {
            Some(l) if l >= count => {
                // Said as people count levels, from 1, as they asked for it.
                return Err(format!(
                    "the policy has levels 1 to {count}; there is no level {}",
                    l + 1
                ));
            }
            Some(l) => l,
            // The level after the last one that paged, whether escalation is waiting for it or has stopped; past
            // the last level, the last level again.
            None => self
                .last_paged
                .map_or(0, |l| l + 1)
                .min(count.saturating_sub(1)),
        };
        Ok(Self {
            level: target,
            next_at: Some(now),
            ..self.clone()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rotation_of(user: &UserId) -> Schedule {
        serde_json::from_value(serde_json::json!({
            "time_zone": "UTC",
            "layers": [{"name": "l", "participants": [user], "rotation": {"every": "days", "count": 1},
                "start": "2026-01-01T00:00:00"}],
        }))
        .unwrap()
    }

    #[test]
    fn targets_resolve_to_people_once_each_and_name_what_paged_nobody() {
        let (ann, ben) = (UserId::generate(), UserId::generate());
        let (day, gone, empty) = (
            ScheduleId::generate(),
            ScheduleId::generate(),
            ScheduleId::generate(),
        );
        let targets = [
            EscalationTarget::User(ann.clone()),
            EscalationTarget::Schedule(day.clone()),
            EscalationTarget::Schedule(gone.clone()),
            EscalationTarget::Schedule(empty.clone()),
            EscalationTarget::User(ben.clone()),
        ];
        let at: DateTime<Utc> = "2026-02-01T12:00:00Z".parse().unwrap();
        let mut nobody = rotation_of(&ben);
        nobody.layers[0].start = "2027-01-01T00:00:00".parse().unwrap();
        let directory = Directory {
            schedules: HashMap::from([
                (day.clone(), ("day".into(), rotation_of(&ann))),
                (empty.clone(), ("empty".into(), nobody)),
            ]),
            teams: HashMap::new(),
        };
        let resolved = resolve_targets(&targets, at, &directory);
        assert_eq!(resolved.users, vec![(ann, None), (ben, None)]);
        assert_eq!(
            resolved.gaps,
            vec![
                TargetGap::ScheduleGone { schedule_id: gone },
                TargetGap::NobodyOnCall {
                    schedule: "empty".into()
                }
            ]
        );
    }

    #[test]
    fn a_team_pages_its_members_or_whoever_is_on_call_in_its_schedules() {
        let (ann, ben, cat) = (UserId::generate(), UserId::generate(), UserId::generate());
        let (rota, idle) = (ScheduleId::generate(), ScheduleId::generate());
        let (payments, empty, gone) = (TeamId::generate(), TeamId::generate(), TeamId::generate());
        let mut later = rotation_of(&cat);
        later.layers[0].start = "2027-01-01T00:00:00".parse().unwrap();
        let directory = Directory {
            schedules: HashMap::from([
                (rota.clone(), ("rota".into(), rotation_of(&ben))),
                (idle.clone(), ("idle".into(), later)),
            ]),
            teams: HashMap::from([
                (
                    payments.clone(),
                    TeamEntry {
                        name: "payments".into(),
                        members: vec![ann.clone(), ben.clone()],
                        schedules: vec![idle.clone(), rota.clone()],
                    },
                ),
                (
                    empty.clone(),
                    TeamEntry {
                        name: "empty".into(),
                        members: vec![],
                        schedules: vec![idle.clone()],
                    },
                ),
            ]),
        };
        let at: DateTime<Utc> = "2026-02-01T12:00:00Z".parse().unwrap();
        let on_call = resolve_targets(
            &[EscalationTarget::TeamOnCall(payments.clone())],
            at,
            &directory,
        );
        assert_eq!(on_call.users, vec![(ben.clone(), Some(rota.clone()))]);
        assert!(on_call.gaps.is_empty());
        let members = resolve_targets(
            &[
                EscalationTarget::User(ben.clone()),
                EscalationTarget::Team(payments.clone()),
            ],
            at,
            &directory,
        );
        assert_eq!(members.users, vec![(ben, None), (ann, None)]);
        let nobody = resolve_targets(
            &[
                EscalationTarget::Team(empty.clone()),
                EscalationTarget::TeamOnCall(empty.clone()),
                EscalationTarget::Team(gone.clone()),
            ],
            at,
            &directory,
        );
        assert!(nobody.users.is_empty());
        assert_eq!(
            nobody.gaps,
            vec![
                TargetGap::TeamHasNoMembers {
                    team: "empty".into()
                },
                TargetGap::TeamNobodyOnCall {
                    team: "empty".into()
                },
                TargetGap::TeamGone { team_id: gone },
            ]
        );
        let mut needed = vec![idle, rota];
        needed.sort();
        assert_eq!(
            Directory::schedules_needed(
                &[EscalationTarget::TeamOnCall(payments.clone())],
                &directory.teams
            ),
            needed
        );
    }

    #[test]
    fn only_a_rise_to_high_urgency_before_anyone_acknowledged_pages_again() {
        use IncidentStatus::*;
        use Severity::*;
        assert!(repages_on_severity(Sev3, Sev1, Triggered));
        assert!(repages_on_severity(Sev2, Sev0, Triggered));
        assert!(!repages_on_severity(Sev1, Sev0, Triggered), "already high");
        assert!(!repages_on_severity(Sev3, Sev2, Triggered), "still low");
        assert!(
            !repages_on_severity(Sev3, Sev0, Acknowledged),
            "someone has it"
        );
        assert!(!repages_on_severity(Sev0, Sev3, Triggered));
    }

    #[test]
    fn a_page_is_moot_once_nobody_needs_it() {
        assert!(!page_is_moot(IncidentStatus::Triggered, false));
        assert!(page_is_moot(IncidentStatus::Acknowledged, false));
        assert!(
            !page_is_moot(IncidentStatus::Acknowledged, true),
            "a page sent by hand after the acknowledgement still goes out"
        );
        assert!(page_is_moot(IncidentStatus::Resolved, true));
    }

    fn policy(delays: &[u32], repeat: u32) -> EscalationPolicy {
        EscalationPolicy {
            id: PolicyId::generate(),
            name: "p".into(),
            description: String::new(),
            repeat,
            levels: delays
                .iter()
                .map(|d| EscalationLevel {
                    delay_minutes: *d,
                    targets: vec![EscalationTarget::User(UserId::generate())],
                })
                .collect(),
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            team_id: None,
        }
    }

    fn t(min: i64) -> DateTime<Utc> {
        DateTime::UNIX_EPOCH + Duration::minutes(min)
    }

    #[test]
    fn levels_page_in_order_each_after_the_previous_delay_then_the_policy_repeats() {
        let p = policy(&[5, 10], 1);
        let mut e = Escalation::start(IncidentId::generate(), p.id.clone(), t(0));
        let mut fired = Vec::new();
        while let Some(f) = e.fire(&p) {
            fired.push((e.next_at.unwrap(), f.level, f.round));
            e = f.after;
            if e.next_at.is_none() {
                break;
            }
        }
        assert_eq!(
            fired,
            vec![(t(0), 0, 0), (t(5), 1, 0), (t(15), 0, 1), (t(20), 1, 1)]
        );
        assert_eq!(e.next_at, None);
        assert_eq!(e.fire(&p), None);
    }

    #[test]
    fn a_late_cycle_does_not_shift_the_next_level() {
        let p = policy(&[5, 5], 0);
        let e = Escalation::start(IncidentId::generate(), p.id.clone(), t(0));
        // Whenever the engine gets round to it, level 1 stays due at minute 5.
        let f = e.fire(&p).unwrap();
        assert_eq!(f.after.next_at, Some(t(5)));
    }

    #[test]
    fn a_policy_shortened_since_the_start_continues_from_its_last_level() {
        let p = policy(&[5], 0);
        let e = Escalation {
            level: 3,
            ..Escalation::start(IncidentId::generate(), p.id.clone(), t(0))
        };
        let f = e.fire(&p).unwrap();
        assert_eq!(f.level, 0);
        assert_eq!(f.after.next_at, None);
    }

    #[test]
    fn a_level_that_reached_nobody_hands_over_at_once_until_a_whole_pass_missed() {
        let p = policy(&[5, 10, 15], 2);
        let now = t(3);
        let e = Escalation::start(IncidentId::generate(), p.id.clone(), t(0));
        let Miss::NextLevelNow(next) = e.fire(&p).unwrap().reached_nobody(1, 3, now) else {
            panic!("the second level should page at once");
        };
        assert_eq!((next.level, next.next_at), (1, Some(now)));
        let third = next.fire(&p).unwrap().reached_nobody(2, 3, now);
        let Miss::NextLevelNow(third) = third else {
            panic!("the third level should page at once");
        };
        // The third level missed too: the pass is over, and the next pass waits the last level's delay.
        let Miss::PassReachedNobody(after) = third.fire(&p).unwrap().reached_nobody(3, 3, now)
        else {
            panic!("a whole pass reached nobody");
        };
        assert_eq!(
            (after.level, after.round, after.next_at),
            (0, 1, Some(now + Duration::minutes(15)))
        );
        // The policy's last level of its last round reached nobody: nothing follows, whatever the count.
        let last = Escalation {
            level: 2,
            round: 2,
            ..after
        };
        assert!(matches!(
            last.fire(&p).unwrap().reached_nobody(1, 3, now),
            Miss::PassReachedNobody(Escalation { next_at: None, .. })
        ));
    }

    #[test]
    fn escalating_by_hand_pages_the_next_level_now() {
        let p = policy(&[5, 5, 5], 0);
        let e = Escalation::start(IncidentId::generate(), p.id.clone(), t(0));
        let waiting = e.fire(&p).unwrap().after; // level 1 due at minute 5
        let now = t(2);
        let by_hand = waiting.escalate_to(&p, None, now).unwrap();
        assert_eq!((by_hand.level, by_hand.next_at), (1, Some(now)));
        // Acknowledged before level 1 paged: escalation stopped with level 1 still to come, and it is next.
        let stopped = Escalation {
            next_at: None,
            ..waiting.clone()
        };
        assert_eq!(stopped.escalate_to(&p, None, now).unwrap().level, 1);
        let after_two = Escalation {
            level: 2,
            last_paged: Some(1),
            next_at: None,
            ..waiting.clone()
        };
        assert_eq!(after_two.escalate_to(&p, None, now).unwrap().level, 2);
        assert_eq!(
            waiting.escalate_to(&p, Some(3), now).unwrap_err(),
            "the policy has levels 1 to 3; there is no level 4"
        );
        assert_eq!(waiting.escalate_to(&p, Some(0), now).unwrap().level, 0);
    }

    proptest::proptest! {
        /// For any policy, firing until it stops pages every level of every round exactly once, in order, each
        /// due the sum of the delays before it after the start.
        #[test]
        fn a_policy_pages_each_level_of_each_round_once_at_the_cumulative_delay(
            delays in proptest::collection::vec(1u32..=1440, 1..6),
            repeat in 0u32..4,
            start in 0i64..10_000_000,
        ) {
            let p = policy(&delays, repeat);
            let mut e = Escalation::start(IncidentId::generate(), p.id.clone(), t(start));
            let mut expected_due = t(start);
            let mut pages = Vec::new();
            while let Some(f) = e.fire(&p) {
                proptest::prop_assert_eq!(e.next_at, Some(expected_due));
                pages.push((f.round, f.level));
                expected_due += Duration::minutes(i64::from(delays[f.level as usize]));
                e = f.after;
                if e.next_at.is_none() {
                    break;
                }
            }
            let want: Vec<(u32, u32)> = (0..=repeat)
                .flat_map(|r| (0..delays.len() as u32).map(move |l| (r, l)))
                .collect();
            proptest::prop_assert_eq!(pages, want);
        }
    }

    #[test]
    fn validation_names_each_problem() {
        let spec = EscalationPolicySpec {
            name: " ".into(),
            description: String::new(),
            repeat: 11,
            levels: vec![EscalationLevel {
                delay_minutes: 0,
                targets: vec![],
            }],
            team: None,
        };
        let errors = spec.validate().unwrap_err();
        let fields = errors.fields();
        assert_eq!(
            fields,
            [
                "name",
                "repeat",
                "levels[0].targets",
                "levels[0].delay_minutes"
            ]
        );
    }
}
