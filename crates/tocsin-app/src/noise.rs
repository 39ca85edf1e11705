use crate::prelude::*;

/// Use cases of noise.
pub struct Noise<'a> {
    pub(crate) app: &'a App,
}

impl Noise<'_> {
    /// Every rule, in the order they run.
    pub async fn rules(&self, who: &Principal) -> Result<Vec<Rule>> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().rules().await?)
    }

    pub async fn create_rule(&self, who: &Principal, spec: RuleSpec) -> Result<Rule> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "rule.create", &spec.name, json!({"after": spec}))
            .noise()
            .create_rule(spec, self.app.now())
            .await?)
    }

    pub async fn get_rule(&self, who: &Principal, id: &RuleId) -> Result<Rule> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().get_rule(id).await?)
    }

    pub async fn replace_rule(&self, who: &Principal, id: &RuleId, spec: RuleSpec) -> Result<Rule> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "rule.update", id, json!({"after": spec}))
            .noise()
            .replace_rule(id, spec, self.app.now())
            .await?)
    }

    pub async fn delete_rule(&self, who: &Principal, id: &RuleId) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "rule.delete", id, json!({}))
            .noise()
            .delete_rule(id)
            .await?)
    }

    /// Every silence, latest ending first.
    pub async fn silences(&self, who: &Principal) -> Result<Vec<Silence>> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().silences().await?)
    }

    pub async fn create_silence(&self, who: &Principal, spec: SilenceSpec) -> Result<Silence> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(who, "silence.create", "silence", json!({"after": spec}))
            .noise()
            .create_silence(spec, who.actor().name, self.app.now())
            .await?)
    }

    pub async fn get_silence(&self, who: &Principal, id: &SilenceId) -> Result<Silence> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().get_silence(id).await?)
    }

    /// Ends the silence at `now` if it runs later; expiring twice is harmless.
    pub async fn expire_silence(&self, who: &Principal, id: &SilenceId) -> Result<Silence> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(who, "silence.expire", id, json!({}))
            .noise()
            .expire_silence(id, self.app.now())
            .await?)
    }

    /// Moves the end of a silence; it must stay after its start.
    pub async fn extend_silence(
        &self,
        who: &Principal,
        id: &SilenceId,
        ends_at: DateTime<Utc>,
    ) -> Result<Silence> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(
                who,
                "silence.extend",
                id,
                json!({"after": {"ends_at": ends_at}}),
            )
            .noise()
            .extend_silence(id, ends_at)
            .await?)
    }

    /// Maintenance windows, of one service (ID or name) or all.
    pub async fn maintenance(
        &self,
        who: &Principal,
        service: Option<ServiceRef>,
    ) -> Result<Vec<MaintenanceWindow>> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().maintenance(service).await?)
    }

    pub async fn create_maintenance(
        &self,
        who: &Principal,
        spec: MaintenanceSpec,
    ) -> Result<MaintenanceWindow> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(
                who,
                "maintenance.create",
                "maintenance",
                json!({"after": spec}),
            )
            .noise()
            .create_maintenance(spec, self.app.now())
            .await?)
    }

    pub async fn get_maintenance(
        &self,
        who: &Principal,
        id: &MaintenanceId,
    ) -> Result<MaintenanceWindow> {
        who.require(Need::Read)?;
        Ok(self.app.store.noise().get_maintenance(id).await?)
    }

    pub async fn delete_maintenance(&self, who: &Principal, id: &MaintenanceId) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "maintenance.delete", id, json!({}))
            .noise()
            .delete_maintenance(id)
            .await?)
    }
}
