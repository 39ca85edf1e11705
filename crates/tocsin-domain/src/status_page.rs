//! Status pages: what customers are told. A page shows components (each standing for one or more services), whose
//! status is set by hand or follows the open incidents on its services through the page's severity map, and the
//! page's overall status derived from them the way Statuspage derives it, so that tools reading Statuspage's API
//! read Tocsin's the same.

use crate::ValidationErrors;
use crate::ids::{ComponentId, ServiceId, StatusPageId};
use crate::severity::Severity;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The most components a page has (groups included): a page is read by people in a hurry.
pub const MAX_COMPONENTS: usize = 100;
const MAX_NAME: usize = 100;
const MAX_DESCRIPTION: usize = 1000;

/// A component's status, in Statuspage's words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    UnderMaintenance,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
}

impl ComponentStatus {
    pub const ALL: [Self; 5] = [
        Self::Operational,
        Self::UnderMaintenance,
        Self::DegradedPerformance,
        Self::PartialOutage,
        Self::MajorOutage,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Operational => "operational",
            Self::UnderMaintenance => "under_maintenance",
            Self::DegradedPerformance => "degraded_performance",
            Self::PartialOutage => "partial_outage",
            Self::MajorOutage => "major_outage",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// How it reads on the page.
    pub fn label(self) -> &'static str {
        match self {
            Self::Operational => "Operational",
            Self::UnderMaintenance => "Under maintenance",
            Self::DegradedPerformance => "Degraded performance",
            Self::PartialOutage => "Partial outage",
            Self::MajorOutage => "Major outage",
        }
    }

    /// How bad it is: the variants are declared from best to worst, maintenance counting as better than any
    /// trouble.
    fn rank(self) -> u8 {
        self as u8
    }

    /// The worse of two statuses.
    pub fn worst(self, other: Self) -> Self {
        if other.rank() > self.rank() {
            other
        } else {
            self
        }
    }
}

/// The overall status of a page, or the impact of an incident on it: Statuspage's `indicator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Maintenance,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    fn rank(self) -> u8 {
        self as u8
    }
}

/// A page's overall status: its indicator and the sentence Statuspage shows for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct PageStatus {
    pub indicator: Indicator,
    pub description: &'static str,
}

impl PageStatus {
    const fn new(indicator: Indicator, description: &'static str) -> Self {
        Self {
            indicator,
            description,
        }
    }
}

/// The page's overall status from its components' statuses (groups left out: they only sum their members) and
/// the impacts of its unresolved public incidents, as Statuspage derives it: every component down is a major
/// system outage, one of several down or all partly down a partial one, some partly down a minor one, any
/// degraded a degraded service, and maintenance shows only when nothing is wrong. An incident's impact raises
/// the indicator when the components say less.
pub fn page_status(components: &[ComponentStatus], incident_impacts: &[Indicator]) -> PageStatus {
    use ComponentStatus as C;
    let all = |s: C| !components.is_empty() && components.iter().all(|c| *c == s);
    let any = |s: C| components.contains(&s);
    let from_components = if all(C::MajorOutage) {
        PageStatus::new(Indicator::Critical, "Major System Outage")
    } else if any(C::MajorOutage) || all(C::PartialOutage) {
        PageStatus::new(Indicator::Major, "Partial System Outage")
    } else if any(C::PartialOutage) {
        PageStatus::new(Indicator::Minor, "Minor Service Outage")
    } else if all(C::DegradedPerformance) {
        PageStatus::new(Indicator::Minor, "Degraded System Service")
    } else if any(C::DegradedPerformance) {
        PageStatus::new(Indicator::Minor, "Partially Degraded Service")
    } else if any(C::UnderMaintenance) {
        PageStatus::new(Indicator::Maintenance, "Service Under Maintenance")
    } else {
        PageStatus::new(Indicator::None, "All Systems Operational")
    };
    let worst_incident = incident_impacts
        .iter()
        .copied()
        .max_by_key(|i| i.rank())
        .unwrap_or(Indicator::None);
    if worst_incident.rank() <= from_components.indicator.rank() {
        return from_components;
    }
    match worst_incident {
        Indicator::Critical => PageStatus::new(Indicator::Critical, "Major System Outage"),
        Indicator::Major => PageStatus::new(Indicator::Major, "Partial System Outage"),
        Indicator::Minor => PageStatus::new(Indicator::Minor, "Minor Service Outage"),
        Indicator::Maintenance => {
            PageStatus::new(Indicator::Maintenance, "Service Under Maintenance")
        }
        Indicator::None => from_components,
    }
}

