use crate::prelude::*;

/// Use cases of users. People are configuration (admins'); their roles are the owners'.
pub struct Users<'a> {
    pub(crate) app: &'a App,
}

impl Users<'_> {
    pub async fn create(&self, who: &Principal, spec: UserSpec) -> Result<User> {
        who.require(Need::Configure)?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "user.create", spec.email.as_str(), summary)
            .users()
            .create(spec, self.app.now())
            .await?)
    }

    pub async fn get(&self, who: &Principal, user: &UserRef) -> Result<User> {
        who.require(Need::Read)?;
        Ok(self.app.store.users().get(user).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<User>> {
        who.require(Need::Read)?;
        Ok(self.app.store.users().list().await?)
    }

    /// People change their own name and time zone; admins anyone's and their emails (teams name their members by
    /// email), and only owners an owner's.
    pub async fn replace(&self, who: &Principal, user: &UserRef, spec: UserSpec) -> Result<User> {
        let before = self.app.store.users().get(user).await?;
        who.require(Need::Own(&before.id))?;
        who.require(Need::Grant(before.role))?;
        if spec.email != before.email {
            who.require(Need::Configure)?;
        }
        let summary = json!({ "before": spec_of(&before), "after": spec });
        Ok(self
            .app
            .audited(who, "user.update", before.email.as_str(), summary)
            .users()
            .replace(user, spec, self.app.now())
            .await?)
    }

    /// Only owners delete an owner; the last owner stays.
    pub async fn delete(&self, who: &Principal, user: &UserRef) -> Result<()> {
        who.require(Need::Configure)?;
        let before = self.app.store.users().get(user).await?;
        who.require(Need::Grant(before.role))?;
        let summary = json!({ "before": spec_of(&before) });
        Ok(self
            .app
            .audited(who, "user.delete", before.email.as_str(), summary)
            .users()
            .delete(user, self.app.now())
            .await?)
    }

    /// Owners alone give roles.
    pub async fn set_role(&self, who: &Principal, user: &UserRef, role: Role) -> Result<User> {
        who.require(Need::Grant(Role::Owner))?;
        let before = self.app.store.users().get(user).await?;
        let summary = json!({ "before": {"role": before.role}, "after": {"role": role} });
        Ok(self
            .app
            .audited(who, "user.set_role", before.email.as_str(), summary)
            .users()
            .set_role(user, role, self.app.now())
            .await?)
    }
}

fn spec_of(user: &User) -> serde_json::Value {
    json!({"name": user.name, "email": user.email, "time_zone": user.time_zone})
}

/// Use cases of teams.
pub struct Teams<'a> {
    pub(crate) app: &'a App,
}

impl Teams<'_> {
    pub async fn create(&self, who: &Principal, spec: TeamSpec) -> Result<Team> {
        who.require(Need::Configure)?;
        let summary = json!({ "after": spec });
        Ok(self
            .app
            .audited(who, "team.create", spec.name.as_str(), summary)
            .teams()
            .create(spec, self.app.now())
            .await?)
    }

    pub async fn get(&self, who: &Principal, team: &TeamRef) -> Result<Team> {
        who.require(Need::Read)?;
        Ok(self.app.store.teams().get(team).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<Team>> {
        who.require(Need::Read)?;
        Ok(self.app.store.teams().list().await?)
    }

    pub async fn replace(&self, who: &Principal, team: &TeamRef, spec: TeamSpec) -> Result<Team> {
        who.require(Need::Configure)?;
        let before = self.app.store.teams().get(team).await?;
        let summary = json!({
            "before": {"name": before.name, "description": before.description, "members": before.members},
            "after": spec,
        });
        Ok(self
            .app
            .audited(who, "team.update", before.name.as_str(), summary)
            .teams()
            .replace(team, spec, self.app.now())
            .await?)
    }

    /// Services the team owned keep existing without an owner.
    pub async fn delete(&self, who: &Principal, team: &TeamRef) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "team.delete", team, json!({}))
            .teams()
            .delete(team)
            .await?)
    }
}

/// Use cases of services. A team's members may change the team's services.
pub struct Services<'a> {
    pub(crate) app: &'a App,
}

impl Services<'_> {
    /// Warns that no policy pages the new service's incidents yet.
    pub async fn create(&self, who: &Principal, spec: ServiceSpec) -> Result<Warned<Service>> {
        self.app
            .require_team(who, self.app.team_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "after": spec });
        let service = self
            .app
            .audited(who, "service.create", spec.name.as_str(), summary)
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
        who.require(Need::Read)?;
        Ok(self.app.store.services().get(service).await?)
    }

    pub async fn list(&self, who: &Principal) -> Result<Vec<Service>> {
        who.require(Need::Read)?;
        Ok(self.app.store.services().list().await?)
    }

    /// Moving a service to another team needs the right to change both teams' services.
    pub async fn replace(
        &self,
        who: &Principal,
        service: &ServiceRef,
        spec: ServiceSpec,
    ) -> Result<Service> {
        let before = self.app.store.services().get(service).await?;
        self.app
            .require_team(who, self.app.team_id(before.team.as_ref()))
            .await?;
        self.app
            .require_team(who, self.app.team_id(spec.team.as_ref()))
            .await?;
        let summary = json!({ "before": before, "after": spec });
        Ok(self
            .app
            .audited(who, "service.update", before.name.as_str(), summary)
            .services()
            .replace(service, spec, self.app.now())
            .await?)
    }

    /// Refused while other services depend on it; revokes its integrations; its incidents keep referring to it.
    pub async fn delete(&self, who: &Principal, service: &ServiceRef) -> Result<()> {
        let before = self.app.store.services().get(service).await?;
        self.app
            .require_team(who, self.app.team_id(before.team.as_ref()))
            .await?;
        self.app
            .audited(
                who,
                "service.delete",
                before.name.as_str(),
                json!({ "before": before }),
            )
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
        who.require(Need::Read)?;
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
        who.require(Need::Configure)?;
        let store = if dry_run {
            self.app.store.clone()
        } else {
            let summary = json!({ "after": doc });
            self.app.audited(who, "catalog.apply", "catalog", summary)
        };
        Ok(store.catalog().apply(doc, dry_run, self.app.now()).await?)
    }

    pub async fn export(&self, who: &Principal) -> Result<CatalogDocument> {
        who.require(Need::Read)?;
        Ok(self.app.store.catalog().export().await?)
    }
}
