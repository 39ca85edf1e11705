//! Slack's interactivity protocol: verifying that a request comes from Slack, reading a button click or a slash
//! command, and the one-time codes that link a Slack user to a person in Tocsin.
//!
//! Slack signs each request with the app's signing secret: `X-Slack-Signature` is `v0=` and the hex HMAC-SHA256 of
//! `v0:{X-Slack-Request-Timestamp}:{raw body}`. The timestamp bounds how long a captured request can be replayed;
//! within that window the store remembers each signature it accepted, so a replay is refused too.

use crate::ids::IncidentId;
use chrono::{DateTime, Duration, Utc};
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// How far a request's timestamp may be from this server's clock, in either direction.
pub const MAX_SKEW: Duration = Duration::minutes(5);
/// How long a link code works after it was shown.
pub const LINK_CODE_LIFETIME: Duration = Duration::minutes(10);
/// The characters of a link code: no 0/O, 1/I/L, so that it is typed right the first time.
const CODE_ALPHABET: &[u8] = b"ABCDEFGHJKMNPQRSTUVWXYZ23456789";
const CODE_LENGTH: usize = 8;
/// The longest Slack ID (team or user) Tocsin accepts; Slack's are about eleven characters.
const MAX_ID_LEN: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the request carries no X-Slack-Request-Timestamp or no X-Slack-Signature header")]
    Missing,
    #[error(
        "X-Slack-Request-Timestamp is more than 5 minutes from this server's clock: a replay, or a clock to fix"
    )]
    Stale,
    #[error(
        "X-Slack-Signature does not match the body: it was not signed with this app's signing secret"
    )]
    Forged,
}

fn mac(secret: &str, timestamp: &str, body: &[u8]) -> Hmac<Sha256> {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    mac
}

/// The `X-Slack-Signature` Slack sends with `body` at `timestamp` (Unix seconds).
pub fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let tag = mac(secret, &timestamp.to_string(), body)
        .finalize()
        .into_bytes();
    format!("v0={}", hex::encode(tag))
}

/// Whether the request was signed by Slack with `secret`, recently. The comparison takes the same time whatever
/// the signature, so it tells an attacker nothing about the right one. Answers the signature in one canonical
/// form (lower-case hex), the key replays are recognised by: hex decodes either case, so the header as sent
/// could be replayed in another.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: DateTime<Utc>,
) -> Result<String, SignatureError> {
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Missing);
    };
    let at = timestamp
        .trim()
        .parse::<i64>()
        .ok()
        .and_then(|s| DateTime::from_timestamp(s, 0))
        .ok_or(SignatureError::Stale)?;
    if (now - at).abs() > MAX_SKEW {
        return Err(SignatureError::Stale);
    }
    let tag = signature
        .strip_prefix("v0=")
        .and_then(|h| hex::decode(h).ok())
        .ok_or(SignatureError::Forged)?;
    mac(secret, timestamp.trim(), body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Forged)?;
    Ok(hex::encode(tag))
}

/// What a button on a page or an update asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ButtonAction {
    Acknowledge,
    Resolve,
    Escalate,
}

impl ButtonAction {
    pub const ALL: [Self; 3] = [Self::Acknowledge, Self::Resolve, Self::Escalate];

    /// The button's `action_id`.
    pub fn action_id(self) -> &'static str {
        match self {
            Self::Acknowledge => "tocsin_acknowledge",
            Self::Resolve => "tocsin_resolve",
            Self::Escalate => "tocsin_escalate",
        }
    }

    pub fn parse(action_id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|a| a.action_id() == action_id)
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::Acknowledge => "Acknowledge",
            Self::Resolve => "Resolve",
            Self::Escalate => "Escalate",
        }
    }
}

/// A Slack user, by workspace and ID: a user ID is unique only within its workspace.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlackUser {
    pub team_id: String,
    pub user_id: String,
}

impl SlackUser {
    fn checked(team_id: &str, user_id: &str) -> Result<Self, InteractionError> {
        let ok = |s: &str| {
            !s.is_empty() && s.len() <= MAX_ID_LEN && s.bytes().all(|b| b.is_ascii_alphanumeric())
        };
        if !ok(team_id) || !ok(user_id) {
            return Err(InteractionError("the team or user ID is not a Slack ID"));
        }
        Ok(Self {
            team_id: team_id.to_owned(),
            user_id: user_id.to_owned(),
        })
    }
}

/// A payload Tocsin does not act on, and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InteractionError(pub &'static str);