/// What an open incident of each severity does to the components of its services on this page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ImpactMap {
    #[serde(rename = "SEV-0")]
    pub sev0: ComponentStatus,
    #[serde(rename = "SEV-1")]
    pub sev1: ComponentStatus,
    #[serde(rename = "SEV-2")]
    pub sev2: ComponentStatus,
    #[serde(rename = "SEV-3")]
    pub sev3: ComponentStatus,
}

impl Default for ImpactMap {
    /// The severities' definitions read as customers feel them: SEV-0 is a complete outage, SEV-1 a major
    /// feature unusable for many, SEV-2 a partial degradation, SEV-3 a small issue nobody outside notices.
    fn default() -> Self {
        Self {
            sev0: ComponentStatus::MajorOutage,
            sev1: ComponentStatus::PartialOutage,
            sev2: ComponentStatus::DegradedPerformance,
            sev3: ComponentStatus::Operational,
        }
    }
}

impl ImpactMap {
    pub fn of(&self, severity: Severity) -> ComponentStatus {
        match severity {
            Severity::Sev0 => self.sev0,
            Severity::Sev1 => self.sev1,
            Severity::Sev2 => self.sev2,
            Severity::Sev3 => self.sev3,
        }
    }
}

/// Who may read a page.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Anyone, and any cache between.
    #[default]
    Public,
    /// People signed in to Tocsin (or holding an API token); to everyone else it does not exist.
    Private,
}

impl Visibility {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Private => "private",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Public, Self::Private]
            .into_iter()
            .find(|v| v.as_str() == s)
    }
}

/// A status page as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusPageSpec {
    /// Shown at the top of the page.
    pub name: String,
    /// Its address: `/status/{slug}`.
    #[schema(value_type = String)]
    pub slug: crate::refs::Key,
    /// The page's time zone (IANA), in which its times are shown.
    #[serde(default = "utc")]
    pub time_zone: crate::catalog::TimeZone,
    #[serde(default)]
    pub severity_map: ImpactMap,
    #[serde(default)]
    pub visibility: Visibility,
}

fn utc() -> crate::catalog::TimeZone {
    crate::catalog::TimeZone::parse("UTC").expect("UTC is a time zone")
}

impl StatusPageSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text(&mut errors, "name", &self.name, MAX_NAME, true);
        errors.into_result(())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct StatusPage {
    pub id: StatusPageId,
    pub name: String,
    #[schema(value_type = String)]
    pub slug: crate::refs::Key,
    pub time_zone: crate::catalog::TimeZone,
    pub severity_map: ImpactMap,
    pub visibility: Visibility,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl StatusPage {
    /// The page's time zone, to convert times with.
    pub fn zone(&self) -> chrono_tz::Tz {
        self.time_zone.as_str().parse().unwrap_or(chrono_tz::UTC)
    }
}

/// How a component's status is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case", tag = "mode", content = "status")]
pub enum StatusSetting {
    /// From the open incidents on its services, through the page's severity map.
    #[default]
    Automatic,
    /// As set by hand, whatever its services' incidents say, until set back to automatic; an unresolved public
    /// incident that says worse of it still shows.
    Manual(ComponentStatus),
}

/// A component as an admin writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentSpec {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The services it stands for: their open incidents set its status.
    #[serde(default)]
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    /// The group it is shown in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub group_id: Option<ComponentId>,
    /// A group: it shows its members and the worst of their statuses, and stands for no service itself.
    #[serde(default)]
    pub group: bool,
    /// Its place among its siblings (smaller first).
    #[serde(default)]
    pub position: u32,
    #[serde(default)]
    pub status: StatusSetting,
    /// Shown only while it is not operational.
    #[serde(default)]
    pub only_show_if_degraded: bool,
}

impl ComponentSpec {
    pub fn validate(&self) -> Result<(), ValidationErrors> {
        let mut errors = ValidationErrors::default();
        check_text(&mut errors, "name", &self.name, MAX_NAME, true);
        if let Some(d) = &self.description {
            check_text(&mut errors, "description", d, MAX_DESCRIPTION, false);
        }
        if self.group && !self.services.is_empty() {
            errors.push(
                "services",
                "a group stands for no service itself: map its members to services",
            );
        }
        if self.group && self.group_id.is_some() {
            errors.push("group_id", "groups do not nest: a group is in no group");
        }
        if self.services.len() > 50 {
            errors.push("services", "at most 50 services per component");
        }
        errors.into_result(())
    }
}

