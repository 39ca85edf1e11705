//! Credentials: API tokens and integration keys.
//!
//! Both are 128+ bits of randomness, so a single SHA-256 is the right way to store them: a slow password hash buys
//! nothing against a secret that cannot be guessed, and would put a key-stretching cost on every ingest request.

use crate::ids::{TeamId, UserId};
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// What a principal may do; each role includes the ones before it.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reads everything except credentials and the audit log.
    Observer,
    /// Also works incidents (acknowledge, resolve, escalate, notes, silences) and manages their own contact
    /// methods, notification rules, calendar feeds and the overrides they take; a team's members also change the
    /// team's services, schedules and policies.
    Responder,
    /// Also changes the configuration: the catalog, integrations, policies, schedules, noise rules, maintenance,
    /// API tokens and the audit log's reading.
    Admin,
    /// Everything, including people's roles.
    Owner,
}

impl Role {
    pub const ALL: [Role; 4] = [Self::Observer, Self::Responder, Self::Admin, Self::Owner];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Observer => "observer",
            Self::Responder => "responder",
            Self::Admin => "admin",
            Self::Owner => "owner",
        }
    }

    /// The role an API token created with a scope (before roles existed) holds: reading stays reading, a token
    /// that could write could change the configuration, and one that managed tokens could do everything.
    pub fn for_scope(scope: Scope) -> Self {
        match scope {
            Scope::Read => Self::Observer,
            Scope::Write => Self::Admin,
            Scope::Admin => Self::Owner,
        }
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|r| r.as_str() == s)
            .ok_or_else(|| format!("must be one of observer, responder, admin, owner (got {s:?})"))
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What API tokens held before roles: still accepted when a token is created, as [`Role::for_scope`] maps it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    Read,
    Write,
    Admin,
}

impl FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "read" => Ok(Self::Read),
            "write" => Ok(Self::Write),
            "admin" => Ok(Self::Admin),
            _ => Err(format!("must be one of read, write, admin (got {s:?})")),
        }
    }
}

/// What a use case needs of whoever runs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need<'a> {
    /// Reading what every signed-in person may read.
    Read,
    /// Working incidents: acknowledging, resolving, escalating, notes, paging more people, silences.
    Respond,
    /// Something of this person's own: their contact methods, notification rules, calendar feeds, the overrides
    /// they take. Admins may change anyone's.
    Own(&'a UserId),
    /// What this person hears of as a stakeholder (their subscriptions to updates): theirs to change whatever
    /// their role, since stakeholders are often observers. Admins may change anyone's.
    Hear(&'a UserId),
    /// Something a team owns (`None`: no team owns it): its services, schedules and policies. The team's members
    /// who may respond may change it; admins may change any.
    Team(Option<&'a TeamId>),
    /// The configuration: the catalog, integrations, rules, maintenance, settings, API tokens, the audit log.
    Configure,
    /// Holding or granting `role`: nobody grants a role above their own.
    Grant(Role),
}

impl Need<'_> {
    /// What the need asks for, to say why a principal was refused.
    pub fn describe(&self) -> String {
        match self {
            Need::Read => "the observer role".into(),
            Need::Respond => "the responder role".into(),
            Need::Own(_) | Need::Hear(_) => {
                "the admin role, or to be the person it belongs to".into()
            }
            Need::Team(Some(_)) => {
                "the admin role, or to be a responder in the team that owns it".into()
            }
            Need::Team(None) => "the admin role (no team owns it)".into(),
            Need::Configure => "the admin role".into(),
            Need::Grant(role) => format!("the {role} role"),
        }
    }
}

/// What a principal holds: a role, the person it acts as (if any), and that person's teams.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub role: Role,
    pub user: Option<UserId>,
    pub teams: Vec<TeamId>,
}

impl Grant {
    pub fn role(role: Role) -> Self {
        Self {
            role,
            user: None,
            teams: Vec::new(),
        }
    }

    pub fn allows(&self, need: &Need<'_>) -> bool {
        let responds = self.role >= Role::Responder;
        match need {
            Need::Read => true,
            Need::Respond => responds,
            Need::Own(user) => {
                self.role >= Role::Admin || (responds && self.user.as_ref() == Some(*user))
            }
            Need::Hear(user) => self.role >= Role::Admin || self.user.as_ref() == Some(*user),
            Need::Team(team) => {
                self.role >= Role::Admin
                    || (responds && team.is_some_and(|t| self.teams.contains(t)))
            }
            Need::Configure => self.role >= Role::Admin,
            Need::Grant(role) => self.role >= *role,
        }
    }
}

/// A secret as handed to its owner once, never stored.
pub struct Secret(String);

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn hash(&self) -> String {
        hash_secret(&self.0)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(…)")
    }
}

pub const TOKEN_PREFIX: &str = "tcs_";

fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut buf);
    hex::encode(buf)
}

