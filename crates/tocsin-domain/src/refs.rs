//! References by which people and tools name things: an ID, or what a person would type (a name, an email, an
//! incident number). They are parsed once at the edge, so everything below knows which column it is looking for and
//! never guesses again from a string's shape.

use crate::ids::{IncidentId, PolicyId, ScheduleId, ServiceId, TeamId, UserId};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// An entry named by its ID or by its unique name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ref<Id> {
    Id(Id),
    Name(String),
}

pub type ServiceRef = Ref<ServiceId>;
pub type TeamRef = Ref<TeamId>;
pub type PolicyRef = Ref<PolicyId>;
pub type ScheduleRef = Ref<ScheduleId>;

/// ID types a [`Ref`] can hold.
pub trait RefId: Sized + Clone {
    fn parse_id(s: &str) -> Option<Self>;
    fn id_str(&self) -> &str;
}

macro_rules! ref_id {
    ($($t:ty),*) => {$(
        impl RefId for $t {
            fn parse_id(s: &str) -> Option<Self> {
                <$t>::parse(s)
            }
            fn id_str(&self) -> &str {
                self.as_str()
            }
        }
    )*};
}
ref_id!(ServiceId, TeamId, PolicyId, ScheduleId, UserId, IncidentId);

impl<Id: RefId> Ref<Id> {
    /// A string of the ID's shape is the ID; anything else is a name (surrounding blanks ignored).
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        match Id::parse_id(s) {
            Some(id) => Self::Id(id),
            None => Self::Name(s.to_owned()),
        }
    }

    /// The column value to look the entry up by.
    pub fn key(&self) -> &str {
        match self {
            Self::Id(id) => id.id_str(),
            Self::Name(name) => name,
        }
    }

    pub fn is_id(&self) -> bool {
        matches!(self, Self::Id(_))
    }
}

impl<Id: RefId> From<Id> for Ref<Id> {
    fn from(id: Id) -> Self {
        Self::Id(id)
    }
}

impl<Id: RefId> From<&str> for Ref<Id> {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl<Id: RefId> fmt::Display for Ref<Id> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// A user named by ID or by email (compared without regard to case).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum UserRef {
    Id(UserId),
    Email(String),
}

impl UserRef {
    pub fn parse(s: &str) -> Self {
        let s = s.trim();
        match UserId::parse(s) {
            Some(id) => Self::Id(id),
            None => Self::Email(s.to_lowercase()),
        }
    }

    pub fn key(&self) -> &str {
        match self {
            Self::Id(id) => id.as_str(),
            Self::Email(email) => email,
        }
    }
}

impl From<UserId> for UserRef {
    fn from(id: UserId) -> Self {
        Self::Id(id)
    }
}

impl From<&str> for UserRef {
    fn from(s: &str) -> Self {
        Self::parse(s)
    }
}

impl fmt::Display for UserRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.key())
    }
}

/// An incident named by ID or by number (`42` or `#42`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum IncidentRef {
    Id(IncidentId),
    Number(i64),
}

impl IncidentRef {
    /// `None` for a string that is neither an incident ID nor a number, which can name no incident.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if let Some(id) = IncidentId::parse(s) {
            return Some(Self::Id(id));
        }
        s.strip_prefix('#')
            .unwrap_or(s)
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Self::Number)
    }
}

impl From<IncidentId> for IncidentRef {
    fn from(id: IncidentId) -> Self {
        Self::Id(id)
    }
}

impl fmt::Display for IncidentRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Id(id) => f.write_str(id.as_str()),
            Self::Number(n) => write!(f, "#{n}"),
        }
    }
}

/// References arrive in request bodies as strings.
macro_rules! deserialize_from_str {
    ($t:ty, $parse:expr) => {
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                $parse(&s)
            }
        }
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(self)
            }
        }
    };
}

impl<'de, Id: RefId> serde::Deserialize<'de> for Ref<Id> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(Self::parse(&String::deserialize(d)?))
    }
}
impl<Id: RefId> serde::Serialize for Ref<Id> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.key())
    }
}
deserialize_from_str!(UserRef, |s: &str| Ok(UserRef::parse(s)));
deserialize_from_str!(IncidentRef, |s: &str| IncidentRef::parse(s).ok_or_else(
    || {
        serde::de::Error::custom(format!(
            "{s:?} is neither an incident ID nor an incident number"
        ))
    }
));

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_string_of_an_ids_shape_is_an_id_and_anything_else_a_name() {
        let id = ServiceId::generate();
        assert_eq!(ServiceRef::parse(id.as_str()), Ref::Id(id.clone()));
        assert_eq!(
            ServiceRef::parse(" checkout "),
            Ref::Name("checkout".into())
        );
        // Another type's ID is only a (strange) name here.
        let team = TeamId::generate();
        assert_eq!(
            ServiceRef::parse(team.as_str()),
            Ref::Name(team.to_string())
        );
    }

    #[test]
    fn emails_compare_without_case() {
        assert_eq!(
            UserRef::parse("Ada@Example.com"),
            UserRef::Email("ada@example.com".into())
        );
    }

    #[test]
    fn incidents_are_named_by_id_or_number() {
        let id = IncidentId::generate();
        assert_eq!(IncidentRef::parse(id.as_str()), Some(IncidentRef::Id(id)));
        assert_eq!(IncidentRef::parse("#42"), Some(IncidentRef::Number(42)));
        assert_eq!(IncidentRef::parse("42"), Some(IncidentRef::Number(42)));
        assert_eq!(IncidentRef::parse("#0"), None);
        assert_eq!(IncidentRef::parse("checkout"), None);
        assert_eq!(IncidentRef::Number(7).to_string(), "#7");
    }
}

/// A key people give what they define (roles, checklists, runbooks), as paths and documents name it: a lowercase letter, then up to 39 lowercase letters, digits and
/// dashes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Key(String);

impl Key {
    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub(crate) fn trusted(s: &str) -> Self {
        Self(s.to_owned())
    }
}

impl FromStr for Key {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut chars = s.chars();
        let first_is_letter = chars.next().is_some_and(|c| c.is_ascii_lowercase());
        if !first_is_letter
            || s.len() > 40
            || !chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        {
            return Err(format!(
                "must be a lowercase letter followed by up to 39 lowercase letters, digits or dashes (got {s:?})"
            ));
        }
        Ok(Self(s.to_owned()))
    }
}

impl TryFrom<String> for Key {
    type Error = String;
    fn try_from(s: String) -> Result<Self, String> {
        s.parse()
    }
}

impl From<Key> for String {
    fn from(k: Key) -> String {
        k.0
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}
