//! Severities: the sender's alert severity, the incident's SEV-0…SEV-3, and the per-service map between them.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// The severity a sender gives an alert (PagerDuty's four levels; other senders are mapped onto them).
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
pub enum AlertSeverity {
    Critical,
    Error,
    Warning,
    Info,
}

impl AlertSeverity {
    pub const ALL: [AlertSeverity; 4] = [Self::Critical, Self::Error, Self::Warning, Self::Info];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::Error => "error",
            Self::Warning => "warning",
            Self::Info => "info",
        }
    }
}

impl FromStr for AlertSeverity {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Self::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("must be one of critical, error, warning, info (got {s:?})"))
    }
}

impl fmt::Display for AlertSeverity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Incident severity, SEV-0 (the worst) to SEV-3. Ordered so that `Sev0 < Sev3`: lower is more severe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Severity {
    Sev0,
    Sev1,
    Sev2,
    Sev3,
}

impl Severity {
    pub const ALL: [Severity; 4] = [Self::Sev0, Self::Sev1, Self::Sev2, Self::Sev3];

    pub fn level(self) -> u8 {
        self as u8
    }

    pub fn from_level(level: i64) -> Option<Self> {
        Self::ALL.get(usize::try_from(level).ok()?).copied()
    }

    pub fn as_str(self) -> &'static str {
        ["SEV-0", "SEV-1", "SEV-2", "SEV-3"][self as usize]
    }

    /// SEV-0 and SEV-1 page with high urgency.
    pub fn is_high_urgency(self) -> bool {
        self <= Self::Sev1
    }
}

impl FromStr for Severity {
    type Err = String;
    /// Accepts `SEV-1`, `sev1`, `SEV1` and `1`.
    fn from_str(s: &str) -> Result<Self, String> {
        let t = s.trim().to_ascii_uppercase();
        let digits = t
            .strip_prefix("SEV")
            .map(|r| r.trim_start_matches('-'))
            .unwrap_or(&t);
        match digits {
            "0" => Ok(Self::Sev0),
            "1" => Ok(Self::Sev1),
            "2" => Ok(Self::Sev2),
            "3" => Ok(Self::Sev3),
            _ => Err(format!(
                "must be one of SEV-0, SEV-1, SEV-2, SEV-3 (got {s:?})"
            )),
        }
    }
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Severity {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Severity {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

impl utoipa::PartialSchema for Severity {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(["SEV-0", "SEV-1", "SEV-2", "SEV-3"]))
            .description(Some("Incident severity; SEV-0 is the most severe."))
            .into()
    }
}
impl utoipa::ToSchema for Severity {}

/// What an alert of a given severity opens: an incident of some severity, or nothing (the alert is only recorded).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SeverityTarget {
    Incident(Severity),
    NoIncident,
}

impl Serialize for SeverityTarget {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Incident(sev) => sev.serialize(s),
            Self::NoIncident => s.serialize_str("none"),
        }
    }
}

impl<'de> Deserialize<'de> for SeverityTarget {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        if s.eq_ignore_ascii_case("none") {
            return Ok(Self::NoIncident);
        }
        s.parse()
            .map(Self::Incident)
            .map_err(|e| serde::de::Error::custom(format!("{e}, or none")))
    }
}

/// How a service turns alert severities into incident severities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityMap {
    #[schema(value_type = String, example = "SEV-1")]
    pub critical: SeverityTarget,
    #[schema(value_type = String, example = "SEV-2")]
    pub error: SeverityTarget,
    #[schema(value_type = String, example = "SEV-3")]
    pub warning: SeverityTarget,
    #[schema(value_type = String, example = "none")]
    pub info: SeverityTarget,
}

impl Default for SeverityMap {
    fn default() -> Self {
        Self {
            critical: SeverityTarget::Incident(Severity::Sev1),
            error: SeverityTarget::Incident(Severity::Sev2),
            warning: SeverityTarget::Incident(Severity::Sev3),
            info: SeverityTarget::NoIncident,
        }
    }
}