/// A new API token: `tcs_` and 48 hex digits (192 bits).
pub fn new_api_token() -> Secret {
    Secret(format!("{TOKEN_PREFIX}{}", random_hex(24)))
}

/// A new session cookie value or single-use link token: 48 hex digits (192 bits), stored only as its hash.
pub fn new_session_token() -> Secret {
    Secret(random_hex(24))
}

/// Random bytes for a password hash's salt.
pub fn new_salt() -> [u8; 16] {
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    salt
}

/// A new integration key: 32 hex digits (128 bits), the length PagerDuty's routing keys have, because some senders
/// check it.
pub fn new_integration_key() -> Secret {
    Secret(random_hex(16))
}

/// A new calendar feed token: 48 hex digits (192 bits). It stands alone in a URL that calendar apps fetch without
/// any other credential, so it is as strong as an API token, and hex keeps the URL free of characters to escape.
pub fn new_feed_token() -> Secret {
    Secret(random_hex(24))
}

/// A new server-side signing key (e.g. for action links): 64 hex digits (256 bits, HMAC-SHA256's block strength).
pub fn new_signing_key() -> String {
    random_hex(32)
}

/// A PagerDuty-style dedup key for a trigger that came without one.
pub fn new_dedup_key() -> String {
    random_hex(16)
}

/// Accepts a token the user supplied (e.g. `TOCSIN_BOOTSTRAP_TOKEN`), checking it is strong enough to stand in for a
/// generated one.
pub fn token_from_user(s: &str) -> Result<Secret, String> {
    if s.len() < 32 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("must be at least 32 characters with no whitespace (generate one with `openssl rand -hex 24`)".into());
    }
    Ok(Secret(s.to_owned()))
}

pub fn hash_secret(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The first characters of a secret, safe to show in listings so an owner can tell their tokens apart.
pub fn display_prefix(secret: &str) -> String {
    secret.chars().take(TOKEN_PREFIX.len() + 6).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grant(role: Role, user: &str, teams: &[&str]) -> Grant {
        Grant {
            role,
            user: Some(UserId::from_trusted(user.into())),
            teams: teams
                .iter()
                .map(|t| TeamId::from_trusted((*t).into()))
                .collect(),
        }
    }

    #[test]
    fn roles_nest_and_each_need_names_who_may() {
        let me = UserId::from_trusted("usr_me".into());
        let other = UserId::from_trusted("usr_other".into());
        let ours = TeamId::from_trusted("team_ours".into());
        let theirs = TeamId::from_trusted("team_theirs".into());
        let needs = [
            Need::Read,
            Need::Respond,
            Need::Own(&me),
            Need::Own(&other),
            Need::Hear(&me),
            Need::Hear(&other),
            Need::Team(Some(&ours)),
            Need::Team(Some(&theirs)),
            Need::Team(None),
            Need::Configure,
            Need::Grant(Role::Admin),
            Need::Grant(Role::Owner),
        ];
        // Columns follow `needs`; rows are what each role may do as usr_me in team_ours.
        let expected = [
            (Role::Observer, [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0]),
            (Role::Responder, [1, 1, 1, 0, 1, 0, 1, 0, 0, 0, 0, 0]),
            (Role::Admin, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0]),
            (Role::Owner, [1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]),
        ];
        for (role, row) in expected {
            let g = grant(role, "usr_me", &["team_ours"]);
            for (need, allowed) in needs.iter().zip(row) {
                assert_eq!(g.allows(need), allowed == 1, "{role} {need:?}");
            }
        }
        // A token that acts as nobody owns nothing and is in no team.
        let token = Grant::role(Role::Responder);
        assert!(
            !token.allows(&Need::Own(&me))
                && !token.allows(&Need::Hear(&me))
                && !token.allows(&Need::Team(Some(&ours)))
        );
    }

    #[test]
    fn scopes_map_to_roles_and_roles_parse() {
        assert_eq!(Role::for_scope(Scope::Read), Role::Observer);
        assert_eq!(Role::for_scope(Scope::Write), Role::Admin);
        assert_eq!(Role::for_scope(Scope::Admin), Role::Owner);
        for role in Role::ALL {
            assert_eq!(role.as_str().parse::<Role>(), Ok(role));
        }
        assert!(
            "write"
                .parse::<Role>()
                .unwrap_err()
                .contains("observer, responder")
        );
    }

    #[test]
    fn secrets_are_random_and_hash_stably() {
        let a = new_api_token();
        let b = new_api_token();
        assert_ne!(a.expose(), b.expose());
        assert!(a.expose().starts_with(TOKEN_PREFIX) && a.expose().len() == 52);
        assert_eq!(a.hash(), hash_secret(a.expose()));
        assert_eq!(new_integration_key().expose().len(), 32);
        assert!(token_from_user("short").is_err());
    }
}
