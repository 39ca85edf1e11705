//! Credentials: API tokens and integration keys.
//!
//! Both are 128+ bits of randomness, so a single SHA-256 is the right way to store them: a slow password hash buys
//! nothing against a secret that cannot be guessed, and would put a key-stretching cost on every ingest request.

use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// What a token may do; each scope includes the ones before it.
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
pub enum Scope {
    /// Read anything except tokens.
    Read,
    /// Also change the catalog, integrations and incidents.
    Write,
    /// Also manage API tokens.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::Write => "write",
            Self::Admin => "admin",
        }
    }
    pub fn allows(self, needed: Scope) -> bool {
        self >= needed
    }
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

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
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

    #[test]
    fn scopes_nest() {
        assert!(Scope::Admin.allows(Scope::Write) && Scope::Write.allows(Scope::Read));
        assert!(!Scope::Read.allows(Scope::Write) && !Scope::Write.allows(Scope::Admin));
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
