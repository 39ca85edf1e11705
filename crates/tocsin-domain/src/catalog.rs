//! The service catalog: teams, users and services, as single entities and as a whole document applied
//! declaratively (`tocsin apply -f catalog.yaml`).
//!
//! Catalog entries refer to each other by name (teams, services) or email (users), never by ID, so the same file
//! applies to any Tocsin. [`plan`] compares a desired document with the current one and says what to create,
//! change or leave alone; the store carries the plan out in one transaction.

use crate::error::{FieldError, ValidationErrors};
use crate::ids::{ServiceId, TeamId, UserId};
use crate::noise::Grouping;
use crate::severity::SeverityMap;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;

macro_rules! string_newtype {
    ($(#[$doc:meta])* $name:ident, $parse:expr, $schema:expr) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(s: &str) -> Result<Self, String> {
                let f: fn(&str) -> Result<String, String> = $parse;
                f(s).map(Self)
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }
        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(s: String) -> Result<Self, String> {
                Self::parse(&s)
            }
        }
        impl From<$name> for String {
            fn from(v: $name) -> String {
                v.0
            }
        }
        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                let f: fn() -> utoipa::openapi::ObjectBuilder = $schema;
                f().into()
            }
        }
        impl utoipa::ToSchema for $name {}
    };
}

fn parse_name(s: &str) -> Result<String, String> {
    let t = s.trim();
    if t.is_empty() {
        return Err("must not be empty".into());
    }
    if t.chars().count() > 100 {
        return Err("must be at most 100 characters".into());
    }
    if t.chars().any(char::is_control) {
        return Err("must not contain control characters".into());
    }
    // Paths and CLI arguments accept "ID or name"; a name shaped like an ID would be ambiguous.
    if let Some((prefix, rest)) = t.split_once('_')
        && [
            "team", "usr", "svc", "int", "tok", "alr", "inc", "chg", "rule", "sil", "mnt", "sch",
            "ovr", "pol", "cm", "nr", "msg", "feed",
        ]
        .contains(&prefix)
        && rest.len() == 26
    {
        return Err("must not look like a Tocsin ID".into());
    }
    Ok(t.to_owned())
}

/// What [`parse_name`] accepts, as a JSON Schema pattern: some visible character, no control characters, not
/// shaped like a Tocsin ID.
pub const NAME_PATTERN: &str = "^(?!(team|usr|svc|int|tok|alr|inc|chg|rule|sil|mnt|sch|ovr|pol|cm|nr|msg|feed)_.{26}$)\
                                [^\\u0000-\\u001F\\u007F-\\u009F]*\\S[^\\u0000-\\u001F\\u007F-\\u009F]*$";

fn string_schema() -> utoipa::openapi::ObjectBuilder {
    utoipa::openapi::ObjectBuilder::new().schema_type(utoipa::openapi::schema::Type::String)
}

fn name_schema() -> utoipa::openapi::ObjectBuilder {
    string_schema()
        .min_length(Some(1))
        .max_length(Some(100))
        .pattern(Some(NAME_PATTERN))
        .description(Some(
            "1–100 characters once surrounding blanks are trimmed, no control characters, not shaped like a Tocsin ID",
        ))
}

string_newtype!(
    /// A team or service name: 1–100 characters, unique within its kind.
    Name,
    parse_name,
    name_schema
);

string_newtype!(
    /// A person's display name.
    PersonName,
    parse_name,
    name_schema
);

string_newtype!(
    /// An email address, kept as given but compared case-insensitively by the store.
    Email,
    |s| {
        let t = s.trim();
        let valid = t.len() <= 254
            && !t.chars().any(|c| c.is_whitespace() || c.is_control())
            && t.split_once('@').is_some_and(|(local, domain)| {
                !local.is_empty() && !domain.contains('@') && domain.contains('.') && !domain.starts_with('.') && !domain.ends_with('.')
            });
        if valid { Ok(t.to_ascii_lowercase()) } else { Err(format!("{s:?} is not an email address like alice@example.com")) }
    },
    || string_schema()
        .format(Some(utoipa::openapi::schema::SchemaFormat::KnownFormat(utoipa::openapi::KnownFormat::Email)))
        .max_length(Some(254))
        .pattern(Some(EMAIL_PATTERN))
        .examples(["alice@example.com"])
);

