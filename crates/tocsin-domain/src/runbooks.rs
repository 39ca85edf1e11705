//! Runbooks: Markdown documents that say how to handle a kind of trouble, kept in Tocsin with every version, and
//! shown on the incidents they are for: those of their services, and those with an alert their matchers accept.

use crate::automation::Step;
use crate::ids::ServiceId;
use crate::incident::Actor;
use crate::noise::{AlertFields, Matcher, all_match};
use crate::refs::Key;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// Most runbooks; longest body, in bytes; most services and matchers one names; versions kept of each (older
/// ones are dropped as new ones are written).
pub const MAX_RUNBOOKS: usize = 500;
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const MAX_SERVICES: usize = 50;
pub const MAX_MATCHERS: usize = 20;
pub const MAX_VERSIONS: u32 = 100;

/// A runbook as written: what it is called, what it says, and which incidents it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunbookSpec {
    /// One line, e.g. "Checkout latency".
    pub title: String,
    /// Markdown.
    #[serde(default)]
    pub body: String,
    /// Its services' incidents show it (service IDs).
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    /// Incidents with an alert that every one of these accepts show it, e.g. `alertname="CheckoutLatency"`;
    /// empty for none.
    #[serde(default)]
    pub matchers: Vec<Matcher>,
    /// What Tocsin can do for an incident the runbook is for: HTTP requests and allowed commands.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

impl RunbookSpec {
    /// Trims the title, writes line breaks as `\n` (browsers send `\r\n`), puts the services in one order
    /// without repeats, and checks the limits: the same runbook written from a file or a form compares equal.
    pub fn validated(mut self) -> Result<Self, crate::ValidationErrors> {
        if self.body.contains('\r') {
            self.body = self.body.replace("\r\n", "\n");
        }
        let mut errors = crate::ValidationErrors::default();
        match crate::tasks::parse_title("title", &self.title) {
            Ok(t) => self.title = t,
            Err(e) => errors.0.push(e),
        }
        if self.body.len() > MAX_BODY_BYTES {
            errors.push(
                "body",
                format!(
                    "is {} bytes; a runbook holds at most {MAX_BODY_BYTES} (split it, or link to the rest)",
                    self.body.len()
                ),
            );
        }
        if self.body.contains('\0') {
            errors.push("body", "must not contain the NUL character");
        }
        self.services.sort();
        self.services.dedup();
        if self.services.len() > MAX_SERVICES {
            errors.push("services", format!("at most {MAX_SERVICES} services"));
        }
        if self.matchers.len() > MAX_MATCHERS {
            errors.push("matchers", format!("at most {MAX_MATCHERS} matchers"));
        }
        self.steps = crate::automation::check_steps(std::mem::take(&mut self.steps), &mut errors);
        errors.into_result(self)
    }
}

/// What a list of runbooks shows of each: all but the body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunbookSummary {
    #[schema(value_type = String, example = "checkout-latency")]
    pub key: Key,
    pub title: String,
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    pub matchers: Vec<Matcher>,
    /// 1 for the first version; each change that alters the runbook writes the next.
    pub version: u32,
    pub updated_at: DateTime<Utc>,
    pub updated_by: Actor,
}

/// A runbook at one of its versions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Runbook {
    #[serde(flatten)]
    pub summary: RunbookSummary,
    /// Markdown.
    pub body: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub steps: Vec<Step>,
}

impl Runbook {
    pub fn spec(&self) -> RunbookSpec {
        RunbookSpec {
            title: self.summary.title.clone(),
            body: self.body.clone(),
            services: self.summary.services.clone(),
            matchers: self.summary.matchers.clone(),
            steps: self.steps.clone(),
        }
    }

    pub fn step(&self, key: &Key) -> Option<&Step> {
        self.steps.iter().find(|s| &s.key == key)
    }
}

/// One version in a runbook's history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RunbookVersion {
    pub version: u32,
    pub title: String,
    pub written_at: DateTime<Utc>,
    pub written_by: Actor,
}

