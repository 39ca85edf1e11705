//! Public incidents: what a status page tells customers of an incident, in its own words. A responder publishes
//! one, usually from an internal incident, with a public title and text (never the internal notes), the
//! components it affects and how; each update after says where things stand and may change those components.

use crate::ValidationErrors;
use crate::ids::{ComponentId, IncidentId, PublicIncidentId, PublicUpdateId, StatusPageId};
use crate::status_page::{ComponentStatus, Indicator};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

const MAX_NAME: usize = 200;
const MAX_BODY: usize = 10_000;
/// The most updates one public incident holds.
pub const MAX_UPDATES: usize = 200;

/// Where a public incident stands, in Statuspage's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PublicStatus {
    #[default]
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    Postmortem,
}

impl PublicStatus {
    pub const ALL: [Self; 5] = [
        Self::Investigating,
        Self::Identified,
        Self::Monitoring,
        Self::Resolved,
        Self::Postmortem,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Investigating => "investigating",
            Self::Identified => "identified",
            Self::Monitoring => "monitoring",
            Self::Resolved => "resolved",
            Self::Postmortem => "postmortem",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.as_str() == s)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Investigating => "Investigating",
            Self::Identified => "Identified",
            Self::Monitoring => "Monitoring",
            Self::Resolved => "Resolved",
            Self::Postmortem => "Postmortem",
        }
    }

    /// Whether it is over for customers: resolved, or its postmortem published.
    pub fn is_resolved(self) -> bool {
        matches!(self, Self::Resolved | Self::Postmortem)
    }
}

/// A component a public incident affects, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Affected {
    #[schema(value_type = String)]
    pub component_id: ComponentId,
    pub status: ComponentStatus,
}

/// What a responder writes to publish an incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicIncidentSpec {
    /// The internal incident it tells of, by number or ID; never shown to the public.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident: Option<String>,
    /// The public title: what customers read, not the internal one.
    pub name: String,
    /// The first update's text.
    pub body: String,
    #[serde(default)]
    pub status: PublicStatus,
    /// How bad it is for customers; derived from the affected components when left out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<Indicator>,
    #[serde(default)]
    pub components: Vec<Affected>,
}

/// What a responder writes to update a public incident.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PublicUpdateSpec {
    pub status: PublicStatus,
    pub body: String,
    /// The affected components as they stand now; left out, they stay as they were (and turn operational when
    /// the incident is resolved).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<Affected>>,
    /// One status for every component the incident affects, instead of naming them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub all_affected: Option<ComponentStatus>,
}

fn check_text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize) {
    if value.trim().is_empty() {
        errors.push(field, "is empty");
    } else if value.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
    } else if value
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        errors.push(field, "must not hold control characters");
    }
}

fn check_components(errors: &mut ValidationErrors, components: &[Affected]) {
    let mut seen = std::collections::HashSet::new();
    for a in components {
        if !seen.insert(&a.component_id) {
            errors.push("components", format!("{} is named twice", a.component_id));
        }
    }
}

impl PublicIncidentSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text(&mut errors, "name", &self.name, MAX_NAME);
        check_text(&mut errors, "body", &self.body, MAX_BODY);
        check_components(&mut errors, &self.components);
        if self.impact == Some(Indicator::Maintenance) {
            errors.push(
                "impact",
                "maintenance is for scheduled maintenance, not incidents",
            );
        }
        errors.into_result(())
    }
}

impl PublicUpdateSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text(&mut errors, "body", &self.body, MAX_BODY);
        if let Some(components) = &self.components {
            check_components(&mut errors, components);
            if self.all_affected.is_some() {
                errors.push(
                    "all_affected",
                    "name the components, or give one status for all of them, not both",
                );
            }
        }
        errors.into_result(())
    }
}

