use crate::prelude::*;
use tocsin_domain::auth::{Secret, display_prefix, new_api_token, new_integration_key};

/// Use cases of integrations. A service's integrations are its team's to manage.
pub struct Integrations<'a> {
    pub(crate) app: &'a App,
}

/// What a person asks for when they add an integration to a service.
#[derive(Debug, Clone)]
pub struct IntegrationRequest {
    pub service: ServiceRef,
    pub kind: IntegrationKind,
    /// A label; the kind's name when blank.
    pub name: Option<String>,
    pub config: IntegrationConfig,
}

/// A new key, to be shown once: only its hash is stored.
pub struct Issued<T> {
    pub record: T,
    pub secret: Secret,
}

fn nested(e: tocsin_domain::ValidationErrors, prefix: &str) -> tocsin_domain::ValidationErrors {
    tocsin_domain::ValidationErrors(e.0.into_iter().map(|f| f.under(prefix)).collect())
}

impl Integrations<'_> {
    /// Adds an integration with a new key to a service.
    pub async fn issue(
        &self,
        who: &Principal,
        req: IntegrationRequest,
    ) -> Result<Issued<Integration>> {
        req.config
            .validate(req.kind)
            .map_err(|e| StoreError::Invalid(nested(e, "config")))?;
        let key = new_integration_key();
        let name = req
            .name
            .map(|n| n.trim().to_owned())
            .filter(|n| !n.is_empty())
            .unwrap_or_else(|| req.kind.as_str().to_owned());
        if name.chars().count() > 100 {
            return Err(invalid("name", "must be at most 100 characters"));
        }
        let new = NewIntegration {
            service: req.service,
            kind: req.kind,
            name,
            key_hash: key.hash(),
            key_prefix: key.expose()[..6].to_owned(),
            config: req.config,
        };
        Ok(Issued {
            record: self.create(who, new).await?,
            secret: key,
        })
    }

    /// Creates an integration on `service` whose key hashes to `key_hash`; the caller keeps the key itself.
    pub async fn create(&self, who: &Principal, new: NewIntegration) -> Result<Integration> {
        self.app
            .require_team(who, self.app.service_team(&new.service))
            .await?;
        let summary =
            json!({"after": {"service": new.service.key(), "kind": new.kind, "name": new.name}});
        Ok(self
            .app
            .audited(who, "integration.create", &new.name, summary)
            .integrations()
            .create(new, self.app.now())
            .await?)
    }

    pub async fn get(&self, who: &Principal, id: &IntegrationId) -> Result<Integration> {
        who.require(Need::Read)?;
        Ok(self.app.store.integrations().get(id).await?)
    }

    pub async fn list(&self, who: &Principal, service: &ServiceRef) -> Result<Vec<Integration>> {
        who.require(Need::Read)?;
        Ok(self.app.store.integrations().list(service).await?)
    }

    /// Refuses `who` unless they may manage the integration's service.
    async fn require_manager(&self, who: &Principal, id: &IntegrationId) -> Result<()> {
        self.app
            .require_team(who, async {
                let integration = self.app.store.integrations().get(id).await?;
                self.app
                    .service_team(&integration.service_id.clone().into())
                    .await
            })
            .await
    }

    /// Revoked keys stop ingesting at once; revoking twice is harmless.
    pub async fn revoke(&self, who: &Principal, id: &IntegrationId) -> Result<Integration> {
        self.require_manager(who, id).await?;
        let revoked = self
            .app
            .audited(who, "integration.revoke", id, json!({}))
            .integrations()
            .revoke(id, self.app.now())
            .await?;
        self.app.intake.forget(id);
        Ok(revoked)
    }

    pub async fn update_config(
        &self,
        who: &Principal,
        id: &IntegrationId,
        config: IntegrationConfig,
    ) -> Result<Integration> {
        self.require_manager(who, id).await?;
        let before = self.app.store.integrations().get(id).await?.config;
        let summary = json!({"before": before, "after": config});
        let updated = self
            .app
            .audited(who, "integration.configure", id, summary)
            .integrations()
            .update_config(id, config)
            .await?;
        self.app.intake.forget(id);
        Ok(updated)
    }

    /// The most recent request bodies the integration accepted, newest first.
    pub async fn payloads(
        &self,
        who: &Principal,
        id: &IntegrationId,
        limit: u32,
    ) -> Result<Vec<RawPayload>> {
        // Bodies may hold what a sender considers private even with credentials redacted: their managers only.
        self.require_manager(who, id).await?;
        // What arrived in the last second is still buffered; show it too.
        self.app.intake.flush_payloads(&*self.app.store).await?;
        Ok(self.app.store.integrations().payloads(id, limit).await?)
    }
}

