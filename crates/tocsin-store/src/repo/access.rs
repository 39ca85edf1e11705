//! API tokens and integrations: the credentials, stored as hashes.

use super::catalog::{load_service, load_user, user_access};
use super::rows::{to_json, ts};
use crate::db::SqlStore;
use crate::params;
use crate::sql::{Conn, Row};
use crate::{
    ApiToken, Conflict, Integration, IntegrationConfig, IntegrationKind, IntegrationRepo,
    NewIntegration, NewToken, RawPayload, Result, StoreError, TokenRepo, UserAccess,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use tocsin_domain::audit::AuditEntry;
use tocsin_domain::auth::Role;
use tocsin_domain::ids::{IntegrationId, ServiceId, TokenId, UserId};
use tocsin_domain::refs::ServiceRef;

const INTEGRATION_COLUMNS: &str =
    "id, service_id, kind, name, key_prefix, created_at, revoked_at, config";

fn integration(row: &Row<'_>) -> Result<Integration> {
    let kind: String = row.get(2)?;
    Ok(Integration {
        id: IntegrationId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        kind: IntegrationKind::parse(&kind)
            .ok_or_else(|| crate::StoreError::Backend(format!("column 2: unknown kind {kind}")))?,
        name: row.get(3)?,
        key_prefix: row.get(4)?,
        created_at: row.time(5)?,
        revoked_at: row.opt_time(6)?,
        config: row.json(7)?,
    })
}

fn load_integration(conn: &dyn Conn, id: &IntegrationId) -> Result<Integration> {
    conn.find(
        &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = ?1"),
        params![id.as_str()],
        integration,
        "integration",
        id.as_str(),
    )
}

#[async_trait]
impl IntegrationRepo for SqlStore {
    async fn create(&self, new: NewIntegration, now: DateTime<Utc>) -> Result<Integration> {
        self.write(move |c| {
            let service = load_service(c, &new.service)?;
            let id = IntegrationId::generate();
            c.execute(
                "INSERT INTO integrations (id, service_id, kind, name, key_hash, key_prefix, created_at, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![id.as_str(), service.id.as_str(), new.kind.as_str(), new.name, new.key_hash, new.key_prefix, ts(now), to_json(&new.config)],
            )?;
            if let Some(h) = &new.config.heartbeat {
                super::heartbeat::arm(c, &id, h, now)?;
            }
            load_integration(c, &id)
        })
        .await
    }
    async fn get(&self, id: &IntegrationId) -> Result<Integration> {
        let id = id.clone();
        self.read(move |c| load_integration(c, &id)).await
    }
    async fn list(&self, service: &ServiceRef) -> Result<Vec<Integration>> {
        let service = service.to_owned();
        self.read(move |c| {
            let s = load_service(c, &service)?;
            c.query_all(
                &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE service_id = ?1 ORDER BY created_at, id"),
                params![s.id.as_str()],
                integration,
            )
        })
        .await
    }
    async fn revoke(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<Integration> {
        let id = id.clone();
        self.write(move |c| {
            load_integration(c, &id)?;
            c.execute(
                "UPDATE integrations SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), ts(now)],
            )?;
            load_integration(c, &id)
        })
        .await
    }
    async fn by_key(&self, key_hash: &str) -> Result<Option<Integration>> {
        let key_hash = key_hash.to_owned();
        self.read(move |c| {
            c.query_opt(
                &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE key_hash = ?1 AND revoked_at IS NULL"),
                params![key_hash],
                integration,
            )
        })
        .await
    }
    async fn update_config(
        &self,
        id: &IntegrationId,
        config: IntegrationConfig,
    ) -> Result<Integration> {
        let id = id.clone();
        self.write(move |c| {
            let current = load_integration(c, &id)?;
            config
                .validate(current.kind)
                .map_err(crate::StoreError::Invalid)?;
            c.execute(
                "UPDATE integrations SET config = ?2 WHERE id = ?1",
                params![id.as_str(), to_json(&config)],
            )?;
            if let Some(h) = &config.heartbeat {
                super::heartbeat::arm(c, &id, h, current.created_at)?;
            }
            load_integration(c, &id)
        })
        .await
    }
    async fn keep_payloads(&self, payloads: Vec<(IntegrationId, RawPayload)>) -> Result<()> {
        self.write(move |c| super::ingest::keep_payloads(c, &payloads))
            .await
    }
    async fn payloads(&self, id: &IntegrationId, limit: u32) -> Result<Vec<RawPayload>> {
        let id = id.clone();
        self.read(move |c| {
            load_integration(c, &id)?;
            c.query_all(
                "SELECT received_at, body, truncated, outcome FROM raw_payloads WHERE integration_id = ?1 \
                 ORDER BY received_at DESC, slot DESC LIMIT ?2",
                params![id.as_str(), super::rows::page_limit(limit)],
                |r| Ok(RawPayload { received_at: r.time(0)?, body: r.get(1)?, truncated: r.get(2)?, outcome: r.get(3)? }),
            )
        })
        .await
    }
}

const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.role, t.token_prefix, t.user_id, u.name, t.created_at, t.expires_at, t.revoked_at \
     FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id";

fn token(row: &Row<'_>) -> Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        role: row
            .get::<Option<String>>(2)?
            .map(|r| r.parse().map_err(StoreError::Backend))
            .transpose()?,
        token_prefix: row.get(3)?,
        user_id: row.get::<Option<String>>(4)?.map(UserId::from_trusted),
        user_name: row.get(5)?,
        created_at: row.time(6)?,
        expires_at: row.opt_time(7)?,
        revoked_at: row.opt_time(8)?,
    })
}