impl SeverityMap {
    pub fn target(&self, alert: AlertSeverity) -> SeverityTarget {
        match alert {
            AlertSeverity::Critical => self.critical,
            AlertSeverity::Error => self.error,
            AlertSeverity::Warning => self.warning,
            AlertSeverity::Info => self.info,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_parses_common_spellings() {
        for s in ["SEV-1", "sev1", "SEV1", "1", " sev-1 "] {
            assert_eq!(s.parse::<Severity>(), Ok(Severity::Sev1), "{s}");
        }
        assert!("SEV-4".parse::<Severity>().is_err());
        assert!("high".parse::<Severity>().is_err());
        assert!(Severity::Sev0 < Severity::Sev3);
        assert!(Severity::Sev1.is_high_urgency() && !Severity::Sev2.is_high_urgency());
    }

    #[test]
    fn default_map_matches_the_documented_defaults() {
        let m = SeverityMap::default();
        assert_eq!(
            m.target(AlertSeverity::Critical),
            SeverityTarget::Incident(Severity::Sev1)
        );
        assert_eq!(
            m.target(AlertSeverity::Error),
            SeverityTarget::Incident(Severity::Sev2)
        );
        assert_eq!(
            m.target(AlertSeverity::Warning),
            SeverityTarget::Incident(Severity::Sev3)
        );
        assert_eq!(m.target(AlertSeverity::Info), SeverityTarget::NoIncident);
        let json = serde_json::to_value(m).unwrap();
        assert_eq!(json["info"], "none");
        assert_eq!(serde_json::from_value::<SeverityMap>(json).unwrap(), m);
    }
}

/// What a severity means in an organisation and what responding to it asks of people, as admins word it; shown
/// wherever a severity is chosen, so that people choose the same one for the same harm.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityLevelSpec {
    /// A word for it, e.g. "critical".
    pub name: String,
    /// The harm that makes an incident this severe.
    #[serde(default)]
    pub definition: String,
    /// Incidents that were this severe, one line each.
    #[serde(default)]
    pub examples: Vec<String>,
    /// Who responds and how: who is paged, who leads, who is told.
    #[serde(default)]
    pub expectations: String,
    /// How often stakeholders are owed an update while it is open, in minutes; none for no cadence.
    #[serde(default)]
    pub update_every_minutes: Option<u32>,
    /// Whether an incident this severe gets a postmortem.
    #[serde(default)]
    pub postmortem_required: bool,
}

/// A change to a severity's definition: only what is given changes (`update_every_minutes: null` removes the
/// cadence).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SeverityLevelChange {
    pub name: Option<String>,
    pub definition: Option<String>,
    pub examples: Option<Vec<String>>,
    pub expectations: Option<String>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<u32>)]
    pub update_every_minutes: Option<Option<u32>>,
    pub postmortem_required: Option<bool>,
}

/// A field that was sent, even as `null`; a missing one stays `None` through `#[serde(default)]`.
fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<T>, D::Error> {
    T::deserialize(d).map(Some)
}

impl SeverityLevelChange {
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// The definition with this change made.
    pub fn apply(self, mut spec: SeverityLevelSpec) -> SeverityLevelSpec {
        if let Some(v) = self.name {
            spec.name = v;
        }
        if let Some(v) = self.definition {
            spec.definition = v;
        }
        if let Some(v) = self.examples {
            spec.examples = v;
        }
        if let Some(v) = self.expectations {
            spec.expectations = v;
        }
        if let Some(v) = self.update_every_minutes {
            spec.update_every_minutes = v;
        }
        if let Some(v) = self.postmortem_required {
            spec.postmortem_required = v;
        }
        spec
    }

    /// A change that makes a level exactly `spec`.
    pub fn whole(spec: SeverityLevelSpec) -> Self {
        Self {
            name: Some(spec.name),
            definition: Some(spec.definition),
            examples: Some(spec.examples),
            expectations: Some(spec.expectations),
            update_every_minutes: Some(spec.update_every_minutes),
            postmortem_required: Some(spec.postmortem_required),
        }
    }
}

/// A severity with its definition, and the urgency its pages go out with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct SeverityLevel {
    pub severity: Severity,
    /// `high` for SEV-0 and SEV-1, whose pages follow people's high-urgency notification rules; `low` otherwise.
    pub urgency: &'static str,
    pub name: String,
    pub definition: String,
    pub examples: Vec<String>,
    pub expectations: String,
    pub update_every_minutes: Option<u32>,
    pub postmortem_required: bool,
}

/// Most examples a severity lists.
pub const MAX_EXAMPLES: usize = 10;
/// Shortest and longest update cadence, in minutes.
pub const UPDATE_EVERY_MINUTES: std::ops::RangeInclusive<u32> = 5..=1440;

impl SeverityLevelSpec {
    pub fn validate(&self) -> Result<(), crate::ValidationErrors> {
        let mut errors = crate::ValidationErrors::default();
        errors.check_label("name", &self.name);
        let mut text = |field: &str, value: &str, most: usize| {
            if value.contains('\0') {
                errors.push(field, "must not contain NUL characters");
            } else if value.chars().count() > most {
                errors.push(field, format!("must be at most {most} characters"));
            }
        };
        text("definition", &self.definition, 2_000);
        text("expectations", &self.expectations, 4_000);
        for (i, example) in self.examples.iter().enumerate() {
            text(&format!("examples[{i}]"), example, 200);
        }
        // An example is a line, so that a form listing them one per line gives back the same examples.
        if let Some(i) = self.examples.iter().position(|e| e.contains(['\n', '\r'])) {
            errors.push(format!("examples[{i}]"), "must be one line");
        }
        if self.examples.len() > MAX_EXAMPLES {
            errors.push("examples", format!("at most {MAX_EXAMPLES} examples"));
        }
        if let Some(m) = self.update_every_minutes
            && !UPDATE_EVERY_MINUTES.contains(&m)
        {
            errors.push(
                "update_every_minutes",
                format!(
                    "must be {} to {} minutes, or left out for no cadence",
                    UPDATE_EVERY_MINUTES.start(),
                    UPDATE_EVERY_MINUTES.end()
                ),
            );
        }
        errors.into_result(())
    }