/// Use cases of API tokens.
pub struct Tokens<'a> {
    pub(crate) app: &'a App,
}

/// What a person asks for when they make an API token.
#[derive(Debug, Clone)]
pub struct TokenRequest {
    pub name: String,
    /// The role it holds; `None` for a token that acts with its user's role, whatever it is then.
    pub role: Option<Role>,
    pub expires_at: Option<DateTime<Utc>>,
    /// The person it acts as, by ID or email.
    pub user: Option<UserRef>,
}

fn invalid(field: &str, message: &str) -> crate::Error {
    StoreError::Invalid(tocsin_domain::FieldError::new(field, message).into()).into()
}

impl Tokens<'_> {
    /// Makes a token with a new secret, after checking what was asked for.
    pub async fn issue(&self, who: &Principal, req: TokenRequest) -> Result<Issued<ApiToken>> {
        let name = req.name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(invalid("name", "must be 1 to 100 characters"));
        }
        if req.expires_at.is_some_and(|e| e <= self.app.now()) {
            return Err(invalid("expires_at", "must be in the future"));
        }
        let secret = new_api_token();
        let new = NewToken {
            name: name.to_owned(),
            role: req.role,
            expires_at: req.expires_at,
            user: req.user,
            token_hash: secret.hash(),
            token_prefix: display_prefix(secret.expose()),
        };
        let record = self.create(who, new).await.map_err(|e| match e {
            crate::Error::Store(StoreError::NotFound { key, .. }) => {
                invalid("user", &format!("no user {key:?}"))
            }
            e => e,
        })?;
        Ok(Issued { record, secret })
    }

    /// Anyone who may respond may make a token acting as themselves; other tokens are the admins'. Nobody makes a
    /// token holding more than their own role: a token acting as a person holds at most that person's role.
    pub async fn create(&self, who: &Principal, mut new: NewToken) -> Result<ApiToken> {
        let user = match &new.user {
            Some(u) => Some(self.app.store.users().get(u).await?),
            None => None,
        };
        let holds = match (&user, new.role) {
            // One's own token may follow one's role as it changes.
            (Some(user), role) if who.grant.user.as_ref() == Some(&user.id) => {
                who.require(Need::Own(&user.id))?;
                role.map_or(user.role, |r| r.min(user.role))
            }
            // A token for someone else holds a fixed role, at most theirs, and only someone who may hold their role
            // may make one: it is credited to them.
            (Some(user), role) => {
                who.require(Need::Configure)?;
                who.require(Need::Grant(user.role))?;
                let holds = role.map_or(user.role, |r| r.min(user.role));
                new.role = Some(holds);
                holds
            }
            (None, Some(role)) => {
                who.require(Need::Configure)?;
                role
            }
            (None, None) => {
                return Err(invalid(
                    "role",
                    "is needed for a token that does not act as a user: observer, responder, admin or owner",
                ));
            }
        };
        who.require(Need::Grant(holds))?;
        if let Some(role) = new.role {
            new.role = Some(role.min(holds));
        }
        let summary = json!({"after": {
            "role": new.role,
            "holds": holds,
            "user": user.as_ref().map(|u| u.email.as_str()),
            "expires_at": new.expires_at,
        }});
        Ok(self
            .app
            .audited(who, "token.create", &new.name, summary)
            .tokens()
            .create(new, self.app.now())
            .await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<ApiToken>> {
        who.require(Need::Configure)?;
        Ok(self.app.store.tokens().list().await?)
    }

    /// A person revokes their own tokens; admins others', if they may hold the role those tokens hold.
    pub async fn revoke(&self, who: &Principal, id: &TokenId) -> Result<ApiToken> {
        let tokens = self.app.store.tokens().list().await?;
        let token = tokens
            .into_iter()
            .find(|t| &t.id == id)
            .ok_or_else(|| StoreError::not_found("token", id.as_str()))?;
        match &token.user_id {
            Some(user) if who.grant.user.as_ref() == Some(user) => who.require(Need::Own(user))?,
            user => {
                who.require(Need::Configure)?;
                let user_role = match user {
                    Some(u) => Some(self.app.store.users().get(&u.clone().into()).await?.role),
                    None => None,
                };
                let holds = match (token.role, user_role) {
                    (Some(r), Some(u)) => r.min(u),
                    (Some(r), None) => r,
                    (None, u) => u.unwrap_or(Role::Observer),
                };
                who.require(Need::Grant(holds))?;
            }
        }
        Ok(self
            .app
            .audited(who, "token.revoke", id, json!({}))
            .tokens()
            .revoke(id, self.app.now())
            .await?)
    }
}
