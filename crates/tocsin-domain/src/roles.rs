//! The roles people take in a response (incident commander, communications lead, scribe, subject-matter expert,
//! and the organisation's own), who holds them in an incident and who held them before, and the responders: the
//! people working an incident.

use crate::escalation::EscalationTarget;
use crate::ids::{ServiceId, UserId};
use crate::incident::{Actor, Incident};
use crate::refs::Key;
use crate::severity::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::str::FromStr;

/// The built-in roles' keys.
pub const COMMANDER: &str = "commander";
pub const COMMUNICATIONS: &str = "communications";
pub const SCRIBE: &str = "scribe";
pub const EXPERT: &str = "expert";

/// Who takes a role when an incident opens, or its severity changes, and nobody holds it yet: e.g. whoever is on
/// call in the checkout team's schedule leads SEV-0 and SEV-1 incidents on checkout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleDefault {
    /// The severities it applies to; empty for every severity.
    #[serde(default)]
    pub severities: Vec<Severity>,
    /// The services it applies to (an incident on any of them); empty for every incident.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    /// Who takes the role: a person, whoever is on call in a schedule, a team's members or a team's on-call.
    pub target: EscalationTarget,
}

impl RoleDefault {
    pub fn applies_to(&self, incident: &Incident) -> bool {
        (self.severities.is_empty() || self.severities.contains(&incident.severity))
            && (self.services.is_empty()
                || self.services.iter().any(|s| incident.services.contains(s)))
    }
}

/// A role as an organisation defines it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RoleSpec {
    /// What people call it, e.g. "Incident commander".
    pub name: String,
    /// What whoever holds it does (Markdown), shown to them on the incident.
    #[serde(default)]
    pub instructions: String,
    /// Held by one person at a time: assigning someone else hands it over.
    #[serde(default)]
    pub single: bool,
    /// Who takes it by default, the first that applies.
    #[serde(default)]
    pub defaults: Vec<RoleDefault>,
}

/// A role, built in or the organisation's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[schema(as = IncidentRole)]
pub struct Role {
    #[schema(value_type = String, example = "commander")]
    pub key: Key,
    pub name: String,
    pub instructions: String,
    pub single: bool,
    /// One of the four every organisation has; these can be reworded but not removed.
    pub built_in: bool,
    pub defaults: Vec<RoleDefault>,
}

/// Most roles an organisation defines besides the built-in ones.
pub const MAX_CUSTOM_ROLES: usize = 20;
/// Most defaults a role has.
pub const MAX_DEFAULTS: usize = 10;
/// Most services one default names.
pub const MAX_DEFAULT_SERVICES: usize = 50;
/// Most people holding one role in one incident.
pub const MAX_HOLDERS: usize = 20;

impl RoleSpec {
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        errors.check_label("name", &self.name);
        if self.instructions.contains('\0') {
            errors.push("instructions", "must not contain NUL characters");
        } else if self.instructions.chars().count() > 8_000 {
            errors.push("instructions", "must be at most 8000 characters");
        }
        if self.defaults.len() > MAX_DEFAULTS {
            errors.push("defaults", format!("at most {MAX_DEFAULTS} defaults"));
        }
        for (i, d) in self.defaults.iter().enumerate() {
            if d.services.len() > MAX_DEFAULT_SERVICES {
                errors.push(
                    format!("defaults[{i}].services"),
                    format!("at most {MAX_DEFAULT_SERVICES} services"),
                );
            }
        }
        errors.into_result(())
    }

    pub fn tidy(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        self.instructions = self.instructions.trim().to_owned();
        self
    }

    pub fn into_role(self, key: Key) -> Role {
        Role {
            built_in: BUILT_IN.iter().any(|(k, ..)| *k == key.as_str()),
            key,
            name: self.name,
            instructions: self.instructions,
            single: self.single,
            defaults: self.defaults,
        }
    }
}

