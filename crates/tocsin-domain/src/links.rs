//! Signed, expiring action links ("Acknowledge", "Resolve") put in notification emails and chat messages.
//!
//! Whoever holds the link may act as the user it names, without logging in, so the token carries everything the
//! action needs and an HMAC over it: nothing is stored per link, and a link cannot be altered to act on another
//! incident, as another user, with another action or for longer. The token is `payload.signature`, both base64url
//! without padding, so it fits in a URL path or query without escaping.

use crate::ids::{IncidentId, UserId};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// HMAC-SHA256 output in bytes; a shorter signature means the token was cut short, not forged.
const SIGNATURE_LEN: usize = 32;

/// Names the payload layout inside the signed part, so a later layout can never be read as this one, and a token
/// signed for another purpose with the same key is not mistaken for an action link.
const PAYLOAD_VERSION: &str = "link1";

/// What following a link does to its incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkAction {
    /// Acknowledge the incident: someone is on it.
    Acknowledge,
    /// Resolve the incident.
    Resolve,
    /// Show the incident, read-only, with the actions its state allows: the link to the incident a page carries.
    View,
}

impl LinkAction {
    /// The action's wire name, as in JSON and in the signed payload.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Acknowledge => "acknowledge",
            Self::Resolve => "resolve",
            Self::View => "view",
        }
    }

    fn from_wire(s: &str) -> Option<Self> {
        match s {
            "acknowledge" => Some(Self::Acknowledge),
            "resolve" => Some(Self::Resolve),
            "view" => Some(Self::View),
            _ => None,
        }
    }
}

impl fmt::Display for LinkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a link was refused. The messages are shown to the person who followed the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LinkError {
    /// The token is not one this format can produce, typically cut short when copied or wrapped by a mail client.
    #[error("this link is incomplete or damaged; open the incident in Tocsin instead")]
    Malformed,
    /// The token was not signed with this installation's key, or was changed after signing.
    #[error(
        "this link was not issued by this Tocsin or has been altered; open the incident in Tocsin instead"
    )]
    BadSignature,
    /// The token is genuine but its time is up.
    #[error("this link has expired; open the incident in Tocsin instead")]
    Expired,
}

/// One action, on one incident, by one user, allowed until `expires_at`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionLink {
    /// The incident the action applies to.
    pub incident_id: IncidentId,
    /// What following the link does.
    pub action: LinkAction,
    /// The user the action is recorded as; the link is sent only to this user.
    pub user_id: UserId,
    /// The first instant at which the link no longer works. Kept to the whole second, rounded down, so a link never
    /// outlives the expiry it was given.
    pub expires_at: DateTime<Utc>,
}

