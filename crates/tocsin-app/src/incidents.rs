use crate::prelude::*;

/// Use cases of incidents.
pub struct Incidents<'a> {
    pub(crate) app: &'a App,
}

impl Incidents<'_> {
    /// Opens an incident by hand, with no alert (e.g. a customer report).
    /// Warns when no policy pages the new incident.
    pub async fn declare(&self, who: &Principal, new: NewIncident) -> Result<Warned<Incident>> {
        who.require(Need::Respond)?;
        let incident = self
            .app
            .audited(
                who,
                "incident.declare",
                &new.title,
                json!({"after": {"title": new.title, "severity": new.severity}}),
            )
            .incidents()
            .declare(new, who.actor(), self.app.now())
            .await?;
        self.app
            .metrics
            .incidents_opened
            .with_label_values(&[incident.severity.as_str()])
            .inc();
        self.app.wake_engine();
        let warnings = match incident.unassigned_since {
            Some(_) => {
                let settings = self.app.store.escalation().paging_settings().await?;
                vec![Warning::Unassigned {
                    number: incident.number,
                    fallback: settings.fallback_policy.map(|p| p.name),
                }]
            }
            None => Vec::new(),
        };
        Ok(Warned::new(incident, warnings))
    }

    pub async fn get(&self, who: &Principal, incident: &IncidentRef) -> Result<Incident> {
        who.require(Need::Read)?;
        Ok(self.app.store.incidents().get(incident).await?)
    }

    pub async fn list(&self, who: &Principal, filter: IncidentFilter) -> Result<Page<Incident>> {
        who.require(Need::Read)?;
        Ok(self.app.store.incidents().list(filter).await?)
    }

    /// Acknowledges the incident and its triggered alerts.
    pub async fn acknowledge(&self, who: &Principal, incident: &IncidentRef) -> Result<Incident> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(who, "incident.acknowledge", incident, json!({}))
            .incidents()
            .acknowledge(incident, who.actor(), self.app.now())
            .await?)
    }

    /// Resolves the incident and all its open alerts.
    pub async fn resolve(&self, who: &Principal, incident: &IncidentRef) -> Result<Incident> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(who, "incident.resolve", incident, json!({}))
            .incidents()
            .resolve(incident, who.actor(), self.app.now())
            .await?)
    }

    /// Changes how the incident describes itself (title, description, severity, customer impact, services,
    /// links); every change is on the timeline.
    pub async fn edit(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        changes: IncidentChanges,
    ) -> Result<Incident> {
        who.require(Need::Respond)?;
        let edited = self
            .app
            .audited(who, "incident.edit", incident, json!({"after": changes}))
            .incidents()
            .edit(incident, changes, who.actor(), self.app.now())
            .await?;
        // A rise to high urgency may have made the current level due again.
        self.app.wake_engine();
        Ok(edited)
    }

    /// What each severity means here, SEV-0 first; anyone may read it, since everyone chooses severities.
    pub async fn severity_levels(
        &self,
        who: &Principal,
    ) -> Result<Vec<tocsin_domain::severity::SeverityLevel>> {
        who.require(Need::Read)?;
        Ok(self.app.store.incidents().severity_levels().await?)
    }

    /// Rewords a severity's definition and what it asks of responders; configuration, so admins only.
    pub async fn change_severity_level(
        &self,
        who: &Principal,
        severity: Severity,
        change: tocsin_domain::severity::SeverityLevelChange,
    ) -> Result<tocsin_domain::severity::SeverityLevel> {
        who.require(Need::Configure)?;
        let summary = json!({ "change": change });
        let level = self
            .app
            .audited(who, "severity.update", severity, summary)
            .incidents()
            .change_severity_level(severity, change)
            .await?;
        Ok(level)
    }

    /// Merges `incident` into `into`, which carries on with its alerts, services, responders and history.
    pub async fn merge(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        into: &IncidentRef,
    ) -> Result<Incident> {
        who.require(Need::Respond)?;
        let survivor = self
            .app
            .audited(
                who,
                "incident.merge",
                incident,
                json!({"after": {"merged_into": into.to_string()}}),
            )
            .incidents()
            .merge(incident, into, who.actor(), self.app.now())
            .await?;
        // The survivor may have become more severe: its current level may page again, roles fill by default.
        self.app.wake_engine();
        Ok(survivor)
    }

    pub async fn set_severity(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        severity: Severity,
    ) -> Result<Incident> {
        who.require(Need::Respond)?;
        let changed = self
            .app
            .audited(
                who,
                "incident.set_severity",
                incident,
                json!({"after": {"severity": severity}}),
            )
            .incidents()
            .set_severity(incident, severity, who.actor(), self.app.now())
            .await?;
        // The new severity may page its current level again, or give roles by their defaults.
        self.app.wake_engine();
        Ok(changed)
    }

    pub async fn add_note(
        &self,
        who: &Principal,
        incident: &IncidentRef,
        body: String,
    ) -> Result<TimelineRecord> {
        who.require(Need::Respond)?;
        Ok(self
            .app
            .audited(who, "incident.add_note", incident, json!({}))
            .incidents()
            .add_note(incident, body, who.actor(), self.app.now())
            .await?)
    }

    pub async fn timeline(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Vec<TimelineRecord>> {
        who.require(Need::Read)?;
        Ok(self.app.store.incidents().timeline(incident).await?)
    }

    /// The changes (deploys, config pushes) recorded on the incident's services from a day before it opened until
    /// now, newest first, each with its service's name: where responders look first.
    pub async fn recent_changes(
        &self,
        who: &Principal,
        incident: &IncidentRef,
    ) -> Result<Vec<(String, ChangeRecord)>> {
        who.require(Need::Read)?;
        let store = &self.app.store;
        let incident = store.incidents().get(incident).await?;
        let since = incident.created_at - tocsin_store::RECENT_CHANGES;
        let mut found = Vec::new();
        for id in &incident.services {
            let service = ServiceRef::Id(id.clone());
            let name = store.services().get(&service).await?.name.to_string();
            let changes = store
                .services()
                .changes(&service, INCIDENT_CHANGES_SHOWN as u32)
                .await?;
            found.extend(
                changes
                    .into_iter()
                    .filter(|c| c.received_at >= since)
                    .map(|c| (name.clone(), c)),
            );
        }
        found.sort_by_key(|(_, c)| std::cmp::Reverse(c.received_at));
        found.truncate(INCIDENT_CHANGES_SHOWN);
        Ok(found)
    }

    pub async fn alerts(&self, who: &Principal, incident: &IncidentRef) -> Result<Vec<Alert>> {
        who.require(Need::Read)?;
        Ok(self.app.store.incidents().alerts(incident).await?)
    }
}

/// The most changes shown beside an incident.
pub const INCIDENT_CHANGES_SHOWN: usize = 20;

/// Use cases of alerts.
pub struct Alerts<'a> {
    pub(crate) app: &'a App,
}

impl Alerts<'_> {
    pub async fn get(&self, who: &Principal, id: &AlertId) -> Result<Alert> {
        who.require(Need::Read)?;
        Ok(self.app.store.alerts().get(id).await?)
    }

    pub async fn list(&self, who: &Principal, filter: AlertFilter) -> Result<Page<Alert>> {
        who.require(Need::Read)?;
        Ok(self.app.store.alerts().list(filter).await?)
    }

    /// Every event received for the alert, oldest first.
    pub async fn events(&self, who: &Principal, id: &AlertId) -> Result<Vec<AlertEventRecord>> {
        who.require(Need::Read)?;
        Ok(self.app.store.alerts().events(id).await?)
    }
}