/// The four roles of the incident response guide: (key, name, single, instructions).
const BUILT_IN: [(&str, &str, bool, &str); 4] = [
    (
        COMMANDER,
        "Incident commander",
        true,
        "You lead the response: you decide, others act. Keep the response moving: ask for status, assign tasks \
         with a deadline, and decide when nobody else can. Do not fix things yourself; hand over the role if you \
         must.",
    ),
    (
        COMMUNICATIONS,
        "Communications lead",
        true,
        "You keep everyone outside the response informed: post stakeholder updates at the severity's cadence and \
         whenever the severity or the stage changes, and keep the status page current.",
    ),
    (
        SCRIBE,
        "Scribe",
        true,
        "You keep the record: write what is decided, what is tried and what is learned on the timeline as it \
         happens, with times, so that the postmortem starts from facts.",
    ),
    (
        EXPERT,
        "Subject-matter expert",
        false,
        "You know a system involved: find what is wrong, propose fixes to the commander, and carry out the ones \
         they decide on. Say what you are doing before you do it.",
    ),
];

impl Role {
    /// The roles every organisation starts with, in the order they are shown.
    pub fn built_in() -> Vec<Role> {
        BUILT_IN
            .iter()
            .map(|(key, name, single, instructions)| Role {
                key: Key::trusted(key),
                name: (*name).to_owned(),
                instructions: (*instructions).to_owned(),
                single: *single,
                built_in: true,
                defaults: Vec::new(),
            })
            .collect()
    }

    pub fn is_built_in_key(key: &Key) -> bool {
        BUILT_IN.iter().any(|(k, ..)| *k == key.as_str())
    }

    pub fn spec(&self) -> RoleSpec {
        RoleSpec {
            name: self.name.clone(),
            instructions: self.instructions.clone(),
            single: self.single,
            defaults: self.defaults.clone(),
        }
    }

    /// The first default that applies to the incident, if any.
    pub fn default_for(&self, incident: &Incident) -> Option<&RoleDefault> {
        self.defaults.iter().find(|d| d.applies_to(incident))
    }
}

/// Checks a change of the organisation's roles: a built-in role keeps being held by one person or by several as it
/// was, and there are at most [`MAX_CUSTOM_ROLES`] of the organisation's own.
pub fn check_role_change(
    roles: &[Role],
    key: &Key,
    spec: &RoleSpec,
) -> Result<(), crate::error::FieldError> {
    if let Some(builtin) = Role::built_in().into_iter().find(|r| &r.key == key)
        && builtin.single != spec.single
    {
        return Err(crate::error::FieldError::new(
            "single",
            format!(
                "must be {} for the built-in role {key}: it is held by {}",
                builtin.single,
                if builtin.single {
                    "one person at a time"
                } else {
                    "as many people as needed"
                }
            ),
        ));
    }
    if let Some(other) = roles
        .iter()
        .find(|r| &r.key != key && r.name.eq_ignore_ascii_case(spec.name.trim()))
    {
        return Err(crate::error::FieldError::new(
            "name",
            format!("the role {} is already called {}", other.key, other.name),
        ));
    }
    let custom = roles.iter().filter(|r| !r.built_in).count();
    let adding = !roles.iter().any(|r| &r.key == key);
    if adding && custom >= MAX_CUSTOM_ROLES {
        return Err(crate::error::FieldError::new(
            "key",
            format!("there are already {MAX_CUSTOM_ROLES} roles of your own; remove one first"),
        ));
    }
    Ok(())
}

/// Someone holding a role in an incident, now or before.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RoleAssignment {
    #[schema(value_type = String, example = "commander")]
    pub role: Key,
    /// The role's name when it was assigned.
    pub role_name: String,
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub user: String,
    pub assigned_at: DateTime<Utc>,
    pub assigned_by: Actor,
    /// When they stopped holding it; none while they hold it.
    pub released_at: Option<DateTime<Utc>>,
    pub released_by: Option<Actor>,
}

impl RoleAssignment {
    pub fn is_held(&self) -> bool {
        self.released_at.is_none()
    }
}