impl ActionLink {
    /// A URL-safe token: the base64url (no padding) of a compact payload, a `.`, and the base64url of an
    /// HMAC-SHA256 over that encoded payload. `key` must be a secret of at least 32 random bytes; every holder of
    /// the key can mint links for any user.
    pub fn sign(&self, key: &[u8]) -> String {
        let payload = format!(
            "{PAYLOAD_VERSION}:{}:{}:{}:{}",
            self.incident_id.as_str(),
            self.action.as_str(),
            self.user_id.as_str(),
            self.expires_at.timestamp(),
        );
        let encoded_payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = mac(key, &encoded_payload).finalize().into_bytes();
        format!("{encoded_payload}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    /// Checks a token made by [`ActionLink::sign`] with the same key and returns the link it carries, if it has not
    /// expired at `now` (the expiry instant itself is already expired).
    ///
    /// The signature is checked before the payload is read or the expiry compared, so a forged or altered token is
    /// always [`LinkError::BadSignature`] and reveals nothing about what it claims.
    pub fn verify(token: &str, key: &[u8], now: DateTime<Utc>) -> Result<ActionLink, LinkError> {
        let (encoded_payload, encoded_signature) =
            token.split_once('.').ok_or(LinkError::Malformed)?;
        let signature = URL_SAFE_NO_PAD
            .decode(encoded_signature)
            .map_err(|_| LinkError::Malformed)?;
        if signature.len() != SIGNATURE_LEN {
            return Err(LinkError::Malformed);
        }
        // The MAC covers the encoded text rather than the decoded bytes, so any change to the characters of the
        // payload, even one that decodes to the same bytes, fails here.
        mac(key, encoded_payload)
            .verify_slice(&signature)
            .map_err(|_| LinkError::BadSignature)?;
        let payload = URL_SAFE_NO_PAD
            .decode(encoded_payload)
            .map_err(|_| LinkError::Malformed)?;
        let link = parse_payload(&payload).ok_or(LinkError::Malformed)?;
        if now >= link.expires_at {
            return Err(LinkError::Expired);
        }
        Ok(link)
    }
}

fn mac(key: &[u8], encoded_payload: &str) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC accepts keys of any length");
    mac.update(encoded_payload.as_bytes());
    mac
}

fn parse_payload(payload: &[u8]) -> Option<ActionLink> {
    let text = std::str::from_utf8(payload).ok()?;
    let mut fields = text.split(':');
    let (Some(version), Some(incident_id), Some(action), Some(user_id), Some(expires_at), None) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next(),
    ) else {
        return None;
    };
    if version != PAYLOAD_VERSION {
        return None;
    }
    Some(ActionLink {
        incident_id: IncidentId::parse(incident_id)?,
        action: LinkAction::from_wire(action)?,
        user_id: UserId::parse(user_id)?,
        expires_at: DateTime::from_timestamp(expires_at.parse().ok()?, 0)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, TimeZone};

    const KEY: &[u8] = b"0123456789abcdef0123456789abcdef";

    fn at(hour: u32, minute: u32, second: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 3, 2, hour, minute, second)
            .unwrap()
    }

    fn link(action: LinkAction) -> ActionLink {
        ActionLink {
            incident_id: IncidentId::parse("inc_01jdq9a3k2m7x8v4n5p6r7s8t9").unwrap(),
            action,
            user_id: UserId::parse("usr_01jdq9a3k2m7x8v4n5p6r7s8ta").unwrap(),
            expires_at: at(10, 0, 0),
        }
    }

    fn sign_raw_payload(payload: &[u8], key: &[u8]) -> String {
        let encoded_payload = URL_SAFE_NO_PAD.encode(payload);
        let signature = mac(key, &encoded_payload).finalize().into_bytes();
        format!("{encoded_payload}.{}", URL_SAFE_NO_PAD.encode(signature))
    }

    #[test]
    fn action_names_match_their_serde_form() {
        for action in [LinkAction::Acknowledge, LinkAction::Resolve] {
            assert_eq!(
                serde_json::to_value(action).unwrap(),
                serde_json::json!(action.as_str())
            );
            assert_eq!(action.to_string(), action.as_str());
            assert_eq!(LinkAction::from_wire(action.as_str()), Some(action));
        }
        assert_eq!(LinkAction::Acknowledge.as_str(), "acknowledge");
        assert_eq!(LinkAction::Resolve.as_str(), "resolve");
    }

    #[test]
    fn a_signed_link_verifies_back_to_the_same_link() {
        for action in [LinkAction::Acknowledge, LinkAction::Resolve] {
            let original = link(action);
            let token = original.sign(KEY);
            assert_eq!(ActionLink::verify(&token, KEY, at(9, 0, 0)), Ok(original));
        }
    }