/// A click on one of Tocsin's buttons.
#[derive(Debug, Clone, PartialEq)]
pub struct ButtonClick {
    pub user: SlackUser,
    pub action: ButtonAction,
    pub incident: IncidentId,
    /// Where the message is updated (`replace_original`) or an answer only the clicker sees is posted.
    pub response_url: String,
    /// The message clicked on, as Slack shows it (its `blocks`), so that the update keeps what it said.
    pub message_blocks: Option<Vec<serde_json::Value>>,
}

#[derive(Deserialize)]
struct Payload {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    team: Option<IdOnly>,
    user: PayloadUser,
    #[serde(default)]
    actions: Vec<PayloadAction>,
    #[serde(default)]
    response_url: Option<String>,
    #[serde(default)]
    message: Option<PayloadMessage>,
}

#[derive(Deserialize)]
struct IdOnly {
    id: Option<String>,
}

#[derive(Deserialize)]
struct PayloadUser {
    id: String,
    #[serde(default)]
    team_id: Option<String>,
}

#[derive(Deserialize)]
struct PayloadAction {
    action_id: String,
    #[serde(default)]
    value: Option<String>,
}

#[derive(Deserialize)]
struct PayloadMessage {
    #[serde(default)]
    blocks: Option<Vec<serde_json::Value>>,
}

/// Reads the `payload` field of an interactivity request. Only `block_actions` with one of Tocsin's buttons is
/// acted on.
pub fn parse_click(payload: &str) -> Result<ButtonClick, InteractionError> {
    let p: Payload = serde_json::from_str(payload)
        .map_err(|_| InteractionError("the payload is not a Slack interaction"))?;
    if p.kind != "block_actions" {
        return Err(InteractionError(
            "only button clicks (block_actions) are handled",
        ));
    }
    let team = p
        .team
        .and_then(|t| t.id)
        .or(p.user.team_id)
        .ok_or(InteractionError("the payload names no team"))?;
    let user = SlackUser::checked(&team, &p.user.id)?;
    let [action] = p.actions.as_slice() else {
        return Err(InteractionError("the payload carries no single action"));
    };
    let kind = ButtonAction::parse(&action.action_id).ok_or(InteractionError(
        "the action is not one of Tocsin's buttons",
    ))?;
    let incident = action
        .value
        .as_deref()
        .and_then(IncidentId::parse)
        .ok_or(InteractionError("the button names no incident"))?;
    let response_url = p
        .response_url
        .filter(|u| u.starts_with("https://") || u.starts_with("http://"))
        .ok_or(InteractionError("the payload carries no response_url"))?;
    Ok(ButtonClick {
        user,
        action: kind,
        incident,
        response_url,
        message_blocks: p.message.and_then(|m| m.blocks),
    })
}

/// What someone typed after the slash command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// `link CODE`: this Slack user is the person who was shown CODE in Tocsin.
    Link(String),
    Help,
}

impl Command {
    pub fn parse(text: &str) -> Self {
        let mut words = text.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some(w), Some(code), None) if w.eq_ignore_ascii_case("link") => {
                Self::Link(code.to_owned())
            }
            _ => Self::Help,
        }
    }
}

/// A slash command request's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandForm {
    pub team_id: String,
    pub user_id: String,
    pub command: String,
    pub text: String,
}

impl CommandForm {
    pub fn user(&self) -> Result<SlackUser, InteractionError> {
        SlackUser::checked(&self.team_id, &self.user_id)
    }
}

/// A new link code, as shown to the person: `ABCD-EFGH`.
pub fn generate_link_code() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    let chars: String = (0..CODE_LENGTH)
        .map(|_| CODE_ALPHABET[rng.random_range(0..CODE_ALPHABET.len())] as char)
        .collect();
    format!("{}-{}", &chars[..4], &chars[4..])
}

/// A code as typed, in the one form it is stored under: upper case, without separators. None when it cannot be a
/// code, so a typo is answered without a lookup.
pub fn normalize_link_code(typed: &str) -> Option<String> {
    let code: String = typed
        .chars()
        .filter(|c| !matches!(c, '-' | ' '))
        .map(|c| c.to_ascii_uppercase())
        .collect();
    (code.len() == CODE_LENGTH && code.bytes().all(|b| CODE_ALPHABET.contains(&b))).then_some(code)
}

/// How a Slack user came to be linked to a person.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LinkedBy {
    /// The person typed a link code they were shown in Tocsin.
    Code,
    /// The email of their Slack profile is theirs in Tocsin.
    Email,
}