/// What assigning a role to someone does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Assignment {
    /// They hold it already: nothing changes, and nobody is paged again.
    AlreadyHeld,
    /// They take it; for a role one person holds, whoever held it hands it over (everyone, should several hold
    /// it since it became a one-person role).
    Take { replaces: Vec<UserId> },
}

/// Decides what assigning `role` to `user` does, given who holds it in the incident now.
pub fn assign(
    role: &Role,
    holders: &[&RoleAssignment],
    user: &UserId,
) -> Result<Assignment, crate::error::FieldError> {
    if holders.iter().any(|h| &h.user_id == user) {
        return Ok(Assignment::AlreadyHeld);
    }
    if role.single {
        return Ok(Assignment::Take {
            replaces: holders.iter().map(|h| h.user_id.clone()).collect(),
        });
    }
    if holders.len() >= MAX_HOLDERS {
        return Err(crate::error::FieldError::new(
            "user",
            format!(
                "{} people already hold {}; release one first",
                holders.len(),
                role.name
            ),
        ));
    }
    Ok(Assignment::Take {
        replaces: Vec::new(),
    })
}

/// How someone came to work an incident.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Joined {
    /// An escalation level, a reassignment or a person paged them.
    Paged,
    /// They joined by themselves.
    Joined,
    /// Someone added them.
    Added,
    /// They were given a role.
    Assigned,
}

impl Joined {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Paged => "paged",
            Self::Joined => "joined",
            Self::Added => "added",
            Self::Assigned => "assigned",
        }
    }
}

impl FromStr for Joined {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        [Self::Paged, Self::Joined, Self::Added, Self::Assigned]
            .into_iter()
            .find(|j| j.as_str() == s)
            .ok_or_else(|| format!("must be one of paged, joined, added, assigned (got {s:?})"))
    }
}

/// A person working an incident, with the roles they hold in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Responder {
    #[schema(value_type = String)]
    pub user_id: UserId,
    pub name: String,
    pub joined: Joined,
    pub since: DateTime<Utc>,
    /// The keys of the roles they hold now.
    #[schema(value_type = Vec<String>)]
    pub roles: Vec<Key>,
}

/// A person's presence in an incident as recorded: how and when they joined, and when they left, if they did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Presence {
    pub user_id: UserId,
    pub joined: Joined,
    pub since: DateTime<Utc>,
    pub left_at: Option<DateTime<Utc>>,
}