/// What an [`Email`] accepts, as a JSON Schema pattern: a local part, `@`, and a domain with a dot inside it.
pub const EMAIL_PATTERN: &str = "^\\s*[^\\s@\\u0000-\\u001F\\u007F]+@[^\\s@.\\u0000-\\u001F\\u007F][^\\s@\\u0000-\\u001F\\u007F]*\\.[^\\s@\\u0000-\\u001F\\u007F]*[^\\s@.\\u0000-\\u001F\\u007F]\\s*$";

string_newtype!(
    /// An IANA time zone name such as `Europe/Berlin`.
    TimeZone,
    |s| {
        let t = s.trim();
        t.parse::<chrono_tz::Tz>()
            .map(|tz| tz.name().to_owned())
            .map_err(|_| format!("{s:?} is not an IANA time zone name like Europe/Berlin or America/New_York"))
    },
    || string_schema()
        .enum_values(Some(chrono_tz::TZ_VARIANTS.iter().map(|tz| tz.name())))
        .examples(["Europe/Berlin"])
);

string_newtype!(
    /// An absolute http(s) URL.
    HttpUrl,
    |s| {
        let u = url::Url::parse(s.trim()).map_err(|e| format!("{s:?} is not a URL: {e}"))?;
        if !matches!(u.scheme(), "http" | "https") || u.host_str().is_none() {
            return Err(format!("{s:?} must be an http:// or https:// URL"));
        }
        Ok(s.trim().to_owned())
    },
    || string_schema()
        .format(Some(utoipa::openapi::schema::SchemaFormat::Custom("uri".into())))
        .pattern(Some("^\\s*[hH][tT][tT][pP][sS]?://[^/?#\\s]"))
        .examples(["https://runbooks.example.com/checkout"])
);

/// Service tier: 1 is the most critical.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "i64", into = "i64")]
pub struct Tier(u8);

impl utoipa::PartialSchema for Tier {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::Integer)
            .minimum(Some(1))
            .maximum(Some(4))
            .description(Some("1 is the most critical"))
            .examples([1])
            .into()
    }
}
impl utoipa::ToSchema for Tier {}