/// A component's status changed by an update.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ComponentChange {
    #[schema(value_type = String)]
    pub component_id: ComponentId,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicUpdate {
    #[schema(value_type = String)]
    pub id: PublicUpdateId,
    pub status: PublicStatus,
    pub body: String,
    pub created_at: DateTime<Utc>,
    /// The components whose status it changed.
    pub changes: Vec<ComponentChange>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PublicIncident {
    #[schema(value_type = String)]
    pub id: PublicIncidentId,
    #[schema(value_type = String)]
    pub page_id: StatusPageId,
    /// The internal incident it tells of, if any; never shown to the public.
    #[schema(value_type = Option<String>)]
    pub incident_id: Option<IncidentId>,
    pub name: String,
    pub status: PublicStatus,
    /// As given when it was published, else the worst component it affects now.
    pub impact: Indicator,
    /// The impact given when it was published, if one was.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact_given: Option<Indicator>,
    /// The components it affects now, and how.
    pub components: Vec<Affected>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub monitoring_at: Option<DateTime<Utc>>,
    pub resolved_at: Option<DateTime<Utc>>,
    /// Newest first.
    pub updates: Vec<PublicUpdate>,
}

/// An incident's impact from what it does to components, as Statuspage derives it.
pub fn impact_of(components: &[Affected]) -> Indicator {
    let worst = components
        .iter()
        .map(|a| a.status)
        .fold(ComponentStatus::Operational, ComponentStatus::worst);
    match worst {
        ComponentStatus::MajorOutage => Indicator::Critical,
        ComponentStatus::PartialOutage => Indicator::Major,
        ComponentStatus::DegradedPerformance => Indicator::Minor,
        ComponentStatus::UnderMaintenance | ComponentStatus::Operational => Indicator::None,
    }
}

/// An incident's impact: as given, else from what it does to components now.
pub fn impact(given: Option<Indicator>, components: &[Affected]) -> Indicator {
    given.unwrap_or_else(|| impact_of(components))
}

/// When an incident was first seen monitoring and when it was resolved, after an update to `status` at `now`:
/// monitoring is kept once reached; resolution is kept while resolved (a second resolution keeps the first time)
/// and cleared when the incident is reopened.
pub fn milestones_after(
    status: PublicStatus,
    monitoring_at: Option<DateTime<Utc>>,
    resolved_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
    let monitoring = monitoring_at.or((status == PublicStatus::Monitoring).then_some(now));
    let resolved = status.is_resolved().then(|| resolved_at.unwrap_or(now));
    (monitoring, resolved)
}

/// The components an update names: as it lists them, or every one the incident affects with `all_affected`.
pub fn named_by(spec: &PublicUpdateSpec, before: &[Affected]) -> Option<Vec<Affected>> {
    match (&spec.components, spec.all_affected) {
        (Some(named), _) => Some(named.clone()),
        (None, Some(status)) => Some(
            before
                .iter()
                .map(|a| Affected {
                    component_id: a.component_id.clone(),
                    status,
                })
                .collect(),
        ),
        (None, None) => None,
    }
}

/// What an update makes of an incident's affected components: as it names them; as they were if it names none;
/// all operational once resolved, unless it says otherwise. Answers them with the changes from before.
pub fn apply_update(
    before: &[Affected],
    named: Option<&[Affected]>,
    status: PublicStatus,
) -> (Vec<Affected>, Vec<ComponentChange>) {
    let after: Vec<Affected> = match (named, status.is_resolved()) {
        (Some(named), _) => named.to_vec(),
        (None, true) => before
            .iter()
            .map(|a| Affected {
                component_id: a.component_id.clone(),
                status: ComponentStatus::Operational,
            })
            .collect(),
        (None, false) => before.to_vec(),
    };
    let old = |id: &ComponentId| {
        before
            .iter()
            .find(|b| &b.component_id == id)
            .map_or(ComponentStatus::Operational, |b| b.status)
    };
    let changes = after
        .iter()
        .filter(|a| old(&a.component_id) != a.status)
        .map(|a| ComponentChange {
            component_id: a.component_id.clone(),
            old_status: old(&a.component_id),
            new_status: a.status,
        })
        .collect();
    (after, changes)
}

/// What the unresolved public incidents say of each component they affect (`affected`, every one of theirs):
/// the worst any of them says.
pub fn declared<'a>(
    affected: impl IntoIterator<Item = &'a Affected>,
) -> std::collections::HashMap<ComponentId, ComponentStatus> {
    let mut worst: std::collections::HashMap<ComponentId, ComponentStatus> = Default::default();
    for a in affected {
        let said = worst
            .get(&a.component_id)
            .map_or(a.status, |s| s.worst(a.status));
        worst.insert(a.component_id.clone(), said);
    }
    worst
}

impl PublicIncident {
    /// Whether it affects, or affected at some point, `component`: resolution clears what it affects now, its
    /// updates keep what they changed.
    pub fn touched(&self, component: &ComponentId) -> bool {
        self.components.iter().any(|a| &a.component_id == component)
            || self
                .updates
                .iter()
                .flat_map(|u| &u.changes)
                .any(|c| &c.component_id == component)
    }

