use crate::prelude::*;

/// Use cases of integrations.
pub struct Integrations<'a> {
    pub(crate) app: &'a App,
}

impl Integrations<'_> {
    /// Creates an integration on `service` whose key hashes to `key_hash`; the caller keeps the key itself.
    pub async fn create(&self, who: &Principal, new: NewIntegration) -> Result<Integration> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .integrations()
            .create(new, self.app.now())
            .await?)
    }

    pub async fn get(&self, who: &Principal, id: &IntegrationId) -> Result<Integration> {
        who.require(Scope::Read)?;
        Ok(self.app.store.integrations().get(id).await?)
    }

    pub async fn list(&self, who: &Principal, service: &ServiceRef) -> Result<Vec<Integration>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.integrations().list(service).await?)
    }

    /// Revoked keys stop ingesting at once; revoking twice is harmless.
    pub async fn revoke(&self, who: &Principal, id: &IntegrationId) -> Result<Integration> {
        who.require(Scope::Write)?;
        let revoked = self
            .app
            .store
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
        who.require(Scope::Write)?;
        let updated = self
            .app
            .store
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
        // Bodies may hold what a sender considers private even with credentials redacted: writers only.
        who.require(Scope::Write)?;
        // What arrived in the last second is still buffered; show it too.
        self.app.intake.flush_payloads(&*self.app.store).await?;
        Ok(self.app.store.integrations().payloads(id, limit).await?)
    }
}

/// Use cases of tokens.
pub struct Tokens<'a> {
    pub(crate) app: &'a App,
}

impl Tokens<'_> {
    pub async fn create(&self, who: &Principal, new: NewToken) -> Result<ApiToken> {
        who.require(Scope::Admin)?;
        Ok(self.app.store.tokens().create(new, self.app.now()).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<ApiToken>> {
        who.require(Scope::Admin)?;
        Ok(self.app.store.tokens().list().await?)
    }

    pub async fn revoke(&self, who: &Principal, id: &TokenId) -> Result<ApiToken> {
        who.require(Scope::Admin)?;
        Ok(self.app.store.tokens().revoke(id, self.app.now()).await?)
    }
}