    #[test]
    fn tokens_need_no_escaping_in_a_url() {
        let token = link(LinkAction::Resolve).sign(KEY);
        assert!(
            token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)),
            "{token}"
        );
        assert_eq!(token.matches('.').count(), 1);
    }

    #[test]
    fn signing_is_deterministic_and_depends_on_every_field() {
        let original = link(LinkAction::Acknowledge);
        let token = original.sign(KEY);
        assert_eq!(original.sign(KEY), token);
        let variants = [
            ActionLink {
                action: LinkAction::Resolve,
                ..original.clone()
            },
            ActionLink {
                incident_id: IncidentId::parse("inc_01jdq9a3k2m7x8v4n5p6r7s8tb").unwrap(),
                ..original.clone()
            },
            ActionLink {
                user_id: UserId::parse("usr_01jdq9a3k2m7x8v4n5p6r7s8tc").unwrap(),
                ..original.clone()
            },
            ActionLink {
                expires_at: original.expires_at + Duration::seconds(1),
                ..original.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.sign(KEY), token, "{variant:?}");
        }
    }

    #[test]
    fn expiry_is_kept_to_the_second_rounded_down() {
        let mut original = link(LinkAction::Acknowledge);
        original.expires_at = at(10, 0, 0) + Duration::milliseconds(999);
        let verified = ActionLink::verify(&original.sign(KEY), KEY, at(9, 0, 0)).unwrap();
        assert_eq!(verified.expires_at, at(10, 0, 0));
        assert_eq!(
            ActionLink::verify(&original.sign(KEY), KEY, at(10, 0, 0)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn a_payload_changed_to_another_action_is_refused() {
        let token = link(LinkAction::Acknowledge).sign(KEY);
        let (payload, signature) = token.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        assert!(text.contains(":acknowledge:"), "{text}");
        let forged = URL_SAFE_NO_PAD.encode(text.replace(":acknowledge:", ":resolve:"));
        assert_eq!(
            ActionLink::verify(&format!("{forged}.{signature}"), KEY, at(9, 0, 0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_payload_with_a_later_expiry_is_refused_even_once_expired() {
        let token = link(LinkAction::Resolve).sign(KEY);
        let (payload, signature) = token.split_once('.').unwrap();
        let text = String::from_utf8(URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        let expiry = at(10, 0, 0).timestamp().to_string();
        let extended = text.replace(&expiry, &(at(10, 0, 0).timestamp() + 86_400).to_string());
        assert_ne!(extended, text);
        let forged = format!("{}.{signature}", URL_SAFE_NO_PAD.encode(extended));
        assert_eq!(
            ActionLink::verify(&forged, KEY, at(11, 0, 0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_changed_signature_is_refused() {
        let token = link(LinkAction::Acknowledge).sign(KEY);
        let (payload, signature) = token.split_once('.').unwrap();
        let mut bytes = URL_SAFE_NO_PAD.decode(signature).unwrap();
        assert_eq!(bytes.len(), 32);
        bytes[0] ^= 1;
        let flipped = format!("{payload}.{}", URL_SAFE_NO_PAD.encode(&bytes));
        assert_eq!(
            ActionLink::verify(&flipped, KEY, at(9, 0, 0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_link_signed_with_another_key_is_refused() {
        let token = link(LinkAction::Acknowledge).sign(b"another key, just as long as ours");
        assert_eq!(
            ActionLink::verify(&token, KEY, at(9, 0, 0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_forged_link_reports_its_signature_before_its_expiry() {
        let token = link(LinkAction::Acknowledge).sign(b"another key, just as long as ours");
        assert_eq!(
            ActionLink::verify(&token, KEY, at(12, 0, 0)),
            Err(LinkError::BadSignature)
        );
    }

    #[test]
    fn a_link_works_until_the_instant_it_expires() {
        let token = link(LinkAction::Acknowledge).sign(KEY);
        assert!(ActionLink::verify(&token, KEY, at(9, 59, 59)).is_ok());
        assert!(ActionLink::verify(&token, KEY, at(10, 0, 0) - Duration::nanoseconds(1)).is_ok());
        assert_eq!(
            ActionLink::verify(&token, KEY, at(10, 0, 0)),
            Err(LinkError::Expired)
        );
        assert_eq!(
            ActionLink::verify(&token, KEY, at(10, 0, 1)),
            Err(LinkError::Expired)
        );
    }

    #[test]
    fn tokens_of_the_wrong_shape_are_malformed() {
        let token = link(LinkAction::Acknowledge).sign(KEY);
        let (payload, signature) = token.split_once('.').unwrap();
        for bad in [
            String::new(),
            ".".to_owned(),
            "no-dot-at-all".to_owned(),
            payload.to_owned(),
            format!("{token}.extra"),
            format!("{payload}.{signature}="),
            format!("{payload}.not base64!"),
            format!("{payload}."),
            format!("{payload}.{}", &signature[..signature.len() - 3]),
            format!("{payload}.{signature}AAAA"),
        ] {
            assert_eq!(
                ActionLink::verify(&bad, KEY, at(9, 0, 0)),
                Err(LinkError::Malformed),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn correctly_signed_payloads_that_are_not_links_are_malformed() {
        let incident = "inc_01jdq9a3k2m7x8v4n5p6r7s8t9";
        let user = "usr_01jdq9a3k2m7x8v4n5p6r7s8ta";
        let payloads: Vec<Vec<u8>> = vec![
            Vec::new(),
            vec![0xff, 0xfe, 0xfd],
            format!("link0:{incident}:acknowledge:{user}:1772445600").into_bytes(),
            format!("link1:{incident}:snooze:{user}:1772445600").into_bytes(),
            format!("link1:{user}:acknowledge:{incident}:1772445600").into_bytes(),
            format!("link1:{incident}:acknowledge:{user}").into_bytes(),
            format!("link1:{incident}:acknowledge:{user}:1772445600:extra").into_bytes(),
            format!("link1:{incident}:acknowledge:{user}:soon").into_bytes(),
            format!("link1:{incident}:acknowledge:{user}:{}", i64::MAX).into_bytes(),
        ];
        for payload in payloads {
            let token = sign_raw_payload(&payload, KEY);
            assert_eq!(
                ActionLink::verify(&token, KEY, at(9, 0, 0)),
                Err(LinkError::Malformed),
                "{}",
                String::from_utf8_lossy(&payload)
            );
        }
    }

    #[test]
    fn error_messages_tell_the_reader_where_to_go_instead() {
        for error in [
            LinkError::Malformed,
            LinkError::BadSignature,
            LinkError::Expired,
        ] {
            assert!(
                error
                    .to_string()
                    .ends_with("open the incident in Tocsin instead"),
                "{error}"
            );
        }
        assert!(
            LinkError::Expired
                .to_string()
                .starts_with("this link has expired")
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn arbitrary_strings_never_panic(token in any::<String>()) {
                let _ = ActionLink::verify(&token, KEY, at(9, 0, 0));
            }

            #[test]
            fn token_shaped_strings_are_refused_without_panicking(token in "[A-Za-z0-9_.=-]{0,200}") {
                prop_assert!(ActionLink::verify(&token, KEY, at(9, 0, 0)).is_err());
            }

            #[test]
            fn arbitrary_signed_payloads_never_panic(payload in proptest::collection::vec(any::<u8>(), 0..120)) {
                let _ = ActionLink::verify(&sign_raw_payload(&payload, KEY), KEY, at(9, 0, 0));
            }

            #[test]
            fn changing_any_one_character_of_a_token_invalidates_it(
                index in any::<prop::sample::Index>(),
                replacement in "[A-Za-z0-9_.-]",
            ) {
                let token = link(LinkAction::Acknowledge).sign(KEY);
                let position = index.index(token.len());
                prop_assume!(token[position..=position] != replacement);
                let mut changed = token.clone();
                changed.replace_range(position..=position, &replacement);
                prop_assert!(ActionLink::verify(&changed, KEY, at(9, 0, 0)).is_err(), "{changed}");
            }
        }
    }
}