impl Tier {
    pub fn get(self) -> u8 {
        self.0
    }
}
impl TryFrom<i64> for Tier {
    type Error = String;
    fn try_from(v: i64) -> Result<Self, String> {
        if (1..=4).contains(&v) {
            Ok(Self(v as u8))
        } else {
            Err(format!("must be 1 (most critical) to 4 (got {v})"))
        }
    }
}
impl From<Tier> for i64 {
    fn from(t: Tier) -> i64 {
        t.0.into()
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Team {
    pub id: TeamId,
    pub name: Name,
    pub description: String,
    /// Emails of the members.
    pub members: Vec<Email>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct User {
    pub id: UserId,
    pub name: PersonName,
    pub email: Email,
    pub time_zone: TimeZone,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// What the person may do; set by owners alone, never by a catalog document.
    pub role: crate::auth::Role,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Service {
    pub id: ServiceId,
    pub name: Name,
    pub description: String,
    /// Name of the owning team.
    pub team: Option<Name>,
    pub tier: Option<Tier>,
    pub runbook_url: Option<HttpUrl>,
    /// Names of the services this one depends on.
    pub depends_on: Vec<Name>,
    pub alert_severity_map: SeverityMap,
    /// How this service's alerts share incidents.
    pub grouping: Grouping,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A team as written in a catalog file or an API request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamSpec {
    pub name: Name,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Member emails.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub members: Vec<Email>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UserSpec {
    pub name: PersonName,
    pub email: Email,
    #[serde(default = "utc")]
    pub time_zone: TimeZone,
}

fn utc() -> TimeZone {
    TimeZone("UTC".into())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ServiceSpec {
    pub name: Name,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Owning team, by name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub team: Option<Name>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tier: Option<Tier>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runbook_url: Option<HttpUrl>,
    /// Services this one depends on, by name.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<Name>,
    #[serde(default, skip_serializing_if = "is_default_map")]
    pub alert_severity_map: SeverityMap,
    /// How alerts share incidents: one each (the default), within a time window, or by a key.
    #[serde(default, skip_serializing_if = "is_per_alert")]
    pub grouping: Grouping,
}

fn is_per_alert(g: &Grouping) -> bool {
    *g == Grouping::PerAlert
}

fn is_default_map(m: &SeverityMap) -> bool {
    *m == SeverityMap::default()
}

impl From<&Team> for TeamSpec {
    fn from(t: &Team) -> Self {
        Self {
            name: t.name.clone(),
            description: t.description.clone(),
            members: t.members.clone(),
        }
    }
}
impl From<&User> for UserSpec {
    fn from(u: &User) -> Self {
        Self {
            name: u.name.clone(),
            email: u.email.clone(),
            time_zone: u.time_zone.clone(),
        }
    }
}
impl From<&Service> for ServiceSpec {
    fn from(s: &Service) -> Self {
        Self {
            name: s.name.clone(),
            description: s.description.clone(),
            team: s.team.clone(),
            tier: s.tier,
            runbook_url: s.runbook_url.clone(),
            depends_on: s.depends_on.clone(),
            alert_severity_map: s.alert_severity_map,
            grouping: s.grouping.clone(),
        }
    }
}

impl TeamSpec {
    /// Canonical form, so that two specs that mean the same compare equal.
    pub fn normalized(mut self) -> Self {
        self.members.sort();
        self.members.dedup();
        self
    }
}
impl ServiceSpec {
    pub fn normalized(mut self) -> Self {
        self.depends_on.sort();
        self.depends_on.dedup();
        self
    }
}

/// The whole catalog as one document, the format of `tocsin apply` and `tocsin export`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CatalogDocument {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub users: Vec<UserSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<TeamSpec>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlanAction {
    Created,
    Updated,
    Unchanged,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum CatalogKind {
    User,
    Team,
    Service,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct PlanEntry {
    pub kind: CatalogKind,
    /// Name, or email for users.
    pub name: String,
    pub action: PlanAction,
}

/// What applying a document does, in the order the store must do it (users, teams, services).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CatalogPlan {
    pub users: Vec<(UserSpec, PlanAction)>,
    pub teams: Vec<(TeamSpec, PlanAction)>,
    pub services: Vec<(ServiceSpec, PlanAction)>,
}

impl CatalogPlan {
    pub fn entries(&self) -> Vec<PlanEntry> {
        let users = self
            .users
            .iter()
            .map(|(u, a)| (CatalogKind::User, u.email.to_string(), *a));
        let teams = self
            .teams
            .iter()
            .map(|(t, a)| (CatalogKind::Team, t.name.to_string(), *a));
        let services = self
            .services
            .iter()
            .map(|(s, a)| (CatalogKind::Service, s.name.to_string(), *a));
        users
            .chain(teams)
            .chain(services)
            .map(|(kind, name, action)| PlanEntry { kind, name, action })
            .collect()
    }
}

/// Compares `desired` with `current` and says what applying it does, or every reason it cannot be applied.
///
/// Applying is additive: entries present in `current` but absent from `desired` are left alone.
pub fn plan(
    current: &CatalogDocument,
    desired: &CatalogDocument,
) -> Result<CatalogPlan, ValidationErrors> {
    let mut errors = ValidationErrors::default();

    let mut seen = BTreeSet::new();
    for (i, u) in desired.users.iter().enumerate() {
        if !seen.insert(u.email.clone()) {
            errors.push(
                format!("users[{i}].email"),
                format!("{} appears more than once", u.email),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (i, t) in desired.teams.iter().enumerate() {
        if !seen.insert(t.name.clone()) {
            errors.push(
                format!("teams[{i}].name"),
                format!("team {} appears more than once", t.name),
            );
        }
    }
    let mut seen = BTreeSet::new();
    for (i, s) in desired.services.iter().enumerate() {
        if !seen.insert(s.name.clone()) {
            errors.push(
                format!("services[{i}].name"),
                format!("service {} appears more than once", s.name),
            );
        }
    }

    let user_exists = |e: &Email| {
        desired.users.iter().any(|u| &u.email == e) || current.users.iter().any(|u| &u.email == e)
    };
    let team_exists = |n: &Name| {
        desired.teams.iter().any(|t| &t.name == n) || current.teams.iter().any(|t| &t.name == n)
    };
    for (i, t) in desired.teams.iter().enumerate() {
        for (j, m) in t.members.iter().enumerate() {
            if !user_exists(m) {
                errors.push(
                    format!("teams[{i}].members[{j}]"),
                    format!("no user with email {m}; add it under users"),
                );
            }
        }
    }

    // The dependency graph after applying: desired services replace current ones of the same name.
    let mut graph: BTreeMap<&Name, &[Name]> = current
        .services
        .iter()
        .map(|s| (&s.name, s.depends_on.as_slice()))
        .collect();
    for s in &desired.services {
        graph.insert(&s.name, s.depends_on.as_slice());
    }
    for (i, s) in desired.services.iter().enumerate() {
        if let Err(e) = s.grouping.validate() {
            errors.0.extend(
                e.0.into_iter()
                    .map(|f| f.under(&format!("services[{i}].grouping"))),
            );
        }
        if let Some(team) = &s.team
            && !team_exists(team)
        {
            errors.push(
                format!("services[{i}].team"),
                format!("no team named {team}; add it under teams"),
            );
        }
        for (j, d) in s.depends_on.iter().enumerate() {
            if d == &s.name {
                errors.push(
                    format!("services[{i}].depends_on[{j}]"),
                    "a service cannot depend on itself",
                );
            } else if !graph.contains_key(d) {
                errors.push(
                    format!("services[{i}].depends_on[{j}]"),
                    format!("no service named {d}"),
                );
            }
        }
    }
    if errors.is_empty()
        && let Some(cycle) = find_cycle(&graph)
    {
        let idx = desired
            .services
            .iter()
            .position(|s| cycle.contains(&&s.name))
            .unwrap_or(0);
        let path = cycle
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(" → ");
        errors.push(
            format!("services[{idx}].depends_on"),
            format!("dependencies form a cycle: {path}"),
        );
    }
    if !errors.is_empty() {
        return Err(errors);
    }

    Ok(CatalogPlan {
        users: plan_entries(&desired.users, &current.users, |u| &u.email, |u| u),
        teams: plan_entries(
            &desired.teams,
            &current.teams,
            |t| &t.name,
            TeamSpec::normalized,
        ),
        services: plan_entries(
            &desired.services,
            &current.services,
            |s| &s.name,
            ServiceSpec::normalized,
        ),
    })
}

/// Pairs each desired entry, in canonical form, with what applying it does to the current entry with the same key.
fn plan_entries<T: Clone + PartialEq, K: PartialEq>(
    desired: &[T],
    current: &[T],
    key: impl Fn(&T) -> &K,
    canonical: impl Fn(T) -> T,
) -> Vec<(T, PlanAction)> {
    desired
        .iter()
        .map(|d| {
            let d = canonical(d.clone());
            let action = match current.iter().find(|c| key(c) == key(&d)) {
                None => PlanAction::Created,
                Some(c) if canonical(c.clone()) == d => PlanAction::Unchanged,
                Some(_) => PlanAction::Updated,
            };
            (d, action)
        })
        .collect()
}

/// A dependency cycle, as the names along it with the first repeated at the end, if there is one.
pub fn find_cycle<'a>(graph: &BTreeMap<&'a Name, &'a [Name]>) -> Option<Vec<&'a Name>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Visiting,
        Done,
    }
    fn visit<'a>(
        node: &'a Name,
        graph: &BTreeMap<&'a Name, &'a [Name]>,
        marks: &mut HashMap<&'a Name, Mark>,
        stack: &mut Vec<&'a Name>,
    ) -> Option<Vec<&'a Name>> {
        match marks.get(node) {
            Some(Mark::Done) => return None,
            Some(Mark::Visiting) => {
                let start = stack.iter().position(|n| *n == node).unwrap_or(0);
                let mut cycle = stack[start..].to_vec();
                cycle.push(node);
                return Some(cycle);
            }
            None => {}
        }
        marks.insert(node, Mark::Visiting);
        stack.push(node);
        for next in graph.get(node).copied().unwrap_or_default() {
            if let Some(c) = visit(next, graph, marks, stack) {
                return Some(c);
            }
        }
        stack.pop();
        marks.insert(node, Mark::Done);
        None
    }
    let mut marks = HashMap::new();
    graph
        .keys()
        .find_map(|n| visit(n, graph, &mut marks, &mut Vec::new()))
}

/// Checks a single service's references against the catalog it would join (used by the per-entity API).
pub fn check_service_refs(
    spec: &ServiceSpec,
    current: &CatalogDocument,
) -> Result<(), ValidationErrors> {
    let desired = CatalogDocument {
        services: vec![spec.clone()],
        ..Default::default()
    };
    plan(current, &desired).map(|_| ()).map_err(|e| {
        ValidationErrors(
            e.0.into_iter()
                .map(|f| FieldError {
                    field: f.field.replacen("services[0].", "", 1),
                    ..f
                })
                .collect(),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(yaml: serde_json::Value) -> CatalogDocument {
        serde_json::from_value(yaml).unwrap()
    }

    #[test]
    fn newtypes_reject_bad_values_with_a_reason() {
        assert!(Email::parse("alice@example.com").is_ok());
        assert!(Email::parse("alice").unwrap_err().contains("not an email"));
        assert!(TimeZone::parse("Europe/Berlin").is_ok());
        assert!(
            TimeZone::parse("Mars/Olympus")
                .unwrap_err()
                .contains("IANA")
        );
        assert!(HttpUrl::parse("ftp://x").is_err());
        assert!(Name::parse("  ").is_err());
        assert!(Name::parse("svc_01jdq9a3k2m7x8v4n5p6r7s8t9").is_err());
        assert!(Tier::try_from(5).is_err());
    }

    #[test]
    fn plan_reports_created_updated_unchanged_and_is_idempotent() {
        let desired = doc(serde_json::json!({
            "users": [{"name": "Alice", "email": "alice@example.com", "time_zone": "Europe/Berlin"}],
            "teams": [{"name": "payments", "members": ["alice@example.com"]}],
            "services": [
                {"name": "checkout", "team": "payments", "tier": 1, "depends_on": ["db"]},
                {"name": "db"}
            ]
        }));
        let p = plan(&CatalogDocument::default(), &desired).unwrap();
        assert!(p.entries().iter().all(|e| e.action == PlanAction::Created));
        // Applying the same document to a catalog that already holds it changes nothing.
        let p = plan(&desired, &desired).unwrap();
        assert!(
            p.entries()
                .iter()
                .all(|e| e.action == PlanAction::Unchanged),
            "{:?}",
            p.entries()
        );
        let mut changed = desired.clone();
        changed.services[1].tier = Some(Tier::try_from(2).unwrap());
        let p = plan(&desired, &changed).unwrap();
        assert_eq!(p.services[1].1, PlanAction::Updated);
        assert_eq!(p.services[0].1, PlanAction::Unchanged);
    }

    #[test]
    fn plan_names_every_broken_reference() {
        let desired = doc(serde_json::json!({
            "teams": [{"name": "payments", "members": ["ghost@example.com"]}],
            "services": [
                {"name": "checkout", "team": "nobody", "depends_on": ["missing", "checkout"]},
                {"name": "checkout"}
            ]
        }));
        let errs = plan(&CatalogDocument::default(), &desired).unwrap_err();
        let fields: Vec<_> = errs.0.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "services[1].name",
                "teams[0].members[0]",
                "services[0].team",
                "services[0].depends_on[0]",
                "services[0].depends_on[1]"
            ]
        );
    }

    #[test]
    fn plan_refuses_dependency_cycles() {
        let current = doc(
            serde_json::json!({"services": [{"name": "a", "depends_on": ["b"]}, {"name": "b"}]}),
        );
        let desired = doc(serde_json::json!({"services": [{"name": "b", "depends_on": ["a"]}]}));
        let errs = plan(&current, &desired).unwrap_err();
        assert!(errs.0[0].message.contains("cycle"), "{errs}");
    }
}
