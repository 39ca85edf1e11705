use crate::prelude::*;

/// Use cases of users.
pub struct Users<'a> {
    pub(crate) app: &'a App,
}

impl Users<'_> {
    pub async fn create(&self, who: &Principal, spec: UserSpec) -> Result<User> {
        who.require(Scope::Write)?;
        Ok(self.app.store.users().create(spec, self.app.now()).await?)
    }

    pub async fn get(&self, who: &Principal, user: &UserRef) -> Result<User> {
        who.require(Scope::Read)?;
        Ok(self.app.store.users().get(user).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<User>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.users().list().await?)
    }

    pub async fn replace(&self, who: &Principal, user: &UserRef, spec: UserSpec) -> Result<User> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .users()
            .replace(user, spec, self.app.now())
            .await?)
    }

    pub async fn delete(&self, who: &Principal, user: &UserRef) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.users().delete(user).await?)
    }
}

/// Use cases of teams.
pub struct Teams<'a> {
    pub(crate) app: &'a App,
}

impl Teams<'_> {
    pub async fn create(&self, who: &Principal, spec: TeamSpec) -> Result<Team> {
        who.require(Scope::Write)?;
        Ok(self.app.store.teams().create(spec, self.app.now()).await?)
    }

    pub async fn get(&self, who: &Principal, team: &TeamRef) -> Result<Team> {
        who.require(Scope::Read)?;
        Ok(self.app.store.teams().get(team).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<Team>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.teams().list().await?)
    }

    pub async fn replace(&self, who: &Principal, team: &TeamRef, spec: TeamSpec) -> Result<Team> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .teams()
            .replace(team, spec, self.app.now())
            .await?)
    }

    /// Services the team owned keep existing without an owner.
    pub async fn delete(&self, who: &Principal, team: &TeamRef) -> Result<()> {
        who.require(Scope::Write)?;
        Ok(self.app.store.teams().delete(team).await?)
    }
}

/// Use cases of services.
pub struct Services<'a> {
    pub(crate) app: &'a App,
}

impl Services<'_> {
    /// Warns that no policy pages the new service's incidents yet.
    pub async fn create(&self, who: &Principal, spec: ServiceSpec) -> Result<Warned<Service>> {
        who.require(Scope::Write)?;
        let service = self
            .app
            .store
            .services()
            .create(spec, self.app.now())
            .await?;
        let warnings = self
            .app
            .setup_warnings(|f| f.concerns_service(&service.id))
            .await?;
        Ok(Warned::new(service, warnings))
    }

    pub async fn get(&self, who: &Principal, service: &ServiceRef) -> Result<Service> {
        who.require(Scope::Read)?;
        Ok(self.app.store.services().get(service).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<Service>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.services().list().await?)
    }

    pub async fn replace(
        &self,
        who: &Principal,
        service: &ServiceRef,
        spec: ServiceSpec,
    ) -> Result<Service> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .services()
            .replace(service, spec, self.app.now())
            .await?)
    }

    /// Refused while other services depend on it; revokes its integrations; its incidents keep referring to it.
    pub async fn delete(&self, who: &Principal, service: &ServiceRef) -> Result<()> {
        who.require(Scope::Write)?;
        self.app
            .store
            .services()
            .delete(service, self.app.now())
            .await?;
        // Its keys were revoked with it; none may linger in the key cache.
        self.app.intake.forget_keys();
        Ok(())
    }

    /// Change events (deploys and the like), newest first.
    pub async fn changes(
        &self,
        who: &Principal,
        service: &ServiceRef,
        limit: u32,
    ) -> Result<Vec<ChangeRecord>> {
        who.require(Scope::Read)?;
        Ok(self.app.store.services().changes(service, limit).await?)
    }
}

/// Use cases of catalog.
pub struct Catalog<'a> {
    pub(crate) app: &'a App,
}

impl Catalog<'_> {
    /// Creates and updates what `doc` describes in one transaction, or nothing if any part is invalid.
    pub async fn apply(
        &self,
        who: &Principal,
        doc: CatalogDocument,
        dry_run: bool,
    ) -> Result<Vec<PlanEntry>> {
        who.require(Scope::Write)?;
        Ok(self
            .app
            .store
            .catalog()
            .apply(doc, dry_run, self.app.now())
            .await?)
    }

    pub async fn export(&self, who: &Principal) -> Result<CatalogDocument> {
        who.require(Scope::Read)?;
        Ok(self.app.store.catalog().export().await?)
    }
}
