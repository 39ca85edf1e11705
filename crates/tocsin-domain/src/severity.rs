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
