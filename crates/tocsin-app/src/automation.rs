use crate::prelude::*;
use tocsin_domain::automation::{Run, SecretInfo};
use tocsin_domain::ids::RunId;
use tocsin_domain::refs::Key;

/// Use cases of runbook automation: runs of steps for an incident (responders ask for them, a second one
/// approves those that need it) and the secrets steps' requests use (admins).
pub struct Automation<'a> {
    pub(crate) app: &'a App,
}

impl Automation<'_> {
    pub async fn runs(&self, who: &Principal, incident: &IncidentRef) -> Result<Vec<Run>> {
        who.require(Need::Read)?;
        Ok(self.app.store.automation().runs(incident).await?)
    }

    pub async fn run(&self, who: &Principal, id: &RunId) -> Result<Run> {
        who.require(Need::Read)?;
        Ok(self.app.store.automation().run(id).await?)
    }

    /// Asks for a run of a runbook's step for an incident; it starts at once unless the step needs approval.
    pub async fn start(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        runbook: &Key,
        step: &Key,
    ) -> Result<Run> {
        who.require(Need::Respond)?;
        let now = self.app.now();
        let run = self
            .app
            .audited(
                who,
                "run.start",
                incident,
                json!({ "after": { "runbook": runbook, "step": step } }),
            )
            .automation()
            .start_run(incident, runbook, step, who.actor(), now)
            .await?;
        self.app.wake_engine();
        Ok(run)
    }

    /// Approves a run awaiting approval (not one's own request), or declines it.
    pub async fn decide(&self, who: &Principal, id: &RunId, approve: bool) -> Result<Run> {
        who.require(Need::Respond)?;
        let now = self.app.now();
        let action = if approve {
            "run.approve"
        } else {
            "run.decline"
        };
        let run = self
            .app
            .audited(who, action, id, json!({}))
            .automation()
            .decide_run(id, approve, who.actor(), now)
            .await?;
        if approve {
            self.app.wake_engine();
        }
        Ok(run)
    }

    /// Asks again for a run that failed, timed out or was interrupted, with the same idempotency key.
    pub async fn retry(&self, who: &Principal, id: &RunId) -> Result<Run> {
        who.require(Need::Respond)?;
        let now = self.app.now();
        let run = self
            .app
            .audited(who, "run.retry", id, json!({}))
            .automation()
            .retry_run(id, who.actor(), now)
            .await?;
        self.app.wake_engine();
        Ok(run)
    }

    pub async fn secrets(&self, who: &Principal) -> Result<Vec<SecretInfo>> {
        who.require(Need::Configure)?;
        Ok(self.app.store.automation().secrets().await?)
    }

    /// Creates or replaces a secret; its value is sealed at rest and never shown again, nor kept in the audit log.
    pub async fn put_secret(
        &self,
        who: &Principal,
        name: Key,
        value: String,
    ) -> Result<SecretInfo> {
        who.require(Need::Configure)?;
        let now = self.app.now();
        Ok(self
            .app
            .audited(who, "secret.put", &name, json!({}))
            .automation()
            .put_secret(name, value, who.actor(), now)
            .await?)
    }

    pub async fn delete_secret(&self, who: &Principal, name: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "secret.delete", name, json!({}))
            .automation()
            .delete_secret(name)
            .await?)
    }
}
