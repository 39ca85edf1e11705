//! API tokens and integrations: the credentials, stored as hashes.

use super::catalog::{load_service, load_user};
use super::rows::{find, opt_time, parsed_col, time, ts};
use super::{SqliteStore, backend};
use crate::{
    ApiToken, Integration, IntegrationKind, IntegrationRepo, NewIntegration, NewToken, Result,
    TokenRepo,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use tocsin_domain::ids::{IntegrationId, ServiceId, TokenId, UserId};

const INTEGRATION_COLUMNS: &str = "id, service_id, kind, name, key_prefix, created_at, revoked_at";

fn integration(row: &Row<'_>) -> rusqlite::Result<Integration> {
    let kind: String = row.get(2)?;
    Ok(Integration {
        id: IntegrationId::from_trusted(row.get(0)?),
        service_id: ServiceId::from_trusted(row.get(1)?),
        kind: IntegrationKind::parse(&kind).ok_or_else(|| {
            rusqlite::Error::FromSqlConversionFailure(
                2,
                rusqlite::types::Type::Text,
                format!("unknown kind {kind}").into(),
            )
        })?,
        name: row.get(3)?,
        key_prefix: row.get(4)?,
        created_at: time(row.get(5)?),
        revoked_at: opt_time(row.get(6)?),
    })
}

fn load_integration(conn: &Connection, id: &IntegrationId) -> Result<Integration> {
    find(
        conn,
        &format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE id = ?1"),
        [id.as_str()],
        integration,
        "integration",
        id.as_str(),
    )
}

#[async_trait]
impl IntegrationRepo for SqliteStore {
    async fn create(&self, new: NewIntegration, now: DateTime<Utc>) -> Result<Integration> {
        self.write(move |c| {
            let service = load_service(c, &new.service)?;
            let id = IntegrationId::generate();
            c.execute(
                "INSERT INTO integrations (id, service_id, kind, name, key_hash, key_prefix, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                rusqlite::params![id.as_str(), service.id.as_str(), new.kind.as_str(), new.name, new.key_hash, new.key_prefix, ts(now)],
            )
            .map_err(backend)?;
            load_integration(c, &id)
        })
        .await
    }
    async fn get(&self, id: &IntegrationId) -> Result<Integration> {
        let id = id.clone();
        self.read(move |c| load_integration(c, &id)).await
    }
    async fn list(&self, service: &str) -> Result<Vec<Integration>> {
        let service = service.to_owned();
        self.read(move |c| {
            let s = load_service(c, &service)?;
            let mut stmt = c
                .prepare_cached(&format!("SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE service_id = ?1 ORDER BY created_at"))
                .map_err(backend)?;
            stmt.query_map([s.id.as_str()], integration).and_then(Iterator::collect).map_err(backend)
        })
        .await
    }
    async fn revoke(&self, id: &IntegrationId, now: DateTime<Utc>) -> Result<Integration> {
        let id = id.clone();
        self.write(move |c| {
            load_integration(c, &id)?;
            c.execute(
                "UPDATE integrations SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                rusqlite::params![id.as_str(), ts(now)],
            )
            .map_err(backend)?;
            load_integration(c, &id)
        })
        .await
    }
}

const TOKEN_SELECT: &str = "SELECT t.id, t.name, t.scope, t.token_prefix, t.user_id, u.name, t.created_at, t.expires_at, t.revoked_at \
     FROM api_tokens t LEFT JOIN users u ON u.id = t.user_id";

fn token(row: &Row<'_>) -> rusqlite::Result<ApiToken> {
    Ok(ApiToken {
        id: TokenId::from_trusted(row.get(0)?),
        name: row.get(1)?,
        scope: parsed_col(row, 2)?,
        token_prefix: row.get(3)?,
        user_id: row.get::<_, Option<String>>(4)?.map(UserId::from_trusted),
        user_name: row.get(5)?,
        created_at: time(row.get(6)?),
        expires_at: opt_time(row.get(7)?),
        revoked_at: opt_time(row.get(8)?),
    })
}

fn load_token(conn: &Connection, id: &TokenId) -> Result<ApiToken> {
    find(
        conn,
        &format!("{TOKEN_SELECT} WHERE t.id = ?1"),
        [id.as_str()],
        token,
        "token",
        id.as_str(),
    )
}

fn insert_token(c: &Connection, new: &NewToken, now: DateTime<Utc>) -> Result<TokenId> {
    let user_id = match &new.user {
        Some(u) => Some(load_user(c, u)?.id),
        None => None,
    };
    let id = TokenId::generate();
    c.execute(
        "INSERT INTO api_tokens (id, name, token_hash, token_prefix, scope, user_id, created_at, expires_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        rusqlite::params![
            id.as_str(),
            new.name,
            new.token_hash,
            new.token_prefix,
            new.scope.as_str(),
            user_id.as_ref().map(|u| u.as_str()),
            ts(now),
            new.expires_at.map(ts)
        ],
    )
    .map_err(backend)?;
    Ok(id)
}

#[async_trait]
impl TokenRepo for SqliteStore {
    async fn create(&self, new: NewToken, now: DateTime<Utc>) -> Result<ApiToken> {
        self.write(move |c| {
            let id = insert_token(c, &new, now)?;
            load_token(c, &id)
        })
        .await
    }
    async fn bootstrap(&self, new: NewToken, now: DateTime<Utc>) -> Result<bool> {
        self.write(move |c| {
            let any: Option<i64> = c
                .query_row("SELECT 1 FROM api_tokens LIMIT 1", [], |r| r.get(0))
                .optional()
                .map_err(backend)?;
            if any.is_some() {
                return Ok(false);
            }
            insert_token(c, &new, now)?;
            Ok(true)
        })
        .await
    }
    async fn authenticate(&self, token_hash: &str, now: DateTime<Utc>) -> Result<Option<ApiToken>> {
        let hash = token_hash.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "{TOKEN_SELECT} WHERE t.token_hash = ?1 AND t.revoked_at IS NULL AND (t.expires_at IS NULL OR t.expires_at > ?2)"
            ))
            .and_then(|mut s| s.query_row(rusqlite::params![hash, ts(now)], token).optional())
            .map_err(backend)
        })
        .await
    }
    async fn list(&self) -> Result<Vec<ApiToken>> {
        self.read(|c| {
            let mut stmt = c
                .prepare_cached(&format!("{TOKEN_SELECT} ORDER BY t.created_at"))
                .map_err(backend)?;
            stmt.query_map([], token)
                .and_then(Iterator::collect)
                .map_err(backend)
        })
        .await
    }
    async fn revoke(&self, id: &TokenId, now: DateTime<Utc>) -> Result<ApiToken> {
        let id = id.clone();
        self.write(move |c| {
            load_token(c, &id)?;
            c.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                rusqlite::params![id.as_str(), ts(now)],
            )
            .map_err(backend)?;
            load_token(c, &id)
        })
        .await
    }
}