/// The incident's responders: everyone recorded as joining who has not left since, and everyone paged for it
/// (first page's time) unless they left after their last page; each with the roles they hold. Role holders are
/// always responders. Ordered by when they joined.
pub fn responders(
    recorded: &[Presence],
    paged: &[(UserId, DateTime<Utc>, DateTime<Utc>)],
    assignments: &[RoleAssignment],
    name: impl Fn(&UserId) -> String,
) -> Vec<Responder> {
    let mut out: Vec<Responder> = Vec::new();
    let mut add = |user: &UserId, joined: Joined, since: DateTime<Utc>| {
        if !out.iter().any(|r| &r.user_id == user) {
            out.push(Responder {
                user_id: user.clone(),
                name: name(user),
                joined,
                since,
                roles: Vec::new(),
            });
        }
    };
    for p in recorded.iter().filter(|p| p.left_at.is_none()) {
        add(&p.user_id, p.joined, p.since);
    }
    for (user, first, last) in paged {
        let left_since_last_page = recorded
            .iter()
            .any(|p| &p.user_id == user && p.left_at.is_some_and(|l| l >= *last));
        if !left_since_last_page {
            add(user, Joined::Paged, *first);
        }
    }
    for a in assignments.iter().filter(|a| a.is_held()) {
        add(&a.user_id, Joined::Assigned, a.assigned_at);
    }
    for r in &mut out {
        r.roles = assignments
            .iter()
            .filter(|a| a.is_held() && a.user_id == r.user_id)
            .map(|a| a.role.clone())
            .collect();
    }
    out.sort_by(|a, b| a.since.cmp(&b.since).then(a.name.cmp(&b.name)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 12, 1, 10, minute, 0).unwrap()
    }

    fn held(role: &str, user: &UserId, minute: u32) -> RoleAssignment {
        RoleAssignment {
            role: role.parse().unwrap(),
            role_name: role.into(),
            user_id: user.clone(),
            user: "x".into(),
            assigned_at: at(minute),
            assigned_by: Actor::system(),
            released_at: None,
            released_by: None,
        }
    }

    #[test]
    fn role_keys_are_slugs() {
        assert!("commander".parse::<Key>().is_ok());
        assert!("db-expert-2".parse::<Key>().is_ok());
        for bad in ["", "Commander", "2nd", "-x", "a b", &"a".repeat(41)] {
            assert!(bad.parse::<Key>().is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_single_role_is_handed_over_and_a_shared_one_is_added_to() {
        let roles = Role::built_in();
        let commander = &roles[0];
        let expert = &roles[3];
        let (alice, bob) = (UserId::generate(), UserId::generate());
        let a = held("commander", &alice, 0);
        assert_eq!(
            assign(commander, &[&a], &bob).unwrap(),
            Assignment::Take {
                replaces: vec![alice.clone()]
            }
        );
        assert_eq!(
            assign(commander, &[&a], &alice).unwrap(),
            Assignment::AlreadyHeld
        );
        let e = held("expert", &alice, 0);
        assert_eq!(
            assign(expert, &[&e], &bob).unwrap(),
            Assignment::Take { replaces: vec![] }
        );
    }

    #[test]
    fn built_in_roles_keep_how_many_hold_them_and_custom_ones_are_bounded() {
        let roles = Role::built_in();
        let spec = RoleSpec {
            single: false,
            ..roles[0].spec()
        };
        let err = check_role_change(&roles, &roles[0].key, &spec).unwrap_err();
        assert_eq!(err.field, "single");
        let mut many = roles.clone();
        for n in 0..MAX_CUSTOM_ROLES {
            many.push(
                RoleSpec {
                    name: format!("r{n}"),
                    instructions: String::new(),
                    single: false,
                    defaults: Vec::new(),
                }
                .into_role(format!("r{n}").parse().unwrap()),
            );
        }
        let new = RoleSpec {
            name: "one more".into(),
            instructions: String::new(),
            single: false,
            defaults: Vec::new(),
        };
        assert!(check_role_change(&many, &"another".parse().unwrap(), &new).is_err());
        assert!(check_role_change(&many, &"r0".parse().unwrap(), &new).is_ok());
    }

    #[test]
    fn responders_are_the_paged_the_joined_and_role_holders_unless_they_left() {
        let (alice, bob, carol, dan) = (
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
            UserId::generate(),
        );
        let recorded = vec![
            Presence {
                user_id: bob.clone(),
                joined: Joined::Joined,
                since: at(5),
                left_at: None,
            },
            // Carol left after her only page: she is not working it any more.
            Presence {
                user_id: carol.clone(),
                joined: Joined::Paged,
                since: at(1),
                left_at: Some(at(9)),
            },
        ];
        let paged = vec![(alice.clone(), at(0), at(0)), (carol.clone(), at(1), at(1))];
        let roles = vec![held("scribe", &dan, 7), held("commander", &alice, 3)];
        let list = responders(&recorded, &paged, &roles, |u| {
            if *u == alice { "Alice" } else { "other" }.to_owned()
        });
        let who: Vec<(&UserId, Joined, Vec<&str>)> = list
            .iter()
            .map(|r| {
                (
                    &r.user_id,
                    r.joined,
                    r.roles.iter().map(Key::as_str).collect(),
                )
            })
            .collect();
        assert_eq!(
            who,
            vec![
                (&alice, Joined::Paged, vec!["commander"]),
                (&bob, Joined::Joined, vec![]),
                (&dan, Joined::Assigned, vec!["scribe"]),
            ]
        );
        // Paged again after leaving: back on the list.
        let paged_again = vec![(carol.clone(), at(1), at(10))];
        let list = responders(&recorded, &paged_again, &[], |_| String::new());
        assert!(list.iter().any(|r| r.user_id == carol));
    }
}