impl LinkedBy {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Code => "code",
            Self::Email => "email",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Self::Code, Self::Email]
            .into_iter()
            .find(|l| l.as_str() == s)
    }
}

/// A Slack user linked to a person in Tocsin.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SlackAccount {
    pub slack: SlackUser,
    /// The person in Tocsin.
    pub user_id: crate::ids::UserId,
    pub linked_by: LinkedBy,
    pub linked_at: DateTime<Utc>,
}

/// What Slack's `users.info` says of a user, as far as linking by email needs it.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SlackProfile {
    #[serde(default)]
    pub team_id: Option<String>,
    #[serde(default)]
    pub deleted: bool,
    #[serde(default)]
    pub is_bot: bool,
    /// A guest (single- or multi-channel).
    #[serde(default)]
    pub is_restricted: bool,
    #[serde(default)]
    pub is_ultra_restricted: bool,
    /// Someone from another organisation, seen through a shared channel.
    #[serde(default)]
    pub is_stranger: bool,
    #[serde(default)]
    pub is_email_confirmed: bool,
    #[serde(default)]
    pub profile: ProfileEmail,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct ProfileEmail {
    #[serde(default)]
    pub email: Option<String>,
}

impl SlackProfile {
    /// The email a Slack user may be linked by: only a confirmed one, of a full member of the workspace the click
    /// came from. A guest, a bot, a deactivated account or someone in a shared channel from elsewhere can put any
    /// address in their profile, and must link by code instead.
    pub fn linkable_email(&self, clicker: &SlackUser) -> Option<&str> {
        let member = self.team_id.as_deref() == Some(clicker.team_id.as_str())
            && !(self.deleted
                || self.is_bot
                || self.is_restricted
                || self.is_ultra_restricted
                || self.is_stranger);
        let email = self.profile.email.as_deref().filter(|e| e.contains('@'))?;
        (member && self.is_email_confirmed).then_some(email)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const SECRET: &str = "8f742231b10e8888abcd99yyyzzz85a5";

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_531_420_618, 0).unwrap()
    }

    #[test]
    fn slacks_documented_example_verifies() {
        // The example in Slack's "Verifying requests from Slack" guide, byte for byte.
        let body = b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
        let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
        assert_eq!(sign(SECRET, 1_531_420_618, body), signature);
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(signature), body, now()),
            Ok(signature[3..].to_owned())
        );
        // The same signature in capitals verifies too, and is known by the same key.
        let shouted = format!("v0={}", signature[3..].to_uppercase());
        assert_eq!(
            verify(SECRET, Some("1531420618"), Some(&shouted), body, now()),
            Ok(signature[3..].to_owned())
        );
    }

    #[test]
    fn altered_stale_and_unsigned_requests_are_refused() {
        let body = b"payload=%7B%7D";
        let good = sign(SECRET, 1_531_420_618, body);
        let at = Some("1531420618");
        assert_eq!(
            verify(SECRET, at, Some(&good), b"payload=%7B%7A", now()),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify("another secret", at, Some(&good), body, now()),
            Err(SignatureError::Forged)
        );
        for bad in ["v1=00", "v0=zz", "", &good[3..]] {
            assert_eq!(
                verify(SECRET, at, Some(bad), body, now()),
                Err(SignatureError::Forged),
                "{bad}"
            );
        }
        for skew in [Duration::seconds(301), Duration::seconds(-301)] {
            assert_eq!(
                verify(SECRET, at, Some(&good), body, now() + skew),
                Err(SignatureError::Stale)
            );
        }
        assert_eq!(
            verify(
                SECRET,
                at,
                Some(&good),
                body,
                now() + Duration::seconds(299)
            )
            .map(|_| ()),
            Ok(())
        );
        // The timestamp is part of what is signed: moving it forward to pass the clock check breaks the signature.
        assert_eq!(
            verify(
                SECRET,
                Some("1531421000"),
                Some(&good),
                body,
                now() + Duration::seconds(400)
            ),
            Err(SignatureError::Forged)
        );
        assert_eq!(
            verify(SECRET, Some("yesterday"), Some(&good), body, now()),
            Err(SignatureError::Stale)
        );
        assert_eq!(
            verify(SECRET, None, Some(&good), body, now()),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(SECRET, at, None, body, now()),
            Err(SignatureError::Missing)
        );
    }

    fn click(action_id: &str, value: &str) -> serde_json::Value {
        json!({
            "type": "block_actions",
            "team": {"id": "T9TK3CUKW", "domain": "example"},
            "user": {"id": "UA8RXUSPL", "username": "jtorrance", "name": "jtorrance", "team_id": "T9TK3CUKW"},
            "api_app_id": "AABA1ABCD",
            "token": "9s8d9as89d8as9d8as989",
            "container": {"type": "message", "message_ts": "1548261231.000200", "channel_id": "CBR2V3XEX", "is_ephemeral": false},
            "trigger_id": "12321423423.333649436676.d8c1bb837935619ccad0f624c448ffb3",
            "channel": {"id": "CBR2V3XEX", "name": "review-updates"},
            "message": {"type": "message", "text": "fallback", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "hi"}}]},
            "response_url": "https://hooks.slack.com/actions/AABA1ABCD/1232321423432/D09sSasdasdAS9091209",
            "actions": [{"action_id": action_id, "block_id": "tocsin", "text": {"type": "plain_text", "text": "Go"}, "value": value, "type": "button", "action_ts": "1548426417.840180"}],
        })
    }

    #[test]
    fn clicks_on_tocsins_buttons_are_read() {
        let id = IncidentId::generate();
        let c = parse_click(&click("tocsin_escalate", id.as_str()).to_string()).unwrap();
        assert_eq!(
            c.user,
            SlackUser {
                team_id: "T9TK3CUKW".into(),
                user_id: "UA8RXUSPL".into()
            }
        );
        assert_eq!((c.action, &c.incident), (ButtonAction::Escalate, &id));
        assert!(
            c.response_url
                .starts_with("https://hooks.slack.com/actions/")
        );
        assert_eq!(c.message_blocks.unwrap().len(), 1);
        for action in ButtonAction::ALL {
            assert_eq!(ButtonAction::parse(action.action_id()), Some(action));
        }
    }

    #[test]
    fn other_payloads_are_refused_with_a_reason() {
        let id = IncidentId::generate();
        let mut not_ours = click("approve_expense", id.as_str());
        assert!(parse_click(&not_ours.to_string()).is_err());
        not_ours = click("tocsin_resolve", "42; DROP TABLE incidents");
        assert!(parse_click(&not_ours.to_string()).is_err());
        let mut view = click("tocsin_resolve", id.as_str());
        view["type"] = json!("view_submission");
        assert!(parse_click(&view.to_string()).is_err());
        let mut odd_user = click("tocsin_resolve", id.as_str());
        odd_user["user"]["id"] = json!("U1/../admin");
        assert!(parse_click(&odd_user.to_string()).is_err());
        assert!(parse_click("not json").is_err());
    }

    #[test]
    fn only_confirmed_members_of_the_workspace_link_by_email() {
        let clicker = SlackUser {
            team_id: "T1".into(),
            user_id: "U1".into(),
        };
        let member = || SlackProfile {
            team_id: Some("T1".into()),
            is_email_confirmed: true,
            profile: ProfileEmail {
                email: Some("ann@example.com".into()),
            },
            ..SlackProfile::default()
        };
        assert_eq!(member().linkable_email(&clicker), Some("ann@example.com"));
        let refused: [fn(&mut SlackProfile); 8] = [
            |p| p.team_id = Some("T2".into()),
            |p| p.team_id = None,
            |p| p.deleted = true,
            |p| p.is_bot = true,
            |p| p.is_restricted = true,
            |p| p.is_ultra_restricted = true,
            |p| p.is_stranger = true,
            |p| p.is_email_confirmed = false,
        ];
        for (i, change) in refused.iter().enumerate() {
            let mut p = member();
            change(&mut p);
            assert_eq!(p.linkable_email(&clicker), None, "case {i}");
        }
    }

    #[test]
    fn commands_and_link_codes() {
        assert_eq!(
            Command::parse("  link abcd-efgh "),
            Command::Link("abcd-efgh".into())
        );
        assert_eq!(Command::parse("LINK X"), Command::Link("X".into()));
        assert_eq!(Command::parse(""), Command::Help);
        assert_eq!(Command::parse("link a b"), Command::Help);
        let code = generate_link_code();
        assert_eq!(code.len(), 9, "{code}");
        let stored = normalize_link_code(&code).unwrap();
        assert_eq!(
            normalize_link_code(&code.to_lowercase()),
            Some(stored.clone())
        );
        assert_eq!(normalize_link_code(&stored), Some(stored));
        assert_eq!(
            normalize_link_code("ABCD-EFG0"),
            None,
            "0 is never in a code"
        );
        assert_eq!(normalize_link_code("ABC"), None);
        assert_ne!(generate_link_code(), generate_link_code());
    }
}
