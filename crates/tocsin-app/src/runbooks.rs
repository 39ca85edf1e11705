use crate::prelude::*;
use tocsin_domain::refs::Key;
use tocsin_domain::runbooks::{Runbook, RunbookSpec, RunbookSummary, RunbookVersion};

/// Use cases of runbooks: reading them (everyone), writing them (admins), and an incident's.
pub struct Runbooks<'a> {
    pub(crate) app: &'a App,
}

impl Runbooks<'_> {
    pub async fn list(&self, who: &Principal) -> Result<Vec<RunbookSummary>> {
        who.require(Need::Read)?;
        Ok(self.app.store.runbooks().runbooks().await?)
    }

    /// A runbook at its current version, or at `version`.
    pub async fn get(&self, who: &Principal, key: &Key, version: Option<u32>) -> Result<Runbook> {
        who.require(Need::Read)?;
        Ok(self.app.store.runbooks().runbook(key, version).await?)
    }

    pub async fn versions(&self, who: &Principal, key: &Key) -> Result<Vec<RunbookVersion>> {
        who.require(Need::Read)?;
        Ok(self.app.store.runbooks().runbook_versions(key).await?)
    }

    /// Creates a runbook or writes its next version; configuration, so admins only. With `expected_version`,
    /// the runbook must be at that version (0: must not exist yet).
    pub async fn put(
        &self,
        who: &Principal,
        key: Key,
        spec: RunbookSpec,
        expected_version: Option<u32>,
    ) -> Result<Runbook> {
        who.require(Need::Configure)?;
        let mut errors = tocsin_domain::ValidationErrors::default();
        for (j, step) in spec.steps.iter().enumerate() {
            if let Some(command) = &step.command
                && !self.app.automation_commands().contains(command)
            {
                errors.push(
                    format!("steps[{j}].command"),
                    format!(
                        "{command} is not a command this server allows; an admin allows it under \
                         [automation.commands.{command}] in the server's configuration"
                    ),
                );
            }
        }
        if !errors.is_empty() {
            return Err(StoreError::Invalid(errors).into());
        }
        // The body can be long; the log keeps what identifies the change, and the version keeps the text.
        let summary = json!({ "after": {
            "title": spec.title,
            "services": spec.services,
            "matchers": spec.matchers,
            "body_bytes": spec.body.len(),
            "steps": spec.steps.iter().map(|s| s.action()).collect::<Vec<_>>(),
        }});
        let now = self.app.now();
        Ok(self
            .app
            .audited(who, "runbook.put", &key, summary)
            .runbooks()
            .put_runbook(key, spec, expected_version, who.actor(), now)
            .await?)
    }

    pub async fn delete(&self, who: &Principal, key: &Key) -> Result<()> {
        who.require(Need::Configure)?;
        Ok(self
            .app
            .audited(who, "runbook.delete", key, json!({}))
            .runbooks()
            .delete_runbook(key)
            .await?)
    }

    /// The runbooks an incident shows: its services' and those whose matchers accept one of its alerts.
    pub async fn of_incident(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Vec<Runbook>> {
        who.require(Need::Read)?;
        Ok(self
            .app
            .store
            .runbooks()
            .incident_runbooks(incident)
            .await?)
    }
}
