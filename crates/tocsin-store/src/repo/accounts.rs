//! Passwords, sessions and single-use links. Secrets are stored as hashes: a session's cookie and a link's token
//! are random and long, so a SHA-256 suffices; passwords arrive here already hashed with Argon2id.

use super::catalog::{load_user, user_access, write_user};
use super::rows::ts;
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{
    AccountLink, AccountRepo, Conflict, NewSession, Redeem, Result, SessionRecord, StoreError,
    UserAccess,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::account::{LinkPurpose, SessionPolicy};
use tocsin_domain::auth::Role;
use tocsin_domain::catalog::User;
use tocsin_domain::ids::{SessionId, UserId};

const SESSION_COLUMNS: &str =
    "id, user_id, created_at, last_seen_at, address, user_agent, revoked_at";

fn session(row: &Row<'_>) -> Result<SessionRecord> {
    Ok(SessionRecord {
        id: SessionId::from_trusted(row.get(0)?),
        user_id: UserId::from_trusted(row.get(1)?),
        created_at: row.time(2)?,
        last_seen_at: row.time(3)?,
        address: row.get(4)?,
        user_agent: row.get(5)?,
        revoked_at: row.opt_time(6)?,
    })
}

fn load_session(c: &dyn Conn, id: &SessionId) -> Result<SessionRecord> {
    c.find(
        &format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE id = ?1"),
        params![id.as_str()],
        session,
        "session",
        id.as_str(),
    )
}

fn end_sessions_of(c: &dyn Conn, user: &UserId, now: DateTime<Utc>) -> Result<()> {
    c.execute_later(
        "UPDATE sessions SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
        params![user.as_str(), ts(now)],
    )
}

fn set_password(
    c: &dyn Conn,
    user: &UserId,
    hash: &str,
    end_sessions: bool,
    now: DateTime<Utc>,
) -> Result<()> {
    let n = c.execute(
        "UPDATE users SET password_hash = ?2, updated_at = ?3 WHERE id = ?1",
        params![user.as_str(), hash, ts(now)],
    )?;
    if n == 0 {
        return Err(StoreError::not_found("user", user.as_str()));
    }
    if end_sessions {
        end_sessions_of(c, user, now)?;
    }
    Ok(())
}

#[async_trait]
impl AccountRepo for SqlStore {
    async fn credentials(&self, email: &str) -> Result<Option<(User, Option<String>)>> {
        let email = email.to_lowercase();
        self.read(move |c| {
            let hash: Option<Option<String>> = c.query_opt(
                "SELECT password_hash FROM users WHERE email = ?1",
                params![email],
                |r| r.get(0),
            )?;
            let Some(hash) = hash else { return Ok(None) };
            let user = load_user(c, &tocsin_domain::refs::UserRef::Email(email.clone()))?;
            Ok(Some((user, hash)))
        })
        .await
    }

    async fn set_password(
        &self,
        user: &UserId,
        hash: &str,
        end_sessions: bool,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (user, hash) = (user.clone(), hash.to_owned());
        self.write(move |c| set_password(c, &user, &hash, end_sessions, now))
            .await
    }

    async fn start_session(&self, new: NewSession, now: DateTime<Utc>) -> Result<SessionRecord> {
        self.write(move |c| {
            let id = SessionId::generate();
            c.execute(
                "INSERT INTO sessions (id, token_hash, user_id, created_at, last_seen_at, address, user_agent) \
                 VALUES (?1, ?2, ?3, ?4, ?4, ?5, ?6)",
                params![
                    id.as_str(),
                    new.token_hash,
                    new.user_id.as_str(),
                    ts(now),
                    new.address.as_deref(),
                    new.user_agent
                ],
            )?;
            load_session(c, &id)
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &str,
        policy: SessionPolicy,
        now: DateTime<Utc>,
    ) -> Result<Option<(SessionRecord, User, UserAccess)>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let found = c.query_opt(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1 AND revoked_at IS NULL"
                ),
                params![hash],
                session,
            )?;
            let Some(s) = found.filter(|s| policy.holds(s.created_at, s.last_seen_at, now)) else {
                return Ok(None);
            };
            let user = load_user(c, &s.user_id.clone().into())?;
            let access = user_access(c, &s.user_id)?;
            Ok(Some((s, user, access)))
        })
        .await
    }

    async fn touch_session(&self, id: &SessionId, now: DateTime<Utc>) -> Result<()> {
        let id = id.clone();
        self.write(move |c| {
            c.execute_later(
                "UPDATE sessions SET last_seen_at = ?2 WHERE id = ?1 AND last_seen_at < ?2",
                params![id.as_str(), ts(now)],
            )
        })
        .await
    }

    async fn sessions(&self, user: &UserId) -> Result<Vec<SessionRecord>> {
        let user = user.clone();
        self.read(move |c| {
            c.query_all(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE user_id = ?1 AND revoked_at IS NULL \
                     ORDER BY created_at DESC, id DESC"
                ),
                params![user.as_str()],
                session,
            )
        })
        .await
    }

    async fn get_session(&self, id: &SessionId) -> Result<SessionRecord> {
        let id = id.clone();
        self.read(move |c| load_session(c, &id)).await
    }

    async fn end_session(&self, id: &SessionId, now: DateTime<Utc>) -> Result<SessionRecord> {
        let id = id.clone();
        self.write(move |c| {
            c.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), ts(now)],
            )?;
            load_session(c, &id)
        })
        .await
    }

    async fn create_link(
        &self,
        token_hash: &str,
        purpose: LinkPurpose,
        user: Option<&UserId>,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let (hash, user) = (token_hash.to_owned(), user.cloned());
        let expires_at = now + purpose.lifetime();
        self.write(move |c| {
            c.execute(
                "INSERT INTO account_links (token_hash, purpose, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    hash,
                    purpose.as_str(),
                    user.as_ref().map(UserId::as_str),
                    ts(now),
                    ts(expires_at)
                ],
            )?;
            Ok(expires_at)
        })
        .await
    }

    async fn link(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<AccountLink>> {
        let hash = token_hash.to_owned();
        self.read(move |c| live_link(c, &hash, now)).await
    }

    async fn redeem_link(
        &self,
        token_hash: &str,
        redeem: Redeem,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let hash = token_hash.to_owned();
        self.write(move |c| {
            let Some(link) = live_link(c, &hash, now)? else {
                return Err(StoreError::not_found("link", "this link"));
            };
            let user = match (&redeem, link.purpose, &link.user) {
                (Redeem::SetPassword { hash: password }, LinkPurpose::Invite | LinkPurpose::Reset, Some(user)) => {
                    set_password(c, &user.id, password, link.purpose == LinkPurpose::Reset, now)?;
                    user.id.clone()
                }
                (Redeem::CreateOwner { spec, hash: password }, LinkPurpose::Setup, None) => {
                    // A setup link is for a server nobody can sign in to as owner yet, and never takes over
                    // an account someone signs in to: checked here, in the transaction that would do it.
                    if has_owner_account(c)? {
                        return Err(Conflict::AlreadySetUp.into());
                    }
                    let existing: Option<(String, Option<String>)> = c.query_opt(
                        "SELECT id, password_hash FROM users WHERE email = ?1",
                        params![spec.email.as_str()],
                        |r| Ok((r.get(0)?, r.get(1)?)),
                    )?;
                    if existing.as_ref().is_some_and(|(_, hash)| hash.is_some()) {
                        return Err(Conflict::NameTaken {
                            kind: "account",
                            name: spec.email.to_string(),
                        }
                        .into());
                    }
                    let existing = existing.map(|(id, _)| UserId::from_trusted(id));
                    let id = write_user(c, existing.as_ref(), spec, now)?;
                    c.execute(
                        "UPDATE account_links SET used_at = ?1 WHERE purpose = ?2 AND used_at IS NULL",
                        params![ts(now), LinkPurpose::Setup.as_str()],
                    )?;
                    c.execute(
                        "UPDATE users SET role = ?2 WHERE id = ?1",
                        params![id.as_str(), Role::Owner.as_str()],
                    )?;
                    set_password(c, &id, password, false, now)?;
                    id
                }
                _ => return Err(StoreError::not_found("link", "this link")),
            };
            c.execute(
                "UPDATE account_links SET used_at = ?2 WHERE used_at IS NULL AND (token_hash = ?1 OR user_id = ?3)",
                params![hash, ts(now), user.as_str()],
            )?;
            load_user(c, &user.into())
        })
        .await
    }

    async fn has_owner_account(&self) -> Result<bool> {
        self.read(has_owner_account).await
    }

    async fn has_password(&self, user: &UserId) -> Result<bool> {
        let user = user.clone();
        self.read(move |c| {
            c.exists(
                "SELECT 1 FROM users WHERE id = ?1 AND password_hash IS NOT NULL",
                params![user.as_str()],
            )
        })
        .await
    }

    async fn create_setup_link(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<DateTime<Utc>> {
        let hash = token_hash.to_owned();
        let expires_at = now + LinkPurpose::Setup.lifetime();
        self.write(move |c| {
            // Only the newest setup link works: each start that offers one replaces the last.
            c.execute(
                "UPDATE account_links SET used_at = ?1 WHERE purpose = ?2 AND used_at IS NULL",
                params![ts(now), LinkPurpose::Setup.as_str()],
            )?;
            c.execute(
                "INSERT INTO account_links (token_hash, purpose, user_id, created_at, expires_at) \
                 VALUES (?1, ?2, NULL, ?3, ?4)",
                params![hash, LinkPurpose::Setup.as_str(), ts(now), ts(expires_at)],
            )?;
            Ok(expires_at)
        })
        .await
    }

    async fn prune(&self, now: DateTime<Utc>, policy: SessionPolicy) -> Result<u64> {
        // Kept a day after they stop working, so that "this link no longer works" and a list of recent sessions
        // still make sense; then nothing about them is worth keeping.
        let grace = chrono::Duration::days(1);
        self.write(move |c| {
            let sessions = c.execute(
                "DELETE FROM sessions WHERE revoked_at < ?1 OR created_at < ?2 OR last_seen_at < ?3",
                params![
                    ts(now - grace),
                    ts(now - policy.absolute - grace),
                    ts(now - policy.idle - grace)
                ],
            )?;
            let links = c.execute(
                "DELETE FROM account_links WHERE used_at < ?1 OR expires_at < ?1",
                params![ts(now - grace)],
            )?;
            Ok((sessions + links) as u64)
        })
        .await
    }
}

fn has_owner_account(c: &dyn Conn) -> Result<bool> {
    c.exists(
        "SELECT 1 FROM users WHERE role = ?1 AND password_hash IS NOT NULL",
        params![Role::Owner.as_str()],
    )
}

fn live_link(c: &dyn Conn, hash: &str, now: DateTime<Utc>) -> Result<Option<AccountLink>> {
    let row: Option<(String, Option<String>, DateTime<Utc>)> = c.query_opt(
        "SELECT purpose, user_id, expires_at FROM account_links \
         WHERE token_hash = ?1 AND used_at IS NULL AND expires_at > ?2",
        params![hash, ts(now)],
        |r| Ok((r.get(0)?, r.get(1)?, r.time(2)?)),
    )?;
    let Some((purpose, user, expires_at)) = row else {
        return Ok(None);
    };
    let purpose = LinkPurpose::parse(&purpose)
        .ok_or_else(|| StoreError::Backend(format!("unknown link purpose {purpose:?}")))?;
    let user = match user {
        Some(id) => Some(load_user(c, &UserId::from_trusted(id).into())?),
        None => None,
    };
    Ok(Some(AccountLink {
        purpose,
        user,
        expires_at,
    }))
}