fn check_text(errors: &mut ValidationErrors, field: &str, value: &str, max: usize, required: bool) {
    let trimmed = value.trim();
    if required && trimmed.is_empty() {
        errors.push(field, "is empty");
    } else if value.chars().count() > max {
        errors.push(field, format!("must be at most {max} characters"));
    } else if value.chars().any(|c| c.is_control() && c != '\n') {
        errors.push(field, "must not hold control characters");
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Component {
    pub id: ComponentId,
    #[schema(value_type = String)]
    pub page_id: StatusPageId,
    pub name: String,
    pub description: Option<String>,
    #[schema(value_type = Vec<String>)]
    pub services: Vec<ServiceId>,
    #[schema(value_type = Option<String>)]
    pub group_id: Option<ComponentId>,
    pub group: bool,
    pub position: u32,
    pub status: StatusSetting,
    pub only_show_if_degraded: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A component's status now: as set by hand, else the worst its services' open incidents map to.
pub fn component_status(
    setting: StatusSetting,
    open_severities: impl IntoIterator<Item = Severity>,
    map: &ImpactMap,
) -> ComponentStatus {
    match setting {
        StatusSetting::Manual(status) => status,
        StatusSetting::Automatic => open_severities
            .into_iter()
            .map(|s| map.of(s))
            .fold(ComponentStatus::Operational, ComponentStatus::worst),
    }
}

/// A group's status: the worst of its members'.
pub fn group_status(members: impl IntoIterator<Item = ComponentStatus>) -> ComponentStatus {
    members
        .into_iter()
        .fold(ComponentStatus::Operational, ComponentStatus::worst)
}

/// A component's name as Statuspage names it where the group matters: "Group - Component" for a group's
/// member, its own name otherwise. `all` is the page's components.
pub fn qualified_name<'a>(c: &Component, all: impl IntoIterator<Item = &'a Component>) -> String {
    let group = c
        .group_id
        .as_ref()
        .and_then(|g| all.into_iter().find(|x| &x.id == g));
    match group {
        Some(g) => format!("{} - {}", g.name, c.name),
        None => c.name.clone(),
    }
}

/// Every component's status now: leaves from how they are set, the open incidents on their services and what
/// unresolved public incidents declare of them (`declared`, the worst each says), groups the worst of their
/// members (or as set by hand).
pub fn statuses(
    components: &[Component],
    open_severities: &std::collections::HashMap<ComponentId, Vec<Severity>>,
    declared: &std::collections::HashMap<ComponentId, ComponentStatus>,
    map: &ImpactMap,
) -> std::collections::HashMap<ComponentId, ComponentStatus> {
    let mut shown: std::collections::HashMap<ComponentId, ComponentStatus> = components
        .iter()
        .filter(|c| !c.group)
        .map(|c| {
            let open = open_severities.get(&c.id).into_iter().flatten().copied();
            let status = component_status(c.status, open, map);
            // What a public incident says of it counts too, as long as that incident is unresolved.
            let said = declared
                .get(&c.id)
                .copied()
                .unwrap_or(ComponentStatus::Operational);
            (c.id.clone(), status.worst(said))
        })
        .collect();
    for group in components.iter().filter(|c| c.group) {
        let status = match group.status {
            StatusSetting::Manual(status) => status,
            StatusSetting::Automatic => group_status(
                components
                    .iter()
                    .filter(|m| m.group_id.as_ref() == Some(&group.id))
                    .filter_map(|m| shown.get(&m.id).copied()),
            ),
        };
        shown.insert(group.id.clone(), status);
    }
    shown
}

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus as C;

    #[test]
    fn the_page_status_follows_statuspages_rules() {
        let status = |cs: &[C]| {
            let s = page_status(cs, &[]);
            (s.indicator, s.description)
        };
        assert_eq!(status(&[]), (Indicator::None, "All Systems Operational"));
        assert_eq!(
            status(&[C::Operational, C::Operational]),
            (Indicator::None, "All Systems Operational")
        );
        assert_eq!(
            status(&[C::MajorOutage, C::MajorOutage]),
            (Indicator::Critical, "Major System Outage")
        );
        assert_eq!(
            status(&[C::MajorOutage, C::Operational]),
            (Indicator::Major, "Partial System Outage")
        );
        assert_eq!(
            status(&[C::PartialOutage, C::PartialOutage]),
            (Indicator::Major, "Partial System Outage")
        );
        assert_eq!(
            status(&[C::PartialOutage, C::DegradedPerformance]),
            (Indicator::Minor, "Minor Service Outage")
        );
        assert_eq!(
            status(&[C::DegradedPerformance]),
            (Indicator::Minor, "Degraded System Service")
        );
        assert_eq!(
            status(&[C::DegradedPerformance, C::UnderMaintenance]),
            (Indicator::Minor, "Partially Degraded Service")
        );
        assert_eq!(
            status(&[C::UnderMaintenance, C::Operational]),
            (Indicator::Maintenance, "Service Under Maintenance")
        );
        // An incident says more than components that are all fine, never less than components that are not.
        let s = page_status(&[C::Operational], &[Indicator::Major]);
        assert_eq!(
            (s.indicator, s.description),
            (Indicator::Major, "Partial System Outage")
        );
        let s = page_status(&[C::MajorOutage], &[Indicator::Minor]);
        assert_eq!(s.indicator, Indicator::Critical);
    }

    #[test]
    fn components_follow_the_worst_open_incident_unless_set_by_hand() {
        let map = ImpactMap::default();
        assert_eq!(
            component_status(StatusSetting::Automatic, [], &map),
            C::Operational
        );
        assert_eq!(
            component_status(
                StatusSetting::Automatic,
                [Severity::Sev2, Severity::Sev1, Severity::Sev3],
                &map
            ),
            C::PartialOutage
        );
        assert_eq!(
            component_status(StatusSetting::Automatic, [Severity::Sev3], &map),
            C::Operational,
            "a small issue changes nothing customers see"
        );
        assert_eq!(
            component_status(
                StatusSetting::Manual(C::UnderMaintenance),
                [Severity::Sev0],
                &map
            ),
            C::UnderMaintenance
        );
        assert_eq!(
            group_status([C::Operational, C::DegradedPerformance]),
            C::DegradedPerformance
        );
        assert_eq!(
            C::UnderMaintenance.worst(C::DegradedPerformance),
            C::DegradedPerformance
        );
        for c in C::ALL {
            assert_eq!(C::parse(c.as_str()), Some(c));
        }
    }

    #[test]
    fn groups_show_the_worst_of_their_members() {
        let at = DateTime::UNIX_EPOCH;
        let page_id = StatusPageId::generate();
        let make = |name: &str, spec: ComponentSpec| Component {
            id: ComponentId::generate(),
            page_id: page_id.clone(),
            name: name.into(),
            description: spec.description,
            services: spec.services,
            group_id: spec.group_id,
            group: spec.group,
            position: spec.position,
            status: spec.status,
            only_show_if_degraded: spec.only_show_if_degraded,
            created_at: at,
            updated_at: at,
        };
        let blank = ComponentSpec {
            name: String::new(),
            description: None,
            services: Vec::new(),
            group_id: None,
            group: false,
            position: 0,
            status: StatusSetting::Automatic,
            only_show_if_degraded: false,
        };
        let group = make(
            "Shop",
            ComponentSpec {
                group: true,
                ..blank.clone()
            },
        );
        let pay = make(
            "Pay",
            ComponentSpec {
                group_id: Some(group.id.clone()),
                ..blank.clone()
            },
        );
        let cart = make(
            "Cart",
            ComponentSpec {
                group_id: Some(group.id.clone()),
                ..blank.clone()
            },
        );
        let alone = make("Docs", blank.clone());
        let open = [(pay.id.clone(), vec![Severity::Sev2])].into();
        let all = [group.clone(), pay.clone(), cart.clone(), alone.clone()];
        let declared = [(alone.id.clone(), C::UnderMaintenance)].into();
        let shown = statuses(&all, &open, &declared, &ImpactMap::default());
        assert_eq!(shown[&pay.id], C::DegradedPerformance);
        assert_eq!(shown[&cart.id], C::Operational);
        assert_eq!(shown[&group.id], C::DegradedPerformance);
        assert_eq!(
            shown[&alone.id],
            C::UnderMaintenance,
            "as a public incident says"
        );
    }

    #[test]
    fn specs_are_checked_field_by_field() {
        let spec = ComponentSpec {
            name: " ".into(),
            description: Some("x".repeat(1001)),
            services: vec![ServiceId::generate()],
            group_id: Some(ComponentId::generate()),
            group: true,
            position: 0,
            status: StatusSetting::Automatic,
            only_show_if_degraded: false,
        };
        let errors = spec.validate().unwrap_err();
        assert_eq!(
            errors.fields(),
            ["name", "description", "services", "group_id"]
        );
        let json: ComponentSpec = serde_json::from_value(serde_json::json!({
            "name": "API", "status": {"mode": "manual", "status": "partial_outage"}
        }))
        .unwrap();
        assert_eq!(json.status, StatusSetting::Manual(C::PartialOutage));
        let page: StatusPageSpec = serde_json::from_value(serde_json::json!({
            "name": "Example", "slug": "example", "severity_map": {"SEV-0": "major_outage",
            "SEV-1": "major_outage", "SEV-2": "partial_outage", "SEV-3": "degraded_performance"}
        }))
        .unwrap();
        assert_eq!(page.severity_map.of(Severity::Sev1), C::MajorOutage);
        assert_eq!(page.time_zone.as_str(), "UTC");
    }
}