fn load_token(conn: &dyn Conn, id: &TokenId) -> Result<ApiToken> {
    conn.find(
        &format!("{TOKEN_SELECT} WHERE t.id = ?1"),
        params![id.as_str()],
        token,
        "token",
        id.as_str(),
    )
}

fn insert_token(c: &dyn Conn, new: &NewToken, now: DateTime<Utc>) -> Result<TokenId> {
    let user_id = match &new.user {
        Some(u) => Some(load_user(c, u)?.id),
        None => None,
    };
    let id = TokenId::generate();
    c.execute(
        "INSERT INTO api_tokens (id, name, token_hash, token_prefix, role, user_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            id.as_str(),
            new.name,
            new.token_hash,
            new.token_prefix,
            new.role.map(Role::as_str),
            user_id.as_ref().map(|u| u.as_str()),
            ts(now),
            new.expires_at.map(ts)
        ],
    )?;
    Ok(id)
}

#[async_trait]
impl TokenRepo for SqlStore {
    async fn create(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken> {
        self.write(move |c| {
            let id = insert_token(c, &new, now)?;
            load_token(c, &id)
        })
        .await
    }
    async fn bootstrap(
        &self,
        new: NewToken,
        audit: AuditEntry,
        now: DateTime<Utc>,
    ) -> Result<bool> {
        self.write(move |c| {
            if c.exists("SELECT 1 FROM api_tokens LIMIT 1", params![])? {
                return Ok(false);
            }
            insert_token(c, &new, now)?;
            super::audit::insert(c, &audit)?;
            Ok(true)
        })
        .await
    }
    async fn authenticate(
        &self,
        token_hash: &str,
        now: DateTime<Utc>,
    ) -> Result<Option<(ApiToken, Option<UserAccess>)>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            let Some(token) = c.query_opt(
                &format!(
                    "{TOKEN_SELECT} WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)"
                ),
                params![hash, ts(now)],
                token,
            )?
            else {
                return Ok(None);
            };
            let access = match &token.user_id {
                Some(user) => Some(user_access(c, user)?),
                // A token that acted with its user's role acts for nobody once the user is deleted.
                None if token.role.is_none() => return Ok(None),
                None => None,
            };
            Ok(Some((token, access)))
        })
        .await
    }
    async fn list(&self) -> Result<Vec<ApiToken>> {
        self.read(|c| {
            c.query_all(
                &format!("{TOKEN_SELECT} ORDER BY t.created_at, t.id"),
                params![],
                token,
            )
        })
        .await
    }
    async fn revoke(&self, id: &TokenId, now: DateTime<Utc>) -> Result<ApiToken> {
        let id = id.clone();
        self.write(move |c| {
            let token = load_token(c, &id)?;
            c.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id.as_str(), ts(now)],
            )?;
            let stood_for_owners = token.role == Some(Role::Owner) && token.user_id.is_none();
            if stood_for_owners && !super::catalog::an_owner_remains(c, now)? {
                return Err(Conflict::LastAdmin.into());
            }
            load_token(c, &id)
        })
        .await
    }
}
