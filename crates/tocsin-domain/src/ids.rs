//! Prefixed, typed identifiers (`svc_01jd…`): a service ID cannot be passed where an incident ID is expected, and a
//! human reading a log line knows what an ID names.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

macro_rules! prefixed_id {
    ($(#[$doc:meta])* $name:ident, $prefix:literal) => {
        $(#[$doc])*
        #[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(String);

        impl $name {
            pub const PREFIX: &'static str = $prefix;

            /// A fresh, time-ordered identifier.
            pub fn generate() -> Self {
                Self(format!("{}_{}", $prefix, ulid::Ulid::new().to_string().to_lowercase()))
            }

            /// Accepts only strings of this ID's shape: its prefix, an underscore and a 26-character ULID.
            pub fn parse(s: &str) -> Option<Self> {
                let rest = s.strip_prefix($prefix)?.strip_prefix('_')?;
                (rest.len() == 26 && ulid::Ulid::from_string(rest).is_ok()).then(|| Self(s.to_owned()))
            }

            /// Wraps a value read back from storage, which only ever holds IDs this type generated.
            pub fn from_trusted(s: String) -> Self {
                Self(s)
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::parse(&s).ok_or_else(|| {
                    serde::de::Error::custom(format!("{s:?} is not a {} ID (expected {}_…)", stringify!($name), $prefix))
                })
            }
        }

        impl utoipa::PartialSchema for $name {
            fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
                utoipa::openapi::ObjectBuilder::new()
                    .schema_type(utoipa::openapi::schema::Type::String)
                    .description(Some(concat!("Identifier, prefixed `", $prefix, "_`.")))
                    .examples([concat!($prefix, "_01jdq9a3k2m7x8v4n5p6r7s8t9")])
                    .into()
            }
        }

        impl utoipa::ToSchema for $name {}
    };
}

prefixed_id!(TeamId, "team");
prefixed_id!(UserId, "usr");
prefixed_id!(ServiceId, "svc");
prefixed_id!(IntegrationId, "int");
prefixed_id!(TokenId, "tok");
prefixed_id!(AlertId, "alr");
prefixed_id!(IncidentId, "inc");
prefixed_id!(ChangeEventId, "chg");
prefixed_id!(RuleId, "rule");
prefixed_id!(SilenceId, "sil");
prefixed_id!(MaintenanceId, "mnt");
prefixed_id!(ScheduleId, "sch");
prefixed_id!(OverrideId, "ovr");
prefixed_id!(PolicyId, "pol");
prefixed_id!(ContactMethodId, "cm");
prefixed_id!(NotificationRuleId, "nr");
prefixed_id!(DeliveryId, "msg");
prefixed_id!(FeedId, "feed");
prefixed_id!(SessionId, "ses");
prefixed_id!(RunId, "run");
prefixed_id!(SubscriptionId, "sub");
prefixed_id!(StatusPageId, "sp");
prefixed_id!(ComponentId, "cmp");
prefixed_id!(PublicIncidentId, "pinc");
prefixed_id!(PublicUpdateId, "pupd");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ids_parse_back_and_reject_other_prefixes() {
        let id = ServiceId::generate();
        assert!(id.as_str().starts_with("svc_"));
        assert_eq!(ServiceId::parse(id.as_str()), Some(id.clone()));
        assert_eq!(IncidentId::parse(id.as_str()), None);
        assert_eq!(ServiceId::parse("svc_short"), None);
    }
}
