//! Slack: `slack_accounts` (which Slack user is which person), `slack_link_codes` (one-time codes, stored as
//! hashes) and `slack_requests` (signatures already acted on, for refusing replays).

use super::catalog::{load_user, user_access};
use super::rows::ts;
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{Result, SlackRepo, StoreError, UserAccess};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::catalog::User;
use tocsin_domain::ids::UserId;
use tocsin_domain::slack::{LinkedBy, SlackAccount, SlackUser};

fn account(r: &Row<'_>) -> Result<SlackAccount> {
    let linked_by: String = r.get(3)?;
    Ok(SlackAccount {
        slack: SlackUser {
            team_id: r.get(0)?,
            user_id: r.get(1)?,
        },
        user_id: UserId::from_trusted(r.get(2)?),
        linked_by: LinkedBy::parse(&linked_by)
            .ok_or_else(|| StoreError::Backend(format!("unknown Slack link kind {linked_by:?}")))?,
        linked_at: r.time(4)?,
    })
}

/// The person a Slack user is linked to now, and whether a row exists at all (an unlinked one included).
fn linked(c: &dyn Conn, slack: &SlackUser) -> Result<(Option<UserId>, bool)> {
    let row: Option<(String, Option<i64>)> = c.query_opt(
        "SELECT user_id, unlinked_at FROM slack_accounts WHERE team_id = ?1 AND slack_user_id = ?2",
        params![slack.team_id, slack.user_id],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )?;
    Ok(match row {
        Some((user, None)) => (Some(UserId::from_trusted(user)), true),
        Some((_, Some(_))) => (None, true),
        None => (None, false),
    })
}

fn person(c: &dyn Conn, user: UserId) -> Result<(User, UserAccess)> {
    let access = user_access(c, &user)?;
    Ok((load_user(c, &user.into())?, access))
}

#[async_trait]
impl SlackRepo for SqlStore {
    async fn offer_link_code(
        &self,
        code_hash: &str,
        user: &UserId,
        expires_at: DateTime<Utc>,
    ) -> Result<()> {
        let (hash, user) = (code_hash.to_owned(), user.clone());
        self.write(move |c| {
            c.execute(
                "DELETE FROM slack_link_codes WHERE user_id = ?1",
                params![user.as_str()],
            )?;
            c.execute(
                "INSERT INTO slack_link_codes (code_hash, user_id, expires_at) VALUES (?1, ?2, ?3)",
                params![hash, user.as_str(), ts(expires_at)],
            )?;
            Ok(())
        })
        .await
    }

    async fn redeem_link_code(
        &self,
        code_hash: &str,
        slack: &SlackUser,
        now: DateTime<Utc>,
    ) -> Result<User> {
        let (hash, slack) = (code_hash.to_owned(), slack.clone());
        self.write(move |c| {
            let user: Option<String> = c.query_opt(
                "SELECT user_id FROM slack_link_codes WHERE code_hash = ?1 AND expires_at > ?2",
                params![hash, ts(now)],
                |r| r.get(0),
            )?;
            let Some(user) = user.map(UserId::from_trusted) else {
                return Err(StoreError::not_found("link code", "this code"));
            };
            c.execute(
                "DELETE FROM slack_link_codes WHERE code_hash = ?1 OR expires_at <= ?2",
                params![hash, ts(now)],
            )?;
            // A code is the person's own word: it links anew, even a Slack user they unlinked before.
            c.execute(
                "INSERT INTO slack_accounts (team_id, slack_user_id, user_id, linked_by, linked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (team_id, slack_user_id) DO UPDATE SET user_id = excluded.user_id, \
                 linked_by = excluded.linked_by, linked_at = excluded.linked_at, unlinked_at = NULL",
                params![
                    slack.team_id,
                    slack.user_id,
                    user.as_str(),
                    LinkedBy::Code.as_str(),
                    ts(now)
                ],
            )?;
            load_user(c, &user.into())
        })
        .await
    }

    async fn link_by_email(
        &self,
        slack: &SlackUser,
        email: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(User, UserAccess)>> {
        let (slack, email) = (slack.clone(), email.to_lowercase());
        self.write(move |c| {
            // Whatever is known of this Slack user wins over its email: a link by code made meanwhile, or its
            // person's unlinking it, which an email must not undo.
            match linked(c, &slack)? {
                (Some(user), _) => {
                    c.changed_nothing();
                    return person(c, user).map(Some);
                }
                (None, true) => {
                    c.changed_nothing();
                    return Ok(None);
                }
                (None, false) => {}
            }
            let found: Option<String> = c.query_opt(
                "SELECT id FROM users WHERE email = ?1",
                params![email],
                |r| r.get(0),
            )?;
            let Some(user) = found.map(UserId::from_trusted) else {
                c.changed_nothing();
                return Ok(None);
            };
            c.execute(
                "INSERT INTO slack_accounts (team_id, slack_user_id, user_id, linked_by, linked_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![
                    slack.team_id,
                    slack.user_id,
                    user.as_str(),
                    LinkedBy::Email.as_str(),
                    ts(now)
                ],
            )?;
            person(c, user).map(Some)
        })
        .await
    }

    async fn linked_person(&self, slack: &SlackUser) -> Result<Option<(User, UserAccess)>> {
        let slack = slack.clone();
        self.read(move |c| linked(c, &slack)?.0.map(|u| person(c, u)).transpose())
            .await
    }

    async fn slack_accounts(&self, user: &UserId) -> Result<Vec<SlackAccount>> {
        let user = user.clone();
        self.read(move |c| {
            c.query_all(
                "SELECT team_id, slack_user_id, user_id, linked_by, linked_at FROM slack_accounts \
                 WHERE user_id = ?1 AND unlinked_at IS NULL ORDER BY linked_at, team_id, slack_user_id",
                params![user.as_str()],
                account,
            )
        })
        .await
    }

    async fn unlink_slack_account(
        &self,
        user: &UserId,
        slack: &SlackUser,
        now: DateTime<Utc>,
    ) -> Result<()> {
        let (user, slack) = (user.clone(), slack.clone());
        self.write(move |c| {
            let n = c.execute(
                "UPDATE slack_accounts SET unlinked_at = ?4 \
                 WHERE team_id = ?1 AND slack_user_id = ?2 AND user_id = ?3 AND unlinked_at IS NULL",
                params![slack.team_id, slack.user_id, user.as_str(), ts(now)],
            )?;
            if n == 0 {
                return Err(StoreError::not_found(
                    "Slack account",
                    format!("{}/{}", slack.team_id, slack.user_id),
                ));
            }
            Ok(())
        })
        .await
    }

    async fn first_request(
        &self,
        signature: &str,
        now: DateTime<Utc>,
        forget_before: DateTime<Utc>,
    ) -> Result<bool> {
        let signature = signature.to_owned();
        self.write(move |c| {
            c.execute(
                "DELETE FROM slack_requests WHERE received_at < ?1",
                params![ts(forget_before)],
            )?;
            let n = c.execute(
                "INSERT INTO slack_requests (signature, received_at) VALUES (?1, ?2) \
                 ON CONFLICT (signature) DO NOTHING",
                params![signature, ts(now)],
            )?;
            Ok(n == 1)
        })
        .await
    }
}
