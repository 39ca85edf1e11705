//! Accounts: passwords, sessions, the single-use links that set a password, and how many failed sign-ins are
//! tolerated.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use std::fmt;

/// A password someone chose, checked for length only: length is what makes a password strong, and rules about
/// character classes make people choose worse ones (NIST SP 800-63B).
pub struct Password(String);

impl Password {
    pub const MIN_CHARS: usize = 10;
    /// Long enough for any passphrase, short enough that hashing it costs nothing extra.
    pub const MAX_BYTES: usize = 1024;

    pub fn parse(s: &str) -> Result<Self, String> {
        if s.chars().count() < Self::MIN_CHARS {
            return Err(format!(
                "must be at least {} characters; a few unrelated words make a good one",
                Self::MIN_CHARS
            ));
        }
        if s.len() > Self::MAX_BYTES {
            return Err(format!("must be at most {} bytes", Self::MAX_BYTES));
        }
        Ok(Self(s.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(…)")
    }
}

/// What a single-use link lets its holder do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkPurpose {
    /// Create the first owner, on a server nobody has signed in to yet.
    Setup,
    /// Set the password of a person an admin invited.
    Invite,
    /// Set a new password for a person who forgot theirs.
    Reset,
}

impl LinkPurpose {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Setup => "setup",
            Self::Invite => "invite",
            Self::Reset => "reset",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Setup, Self::Invite, Self::Reset]
            .into_iter()
            .find(|p| p.as_str() == s)
    }

    /// How long a link works: a reset only briefly, since whoever reads the mailbox holds the account.
    pub fn lifetime(self) -> Duration {
        match self {
            Self::Setup => Duration::days(7),
            Self::Invite => Duration::days(7),
            Self::Reset => Duration::hours(1),
        }
    }
}

/// How long a session lasts: it ends after `idle` without a request, and `absolute` after sign-in whatever
/// happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    pub idle: Duration,
    pub absolute: Duration,
}

impl Default for SessionPolicy {
    /// A week idle, a month at most: a responder who signed in on their phone must still be signed in when the
    /// page comes at 3 a.m. on their next on-call week.
    fn default() -> Self {
        Self {
            idle: Duration::days(7),
            absolute: Duration::days(30),
        }
    }
}

impl SessionPolicy {
    /// Whether a session signed in at `created_at` and last used at `last_seen_at` still holds at `now`.
    pub fn holds(
        &self,
        created_at: DateTime<Utc>,
        last_seen_at: DateTime<Utc>,
        now: DateTime<Utc>,
    ) -> bool {
        now < created_at + self.absolute && now < last_seen_at + self.idle
    }

    /// Whether a request at `now` should record itself as the session's last use: at most once a minute, so that
    /// browsing does not write on every page.
    pub fn should_touch(last_seen_at: DateTime<Utc>, now: DateTime<Utc>) -> bool {
        now - last_seen_at >= Duration::minutes(1)
    }
}

/// How many failed sign-ins are tolerated before more are refused without checking the password: per account,
/// so one person's password cannot be guessed from many addresses, and per address, so one client cannot try
/// many accounts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub window: Duration,
    pub per_account: i64,
    pub per_address: i64,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            window: Duration::minutes(15),
            per_account: 5,
            per_address: 30,
        }
    }
}

impl LoginLimits {
    /// Whether another attempt may be checked, given the failures in the window.
    pub fn allows(&self, by_account: i64, by_address: i64) -> bool {
        by_account < self.per_account && by_address < self.per_address
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn passwords_are_judged_by_length_alone() {
        assert!(Password::parse("short").is_err());
        assert!(Password::parse("correct horse").is_ok());
        assert!(
            Password::parse("ééééééééé").is_err(),
            "characters, not bytes"
        );
        assert!(Password::parse(&"x".repeat(1025)).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("a long secret").unwrap()),
            "Password(…)"
        );
    }

    #[test]
    fn sessions_end_idle_or_at_their_absolute_limit() {
        let t = Utc.with_ymd_and_hms(2026, 11, 1, 0, 0, 0).unwrap();
        let p = SessionPolicy {
            idle: Duration::hours(1),
            absolute: Duration::hours(3),
        };
        assert!(p.holds(t, t, t + Duration::minutes(59)));
        assert!(!p.holds(t, t, t + Duration::hours(1)), "idle");
        assert!(p.holds(t, t + Duration::hours(2), t + Duration::minutes(170)));
        assert!(
            !p.holds(t, t + Duration::minutes(179), t + Duration::hours(3)),
            "absolute, though used a minute ago"
        );
        assert!(!SessionPolicy::should_touch(t, t + Duration::seconds(59)));
        assert!(SessionPolicy::should_touch(t, t + Duration::seconds(60)));
    }

    #[test]
    fn failures_are_limited_per_account_and_per_address() {
        let l = LoginLimits::default();
        assert!(l.allows(4, 29));
        assert!(!l.allows(5, 0));
        assert!(!l.allows(0, 30));
        for p in [LinkPurpose::Setup, LinkPurpose::Invite, LinkPurpose::Reset] {
            assert_eq!(LinkPurpose::parse(p.as_str()), Some(p));
        }
        assert!(LinkPurpose::Reset.lifetime() < LinkPurpose::Invite.lifetime());
    }
}