    /// The first and the last day it was open in `zone`, an unresolved one until `now`.
    pub fn days_open(
        &self,
        zone: chrono_tz::Tz,
        now: DateTime<Utc>,
    ) -> (chrono::NaiveDate, chrono::NaiveDate) {
        let day = |t: DateTime<Utc>| t.with_timezone(&zone).date_naive();
        (day(self.created_at), day(self.resolved_at.unwrap_or(now)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus as C;

    fn affected(id: &ComponentId, status: C) -> Affected {
        Affected {
            component_id: id.clone(),
            status,
        }
    }

    #[test]
    fn impact_follows_the_worst_affected_component() {
        let (a, b) = (ComponentId::generate(), ComponentId::generate());
        assert_eq!(impact_of(&[]), Indicator::None);
        assert_eq!(
            impact_of(&[
                affected(&a, C::DegradedPerformance),
                affected(&b, C::PartialOutage)
            ]),
            Indicator::Major
        );
        assert_eq!(
            impact_of(&[affected(&a, C::MajorOutage)]),
            Indicator::Critical
        );
    }

    #[test]
    fn updates_change_components_as_they_say_and_resolution_clears_them() {
        let (a, b) = (ComponentId::generate(), ComponentId::generate());
        let before = vec![affected(&a, C::PartialOutage)];
        let (same, changes) = apply_update(&before, None, PublicStatus::Identified);
        assert_eq!((same, changes.len()), (before.clone(), 0));
        let named = [
            affected(&a, C::DegradedPerformance),
            affected(&b, C::MajorOutage),
        ];
        let (after, changes) = apply_update(&before, Some(&named), PublicStatus::Monitoring);
        assert_eq!(after, named);
        assert_eq!(
            changes,
            [
                ComponentChange {
                    component_id: a.clone(),
                    old_status: C::PartialOutage,
                    new_status: C::DegradedPerformance
                },
                ComponentChange {
                    component_id: b.clone(),
                    old_status: C::Operational,
                    new_status: C::MajorOutage
                },
            ]
        );
        let (resolved, changes) = apply_update(&after, None, PublicStatus::Resolved);
        assert!(resolved.iter().all(|r| r.status == C::Operational));
        assert_eq!(changes.len(), 2);
    }

    #[test]
    fn impact_follows_the_components_unless_given_and_milestones_keep_their_first_time() {
        let a = ComponentId::generate();
        assert_eq!(
            impact(None, &[affected(&a, C::DegradedPerformance)]),
            Indicator::Minor
        );
        assert_eq!(
            impact(
                Some(Indicator::Critical),
                &[affected(&a, C::DegradedPerformance)]
            ),
            Indicator::Critical
        );
        let (t1, t2) = (
            DateTime::UNIX_EPOCH,
            DateTime::UNIX_EPOCH + chrono::Duration::hours(1),
        );
        assert_eq!(
            milestones_after(PublicStatus::Monitoring, None, None, t1),
            (Some(t1), None)
        );
        assert_eq!(
            milestones_after(PublicStatus::Resolved, Some(t1), None, t2),
            (Some(t1), Some(t2))
        );
        assert_eq!(
            milestones_after(PublicStatus::Postmortem, Some(t1), Some(t1), t2),
            (Some(t1), Some(t1)),
            "a postmortem keeps when it was resolved"
        );
        assert_eq!(
            milestones_after(PublicStatus::Identified, Some(t1), Some(t1), t2),
            (Some(t1), None),
            "reopened, it is unresolved again"
        );
        let spec = PublicUpdateSpec {
            status: PublicStatus::Monitoring,
            body: "b".into(),
            components: None,
            all_affected: Some(C::DegradedPerformance),
        };
        assert_eq!(
            named_by(&spec, &[affected(&a, C::MajorOutage)]),
            Some(vec![affected(&a, C::DegradedPerformance)])
        );
    }

    #[test]
    fn specs_are_checked() {
        let a = ComponentId::generate();
        let spec = PublicIncidentSpec {
            incident: None,
            name: " ".into(),
            body: "x".repeat(10_001),
            status: PublicStatus::Investigating,
            impact: Some(Indicator::Maintenance),
            components: vec![affected(&a, C::PartialOutage), affected(&a, C::MajorOutage)],
        };
        let errors = spec.validate().unwrap_err();
        assert_eq!(errors.fields(), ["name", "body", "components", "impact"]);
        for s in PublicStatus::ALL {
            assert_eq!(PublicStatus::parse(s.as_str()), Some(s));
        }
        assert!(PublicStatus::Postmortem.is_resolved() && !PublicStatus::Monitoring.is_resolved());
    }
}
