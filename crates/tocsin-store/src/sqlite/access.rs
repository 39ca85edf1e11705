//! API tokens and integrations: the credentials, stored as hashes.

use super::catalog::{load_service, load_user};
use super::rows::{find, opt_time, parsed_col, time, to_json, ts};
use super::{SqliteStore, backend};
use crate::{
    ApiToken, Integration, IntegrationConfig, IntegrationKind, IntegrationRepo, NewIntegration,
    NewToken, RawPayload, Result, TokenRepo,
};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Row};
use tocsin_domain::ids::{IntegrationId, ServiceId, TokenId, UserId};

const INTEGRATION_COLUMNS: &str =
    "id, service_id, kind, name, key_prefix, created_at, revoked_at, config";

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
        config: super::rows::json_col(row, 7)?,
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
                "INSERT INTO integrations (id, service_id, kind, name, key_hash, key_prefix, created_at, config) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                rusqlite::params![id.as_str(), service.id.as_str(), new.kind.as_str(), new.name, new.key_hash, new.key_prefix, ts(now), to_json(&new.config)],
            )
            .map_err(backend)?;
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
    async fn by_key(&self, key_hash: &str) -> Result<Option<Integration>> {
        let key_hash = key_hash.to_owned();
        self.read(move |c| {
            c.prepare_cached(&format!(
                "SELECT {INTEGRATION_COLUMNS} FROM integrations WHERE key_hash = ?1 AND revoked_at IS NULL"
            ))
            .and_then(|mut s| s.query_row([key_hash], integration).optional())
            .map_err(backend)
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
                rusqlite::params![id.as_str(), to_json(&config)],
            )
            .map_err(backend)?;
            if let Some(h) = &config.heartbeat {
                super::heartbeat::arm(c, &id, h, current.created_at)?;
            }
            load_integration(c, &id)
        })
        .await
    }
    async fn keep_payloads(&self, payloads: Vec<(IntegrationId, RawPayload)>) -> Result<()> {
        self.write(move |c| {
            for (id, p) in &payloads {
                super::ingest::keep_payload(c, id, p)?;
            }
            Ok(())
        })
        .await
    }
    async fn payloads(&self, id: &IntegrationId, limit: u32) -> Result<Vec<RawPayload>> {
        let id = id.clone();
        self.read(move |c| {
            load_integration(c, &id)?;
            let mut stmt = c
                .prepare_cached(
                    "SELECT received_at, body, truncated, outcome FROM raw_payloads WHERE integration_id = ?1 \
                     ORDER BY received_at DESC LIMIT ?2",
                )
                .map_err(backend)?;
            stmt.query_map(rusqlite::params![id.as_str(), super::rows::page_limit(limit)], |r| {
                Ok(RawPayload { received_at: time(r.get(0)?), body: r.get(1)?, truncated: r.get(2)?, outcome: r.get(3)? })
            })
            .and_then(Iterator::collect)
            .map_err(backend)
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
