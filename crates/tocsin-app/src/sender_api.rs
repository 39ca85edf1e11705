//! What a sender's integration key allows beyond posting events, for clients that expect more of the API they
//! post to: amtool reads the alerts it sent and manages silences through the Alertmanager API. Everything stays
//! within the integration's service: its alerts are the ones this integration sent, and its silences carry the
//! service scope ([`service_scope`]), so a key can mute what its service receives and nothing else.

use crate::prelude::*;
use tocsin_domain::alert::AlertStatus;
use tocsin_domain::incident::{Actor, ActorKind};
use tocsin_domain::noise::{Matcher, service_scope};
use tocsin_store::{AlertFilter, Integration, MAX_PAGE, StoreError};

/// The most open alerts a sender's listing returns; past it the oldest are left out.
pub const MAX_LISTED_ALERTS: usize = 5_000;

/// Use cases of one admitted integration.
pub struct SenderApi<'a> {
    pub(crate) app: &'a App,
    pub(crate) integration: &'a Integration,
}

impl SenderApi<'_> {
    /// The open alerts this integration sent, newest first.
    pub async fn open_alerts(&self) -> Result<Vec<Alert>> {
        let mut found = Vec::new();
        let mut cursor = None;
        loop {
            let page = self
                .app
                .store
                .alerts()
                .list(AlertFilter {
                    statuses: vec![AlertStatus::Triggered, AlertStatus::Acknowledged],
                    integration: Some(self.integration.id.clone()),
                    limit: MAX_PAGE,
                    cursor,
                    ..AlertFilter::default()
                })
                .await?;
            found.extend(page.items);
            cursor = page.next_cursor;
            if cursor.is_none() || found.len() >= MAX_LISTED_ALERTS {
                found.truncate(MAX_LISTED_ALERTS);
                return Ok(found);
            }
        }
    }

    /// One alert of this integration's service and its number; an alert of any other service is not found.
    pub async fn alert(&self, id: &AlertId) -> Result<(Alert, i64)> {
        let (alert, number) = self.app.store.alerts().numbered(id).await?;
        self.own(alert, number, id.as_str())
    }

    /// One alert of this integration's service by its number (Opsgenie's tiny ID).
    pub async fn alert_numbered(&self, number: i64) -> Result<(Alert, i64)> {
        let alert = self.app.store.alerts().by_number(number).await?;
        self.own(alert, number, &number.to_string())
    }

    /// The open alert with this dedup key in the integration's service, else the latest closed one.
    pub async fn latest_with_key(&self, key: &str) -> Result<Option<(Alert, i64)>> {
        let page = self
            .app
            .store
            .alerts()
            .list(AlertFilter {
                service: Some(ServiceRef::Id(self.integration.service_id.clone())),
                dedup_key: Some(key.to_owned()),
                limit: 1,
                ..AlertFilter::default()
            })
            .await?;
        match page.items.into_iter().next() {
            Some(alert) => Ok(Some(self.alert(&alert.id).await?)),
            None => Ok(None),
        }
    }

    fn own(&self, alert: Alert, number: i64, asked: &str) -> Result<(Alert, i64)> {
        if alert.service_id == self.integration.service_id {
            Ok((alert, number))
        } else {
            Err(StoreError::not_found("alert", asked).into())
        }
    }

    /// The silences made through an integration of this service, latest ending first, with the scope matcher
    /// they all carry (which a listing may leave out).
    pub async fn silences(&self) -> Result<(Matcher, Vec<Silence>)> {
        let service = self.service_name().await?;
        let mut all = self.app.store.noise().silences().await?;
        all.retain(|s| s.is_scoped_to(&service));
        Ok((service_scope(&service), all))
    }

    /// One silence of this service, with its scope matcher; any other is not found, so a key learns nothing of
    /// other services.
    pub async fn silence(&self, id: &SilenceId) -> Result<(Matcher, Silence)> {
        let service = self.service_name().await?;
        let silence = self.app.store.noise().get_silence(id).await?;
        if silence.is_scoped_to(&service) {
            Ok((service_scope(&service), silence))
        } else {
            Err(StoreError::not_found("silence", id.as_str()).into())
        }
    }

    /// Creates a silence confined to this service. The sender's own matchers must select something on their own,
    /// so that a scope is never the only thing that keeps a silence from muting the whole service.
    pub async fn create_silence(&self, mut spec: SilenceSpec, created_by: &str) -> Result<Silence> {
        spec.validate().map_err(StoreError::Invalid)?;
        spec.matchers
            .push(service_scope(&self.service_name().await?));
        let name = match created_by.trim() {
            "" => self.integration.name.clone(),
            who => format!("{who} (through {})", self.integration.name),
        };
        self.app
            .noise()
            .create_silence(&self.principal(name), spec)
            .await
    }

    /// Ends one of this service's silences now.
    pub async fn expire_silence(&self, id: &SilenceId) -> Result<Silence> {
        self.silence(id).await?;
        let principal = self.principal(self.integration.name.clone());
        self.app.noise().expire_silence(&principal, id).await
    }

    /// The integration as the one who changes silences, credited by `name`.
    fn principal(&self, name: String) -> Principal {
        Principal {
            actor: Actor {
                kind: ActorKind::Integration,
                id: Some(self.integration.id.to_string()),
                name,
            },
            // Confined to its service's silences by the scope matcher; responding is all it does.
            grant: tocsin_domain::auth::Grant::role(Role::Responder),
            address: None,
        }
    }

    /// The name of the integration's service.
    pub async fn service_name(&self) -> Result<String> {
        let service = ServiceRef::Id(self.integration.service_id.clone());
        Ok(self
            .app
            .store
            .services()
            .get(&service)
            .await?
            .name
            .to_string())
    }
}