impl RunbookSummary {
    /// Whether an incident on `services`, with `alerts`, should show it.
    pub fn applies_to<'a>(
        &self,
        services: &[ServiceId],
        alerts: impl IntoIterator<Item = AlertFields<'a>>,
    ) -> bool {
        self.services.iter().any(|s| services.contains(s))
            || alerts
                .into_iter()
                .any(|fields| all_match(&self.matchers, &fields))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::AlertDetails;
    use crate::incident::ActorKind;
    use crate::severity::AlertSeverity;

    fn summary(services: Vec<ServiceId>, matchers: &[&str]) -> RunbookSummary {
        RunbookSummary {
            key: "checkout-latency".parse().unwrap(),
            title: "Checkout latency".into(),
            services,
            matchers: matchers
                .iter()
                .map(|m| Matcher::parse(m).unwrap())
                .collect(),
            version: 1,
            updated_at: DateTime::UNIX_EPOCH,
            updated_by: Actor {
                kind: ActorKind::System,
                id: None,
                name: "Tocsin".into(),
            },
        }
    }

    fn alert(labels: &[(&str, &str)]) -> AlertDetails {
        let mut a = AlertDetails::new("Latency above 2s", "prometheus", AlertSeverity::Critical);
        a.labels = labels
            .iter()
            .map(|(k, v)| ((*k).into(), (*v).into()))
            .collect();
        a
    }

    fn on<'a>(details: &'a AlertDetails, service: &'a str) -> AlertFields<'a> {
        AlertFields::new(details, service)
    }

    #[test]
    fn a_runbook_is_for_its_services_and_for_alerts_all_its_matchers_accept() {
        let checkout = ServiceId::generate();
        let search = ServiceId::generate();
        let by_service = summary(vec![checkout.clone()], &[]);
        assert!(by_service.applies_to(std::slice::from_ref(&checkout), []));
        assert!(!by_service.applies_to(std::slice::from_ref(&search), []));

        let by_alert = summary(vec![], &["alertname=CheckoutLatency", "env!=staging"]);
        let firing = alert(&[("alertname", "CheckoutLatency"), ("env", "prod")]);
        let staging = alert(&[("alertname", "CheckoutLatency"), ("env", "staging")]);
        let other = alert(&[("alertname", "DiskFull")]);
        assert!(by_alert.applies_to(std::slice::from_ref(&search), [on(&firing, "search")]));
        assert!(!by_alert.applies_to(std::slice::from_ref(&search), [on(&staging, "search")]));
        assert!(!by_alert.applies_to(
            std::slice::from_ref(&search),
            [on(&other, "search"), on(&staging, "search")]
        ));
        // Tocsin's own fields match too: `@service` is the alert's service.
        let by_own_field = summary(vec![], &["@service=search"]);
        assert!(by_own_field.applies_to(&[], [on(&other, "search")]));
        assert!(!by_own_field.applies_to(&[], [on(&other, "checkout")]));
        // Without services or matchers, a runbook is for no incident: people open it from the list.
        assert!(
            !summary(vec![], &[])
                .applies_to(std::slice::from_ref(&checkout), [on(&firing, "checkout")])
        );
    }

    #[test]
    fn a_spec_is_trimmed_and_bounded() {
        let s = ServiceId::generate();
        let spec = RunbookSpec {
            title: "  Checkout latency ".into(),
            body: "# Steps\r\n1. Look".into(),
            services: vec![s.clone(), s.clone()],
            matchers: vec![],
            steps: vec![],
        }
        .validated()
        .unwrap();
        assert_eq!(
            (spec.title.as_str(), spec.body.as_str()),
            ("Checkout latency", "# Steps\n1. Look")
        );
        assert_eq!(spec.services, vec![s]);

        let errors = RunbookSpec {
            title: "two\nlines".into(),
            body: "x".repeat(MAX_BODY_BYTES + 1),
            services: vec![],
            matchers: vec![Matcher::parse("a=b").unwrap(); MAX_MATCHERS + 1],
            steps: vec![],
        }
        .validated()
        .unwrap_err();
        let fields: Vec<&str> = errors.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "body", "matchers"], "{errors:?}");
    }
}