    /// The same, trimmed as people mean it: no blank examples, no blanks around text.
    pub fn tidy(mut self) -> Self {
        self.name = self.name.trim().to_owned();
        self.definition = self.definition.trim().to_owned();
        self.expectations = self.expectations.trim().to_owned();
        self.examples = self
            .examples
            .iter()
            .map(|e| e.trim().to_owned())
            .filter(|e| !e.is_empty())
            .collect();
        self
    }

    /// The levels an organisation starts with: SEV-0 an outage for everyone, SEV-1 a major feature unusable for
    /// many, SEV-2 partial degradation for some, SEV-3 a small issue.
    pub fn default_for(severity: Severity) -> Self {
        let (name, definition, examples, expectations, update_every_minutes, postmortem_required): (
            &str,
            &str,
            &[&str],
            &str,
            Option<u32>,
            bool,
        ) = match severity {
            Severity::Sev0 => (
                "critical",
                "A complete outage, or data lost or exposed, for all users.",
                &["The site or the API is down for everyone", "Customer data is lost or leaked"],
                "The on-call is paged at once with high urgency; an incident commander leads, a communications \
                 lead keeps stakeholders informed, and everyone needed joins.",
                Some(30),
                true,
            ),
            Severity::Sev1 => (
                "high",
                "Significant degradation: a major feature is unusable for many users.",
                &["Checkout fails for a large share of customers", "Sign-in takes minutes for everyone"],
                "The on-call is paged at once with high urgency; an incident commander leads.",
                Some(60),
                true,
            ),
            Severity::Sev2 => (
                "moderate",
                "Partial degradation affecting some users.",
                &["One region is slow", "A secondary feature fails for some customers"],
                "The on-call is told with low urgency and responds as their rules say.",
                Some(240),
                false,
            ),
            Severity::Sev3 => (
                "low",
                "A small issue with little or no impact on users.",
                &["A cosmetic fault", "A background job that needs retrying"],
                "Low urgency: handled in normal working hours.",
                None,
                false,
            ),
        };
        Self {
            name: name.into(),
            definition: definition.into(),
            examples: examples.iter().map(|e| (*e).to_owned()).collect(),
            expectations: expectations.into(),
            update_every_minutes,
            postmortem_required,
        }
    }
}

impl SeverityLevel {
    pub fn new(severity: Severity, spec: SeverityLevelSpec) -> Self {
        Self {
            severity,
            urgency: if severity.is_high_urgency() {
                "high"
            } else {
                "low"
            },
            name: spec.name,
            definition: spec.definition,
            examples: spec.examples,
            expectations: spec.expectations,
            update_every_minutes: spec.update_every_minutes,
            postmortem_required: spec.postmortem_required,
        }
    }

    /// Its definition, as it would be written back.
    pub fn spec(&self) -> SeverityLevelSpec {
        SeverityLevelSpec {
            name: self.name.clone(),
            definition: self.definition.clone(),
            examples: self.examples.clone(),
            expectations: self.expectations.clone(),
            update_every_minutes: self.update_every_minutes,
            postmortem_required: self.postmortem_required,
        }
    }
}

#[cfg(test)]
mod level_tests {
    use super::*;

    #[test]
    fn every_severity_starts_with_a_valid_definition() {
        for sev in Severity::ALL {
            let spec = SeverityLevelSpec::default_for(sev);
            assert_eq!(spec.validate(), Ok(()), "{sev}");
            assert!(!spec.definition.is_empty() && !spec.examples.is_empty());
        }
        assert!(SeverityLevelSpec::default_for(Severity::Sev0).postmortem_required);
        assert_eq!(
            SeverityLevel::new(
                Severity::Sev2,
                SeverityLevelSpec::default_for(Severity::Sev2)
            )
            .urgency,
            "low"
        );
    }

    #[test]
    fn a_definition_is_bounded_and_named() {
        let spec = SeverityLevelSpec {
            name: " ".into(),
            definition: "x".repeat(2_001),
            examples: vec!["ok".into(), "a\0b".into()],
            expectations: String::new(),
            update_every_minutes: Some(2),
            postmortem_required: false,
        };
        let errors = spec.validate().unwrap_err();
        let fields = errors.fields();
        assert_eq!(
            fields,
            ["name", "definition", "examples[1]", "update_every_minutes"]
        );
        let tidy = SeverityLevelSpec {
            name: " major ".into(),
            examples: vec![" a ".into(), "  ".into()],
            ..SeverityLevelSpec::default_for(Severity::Sev1)
        }
        .tidy();
        assert_eq!(
            (tidy.name.as_str(), tidy.examples),
            ("major", vec!["a".to_owned()])
        );
    }
}
