//! What in the paging setup would leave an incident with nobody: services no policy pages, schedules with nobody
//! on call in the coming days, people a policy may page who cannot be reached, contact methods of a kind the
//! server is not configured to send. Checked on demand (`tocsin doctor`) and after the changes that can cause it.

use crate::contact::{Channels, ContactMethod};
use crate::escalation::{EscalationPolicy, EscalationTarget, TeamEntry};
use crate::ids::{ContactMethodId, PolicyId, ScheduleId, ServiceId, TeamId, UserId};
use crate::oncall::{Schedule, gaps};
use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use std::collections::{BTreeSet, HashMap};

/// How far ahead schedules are searched for gaps.
pub const LOOKAHEAD_DAYS: i64 = 14;

/// Everything the checks read, loaded by the caller.
#[derive(Debug, Clone, Default)]
pub struct PagingSetup {
    /// Each service with the policy that pages for it, if any.
    pub services: Vec<(ServiceId, String, Option<PolicyId>)>,
    pub policies: Vec<EscalationPolicy>,
    pub schedules: Vec<(ScheduleId, String, Schedule)>,
    pub users: Vec<(UserId, String)>,
    pub teams: HashMap<TeamId, TeamEntry>,
    pub methods: Vec<ContactMethod>,
    /// The policy that takes incidents nobody else pages.
    pub fallback: Option<PolicyId>,
}

/// One way the setup can leave an incident with nobody.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Finding {
    /// No policy pages the service's incidents; the fallback policy takes them, if one is set.
    NoEscalationPolicy {
        service_id: ServiceId,
        service: String,
        fallback: Option<String>,
    },
    /// A schedule has nobody on call for a while in the next 14 days; `from`–`to` is the first such gap.
    ScheduleGap {
        schedule_id: ScheduleId,
        schedule: String,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
        /// How many gaps there are in the 14 days.
        gaps: usize,
    },
    /// A policy pages a team that has nobody to page: no members, or (for its on-call) no schedule of its own.
    EmptyTeam {
        team_id: TeamId,
        team: String,
        /// The policy pages whoever is on call in the team's schedules, and it owns none.
        on_call: bool,
    },
    /// Someone a policy may page has no contact method this server can send (none, all disabled, or only
    /// kinds it is not configured for).
    UnreachableUser { user_id: UserId, user: String },
    /// A contact method of a kind this server is not configured to send; `setting` is the configuration it
    /// needs.
    ChannelNotConfigured {
        user_id: UserId,
        user: String,
        method_id: ContactMethodId,
        method: String,
        kind: String,
        setting: String,
    },
}

impl Finding {
    /// Whether the finding is about `user`, directly or through one of their contact methods.
    pub fn concerns_user(&self, user: &UserId) -> bool {
        matches!(self, Self::UnreachableUser { user_id, .. } | Self::ChannelNotConfigured { user_id, .. } if user_id == user)
    }

    pub fn concerns_service(&self, service: &ServiceId) -> bool {
        matches!(self, Self::NoEscalationPolicy { service_id, .. } if service_id == service)
    }
}

/// The gaps in a schedule's next 14 days, as one finding, or none when someone is always on call.
pub fn schedule_gaps(
    id: &ScheduleId,
    name: &str,
    schedule: &Schedule,
    now: DateTime<Utc>,
) -> Option<Finding> {
    let found = gaps(schedule, now, now + Duration::days(LOOKAHEAD_DAYS));
    let (from, to) = *found.first()?;
    Some(Finding::ScheduleGap {
        schedule_id: id.clone(),
        schedule: name.to_owned(),
        from,
        to,
        gaps: found.len(),
    })
}

/// Every finding, in a stable order: services, schedules, then people.
pub fn check(setup: &PagingSetup, channels: &Channels, now: DateTime<Utc>) -> Vec<Finding> {
    let policy_name = |id: &PolicyId| {
        setup
            .policies
            .iter()
            .find(|p| &p.id == id)
            .map(|p| p.name.clone())
    };
    let fallback = setup.fallback.as_ref().and_then(policy_name);
    let mut findings: Vec<Finding> = setup
        .services
        .iter()
        .filter(|(_, _, policy)| policy.as_ref().and_then(policy_name).is_none())
        .map(|(id, name, _)| Finding::NoEscalationPolicy {
            service_id: id.clone(),
            service: name.clone(),
            fallback: fallback.clone(),
        })
        .collect();

    // Only what some policy pages through matters: a schedule or person no policy names cannot be paged by one.
    let targets = setup
        .policies
        .iter()
        .flat_map(|p| &p.levels)
        .flat_map(|l| &l.targets);
    let mut paged_schedules = BTreeSet::new();
    let mut pageable = BTreeSet::new();
    let mut empty_teams = BTreeSet::new();
    for target in targets {
        match target {
            EscalationTarget::User(u) => {
                pageable.insert(u.clone());
            }
            EscalationTarget::Schedule(s) => {
                paged_schedules.insert(s.clone());
            }
            EscalationTarget::Team(t) => match setup.teams.get(t) {
                Some(team) if !team.members.is_empty() => {
                    pageable.extend(team.members.iter().cloned())
                }
                Some(team) => {
                    empty_teams.insert((t.clone(), team.name.clone(), false));
                }
                None => {}
            },
            EscalationTarget::TeamOnCall(t) => match setup.teams.get(t) {
                Some(team) if !team.schedules.is_empty() => {
                    paged_schedules.extend(team.schedules.iter().cloned())
                }
                Some(team) => {
                    empty_teams.insert((t.clone(), team.name.clone(), true));
                }
                None => {}
            },
        }
    }
    findings.extend(
        empty_teams
            .into_iter()
            .map(|(team_id, team, on_call)| Finding::EmptyTeam {
                team_id,
                team,
                on_call,
            }),
    );
    for (id, name, schedule) in &setup.schedules {
        if !paged_schedules.contains(id) {
            continue;
        }
        findings.extend(schedule_gaps(id, name, schedule, now));
        pageable.extend(
            schedule
                .layers
                .iter()
                .flat_map(|l| l.participants.iter().cloned()),
        );
        pageable.extend(
            schedule
                .overrides
                .iter()
                .filter(|o| o.end > now)
                .map(|o| o.user.clone()),
        );
    }

    let mut methods: HashMap<&UserId, Vec<&ContactMethod>> = HashMap::new();
    for m in &setup.methods {
        methods.entry(&m.user_id).or_default().push(m);
    }
    for (user, name) in &setup.users {
        let theirs = methods.remove(user).unwrap_or_default();
        for m in theirs.iter().filter(|m| m.enabled) {
            if let Some(setting) = channels.missing(&m.target) {
                findings.push(Finding::ChannelNotConfigured {
                    user_id: user.clone(),
                    user: name.clone(),
                    method_id: m.id.clone(),
                    method: m.name.clone(),
                    kind: m.target.kind().to_owned(),
                    setting: setting.to_owned(),
                });
            }
        }
        if pageable.contains(user) && !theirs.iter().any(|m| channels.usable(m)) {
            findings.push(Finding::UnreachableUser {
                user_id: user.clone(),
                user: name.clone(),
            });
        }
    }
    findings
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::Email;
    use crate::contact::ContactTarget;
    use crate::escalation::EscalationLevel;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn weekdays_of(user: &UserId) -> Schedule {
        serde_json::from_value(serde_json::json!({
            "time_zone": "UTC",
            "layers": [{"name": "office", "participants": [user], "rotation": {"every": "weeks", "count": 1},
                "start": "2026-01-05T00:00:00",
                "restrictions": [{"days": ["Mon", "Tue", "Wed", "Thu", "Fri"], "start": "09:00:00", "end": "17:00:00"}]}],
        }))
        .unwrap()
    }

    fn method(user: &UserId, target: ContactTarget, enabled: bool) -> ContactMethod {
        ContactMethod {
            id: ContactMethodId::generate(),
            user_id: user.clone(),
            name: target.kind().to_owned(),
            target,
            enabled,
            created_at: DateTime::UNIX_EPOCH,
        }
    }

    #[test]
    fn finds_what_would_page_nobody() {
        let (ann, ben, cid, dee) = (
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
        );
        let rota = ScheduleId::generate();
        let unused = ScheduleId::generate();
        let policy = EscalationPolicy {
            id: PolicyId::generate(),
            name: "web".into(),
            description: String::new(),
            repeat: 0,
            levels: vec![EscalationLevel {
                delay_minutes: 5,
                targets: vec![
                    EscalationTarget::Schedule(rota.clone()),
                    EscalationTarget::User(ben.clone()),
                    EscalationTarget::User(cid.clone()),
                ],
            }],
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            team_id: None,
        };
        let (paged, bare) = (ServiceId::generate(), ServiceId::generate());
        let email = ContactTarget::Email {
            address: Email::parse("x@example.com").unwrap(),
        };
        let setup = PagingSetup {
            services: vec![
                (paged, "checkout".into(), Some(policy.id.clone())),
                (bare.clone(), "ledger".into(), None),
            ],
            schedules: vec![
                (rota.clone(), "office".into(), weekdays_of(&ann)),
                (unused, "spare".into(), weekdays_of(&dee)),
            ],
            policies: vec![policy],
            users: vec![
                (ann.clone(), "Ann".into()),
                (ben.clone(), "Ben".into()),
                (cid.clone(), "Cid".into()),
                (dee.clone(), "Dee".into()),
            ],
            teams: HashMap::new(),
            methods: vec![
                // Ann: email, but this server has no SMTP. Ben: a disabled webhook. Cid: email too, and a Slack
                // hook that works. Dee is paged by no policy, so having no method is no finding.
                method(&ann, email.clone(), true),
                method(
                    &ben,
                    ContactTarget::Webhook {
                        url: crate::catalog::HttpUrl::parse("https://hooks.example.com/b").unwrap(),
                        secret: None,
                    },
                    false,
                ),
                method(&cid, email, true),
                method(
                    &cid,
                    ContactTarget::Slack {
                        url: crate::catalog::HttpUrl::parse("https://hooks.slack.com/x").unwrap(),
                    },
                    true,
                ),
            ],
            fallback: None,
        };
        let no_email = Channels {
            email: false,
            ..Channels::ALL
        };
        // A Wednesday noon: the first gap is the coming night, and every night and weekend of two weeks follows.
        let findings = check(&setup, &no_email, at("2026-03-04T12:00:00Z"));
        let codes: Vec<String> = findings
            .iter()
            .map(|f| {
                let v = serde_json::to_value(f).unwrap();
                format!(
                    "{} {}",
                    v["code"].as_str().unwrap(),
                    v.get("user")
                        .or(v.get("service"))
                        .or(v.get("schedule"))
                        .unwrap()
                        .as_str()
                        .unwrap()
                )
            })
            .collect();
        assert_eq!(
            codes,
            [
                "no_escalation_policy ledger",
                "schedule_gap office",
                "channel_not_configured Ann",
                "unreachable_user Ann",
                "unreachable_user Ben",
                "channel_not_configured Cid",
            ]
        );
        assert!(matches!(
            &findings[1],
            Finding::ScheduleGap { from, to, gaps: 10, .. }
                if *from == at("2026-03-04T17:00:00Z") && *to == at("2026-03-05T09:00:00Z")
        ));
        assert!(findings[0].concerns_service(&bare));
        assert!(findings[2].concerns_user(&ann) && !findings[2].concerns_user(&ben));
        assert!(
            check(&setup, &Channels::ALL, at("2026-03-04T12:00:00Z"))
                .iter()
                .all(|f| !matches!(f, Finding::ChannelNotConfigured { .. })),
            "with SMTP configured, email reaches people"
        );
    }

    #[test]
    fn a_team_with_nobody_to_page_is_found_and_its_members_must_be_reachable() {
        let ann = UserId::generate();
        let (staffed, bare) = (TeamId::generate(), TeamId::generate());
        let policy = EscalationPolicy {
            id: PolicyId::generate(),
            name: "teams".into(),
            description: String::new(),
            repeat: 0,
            levels: vec![EscalationLevel {
                delay_minutes: 5,
                targets: vec![
                    EscalationTarget::Team(staffed.clone()),
                    EscalationTarget::TeamOnCall(staffed.clone()),
                    EscalationTarget::Team(bare.clone()),
                ],
            }],
            created_at: DateTime::UNIX_EPOCH,
            updated_at: DateTime::UNIX_EPOCH,
            team_id: None,
        };
        let setup = PagingSetup {
            policies: vec![policy],
            users: vec![(ann.clone(), "Ann".into())],
            teams: HashMap::from([
                (
                    staffed.clone(),
                    TeamEntry {
                        name: "payments".into(),
                        members: vec![ann.clone()],
                        schedules: vec![],
                    },
                ),
                (
                    bare.clone(),
                    TeamEntry {
                        name: "ghosts".into(),
                        ..TeamEntry::default()
                    },
                ),
            ]),
            ..PagingSetup::default()
        };
        let found = check(&setup, &Channels::ALL, at("2026-03-04T12:00:00Z"));
        let mut empty: Vec<(String, bool)> = found
            .iter()
            .filter_map(|f| match f {
                Finding::EmptyTeam { team, on_call, .. } => Some((team.clone(), *on_call)),
                _ => None,
            })
            .collect();
        empty.sort();
        assert_eq!(
            empty,
            [("ghosts".to_owned(), false), ("payments".to_owned(), true)]
        );
        assert!(
            found.contains(&Finding::UnreachableUser {
                user_id: ann,
                user: "Ann".into()
            }),
            "a member of a paged team is pageable: {found:?}"
        );
    }
}
