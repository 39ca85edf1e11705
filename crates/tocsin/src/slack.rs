//! Slack as a place to respond from: the `[slack]` configuration, the Block Kit messages that carry Acknowledge /
//! Resolve / Escalate buttons, and the calls Tocsin makes to Slack (a message update through a click's
//! `response_url`, and `users.info` to learn a clicker's email when a bot token is configured).

use crate::notify::lines;
use crate::notify::outbound::GuardedClient;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::time::Duration;
use tocsin_domain::contact::{Notice, NoticeIncident};
use tocsin_domain::ids::IncidentId;
use tocsin_domain::incident::IncidentStatus;
use tocsin_domain::net::AllowedNetworks;
use tocsin_domain::slack::{ButtonAction, SlackProfile, SlackUser};

/// The `block_id` of the buttons, so that an updated message replaces them.
const ACTIONS_BLOCK: &str = "tocsin_actions";
/// Slack refuses a section whose text is longer.
const MAX_SECTION_CHARS: usize = 3000;
/// Slack refuses a message with more blocks.
const MAX_BLOCKS: usize = 50;
/// How long Tocsin waits for Slack's API while a click waits for its answer (Slack gives it 3 s in all).
const API_TIMEOUT: Duration = Duration::from_millis(1500);

/// `[slack]`: Slack's interactivity. With it, pages and updates posted to Slack carry buttons, and clicks on them
/// (at `/slack/interactivity`) act as the Tocsin person the clicker is linked to.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlackConfig {
    /// The Slack app's signing secret (Basic Information → App Credentials). `TOCSIN_SLACK_SIGNING_SECRET` keeps
    /// it out of the file.
    pub signing_secret: String,
    /// A bot token with the `users:read.email` scope: a clicker not linked yet is linked to the person with their
    /// Slack profile's email. Without it, people link themselves with `/tocsin link CODE`.
    /// `TOCSIN_SLACK_BOT_TOKEN`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bot_token: Option<String>,
    /// The IDs of the Slack workspaces (`T…`) whose people may act; empty: any workspace the app is installed
    /// in, since they share its signing secret.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub teams: Vec<String>,
    /// Slack's Web API.
    #[serde(default = "default_api_url")]
    pub api_url: String,
}

fn default_api_url() -> String {
    "https://slack.com/api".into()
}

impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("signing_secret", &"[redacted]")
            .field("bot_token", &self.bot_token.as_ref().map(|_| "[redacted]"))
            .field("teams", &self.teams)
            .field("api_url", &self.api_url)
            .finish()
    }
}

impl SlackConfig {
    pub fn new(signing_secret: &str) -> Self {
        Self {
            signing_secret: signing_secret.into(),
            bot_token: None,
            teams: Vec::new(),
            api_url: default_api_url(),
        }
    }
}

/// The configuration, with the clients that reach Slack.
pub struct Slack {
    pub config: SlackConfig,
    /// For `response_url`s, which arrive in requests: held to the allowed networks like every URL Tocsin is given.
    responses: GuardedClient,
    api: reqwest::Client,
}

impl Slack {
    pub fn new(config: SlackConfig, allowed: AllowedNetworks) -> anyhow::Result<Self> {
        if config.signing_secret.trim().is_empty() {
            anyhow::bail!(
                "slack.signing_secret is empty: copy it from the Slack app's Basic Information page"
            );
        }
        url::Url::parse(&config.api_url)
            .map_err(|e| anyhow::anyhow!("slack.api_url is not a URL: {e}"))?;
        Ok(Self {
            responses: GuardedClient::new(crate::notify::outbound::TIMEOUT, allowed)?,
            api: crate::notify::outbound::client(API_TIMEOUT)?,
            config,
        })
    }

    /// Posts to a click's `response_url`; failures are logged, since the click has been answered already.
    pub async fn respond(&self, response_url: &str, message: &Value) {
        let request = match self.responses.post(response_url) {
            Ok(r) => r,
            Err(refused) => {
                tracing::warn!(outcome = ?refused, "A Slack response URL was refused.");
                return;
            }
        };
        match request.json(message).send().await {
            Ok(r) if r.status().is_success() => {}
            Ok(r) => tracing::warn!(status = %r.status(), "Slack refused a message update."),
            Err(e) => tracing::warn!(
                error = %crate::notify::outbound::describe_error(e),
                "Could not reach Slack to update a message."
            ),
        }
    }

    /// Whether people of this workspace may act here.
    pub fn serves(&self, team_id: &str) -> bool {
        self.config.teams.is_empty() || self.config.teams.iter().any(|t| t == team_id)
    }

    /// The email of a Slack user's profile, when a bot token allows asking, Slack answers in time, and the user
    /// is a full member of their workspace with a confirmed address (see `SlackProfile::linkable_email`).
    pub async fn email_of(&self, user: &SlackUser) -> Option<String> {
        let token = self.config.bot_token.as_deref()?;
        let url = format!("{}/users.info", self.config.api_url.trim_end_matches('/'));
        let answer = self
            .api
            .get(url)
            .bearer_auth(token)
            .query(&[("user", user.user_id.as_str())])
            .send()
            .await;
        let body: Value = match answer {
            Ok(r) => r.json().await.ok()?,
            Err(e) => {
                tracing::warn!(error = %crate::notify::outbound::describe_error(e), "Slack's users.info did not answer.");
                return None;
            }
        };
        if body["ok"] != json!(true) {
            tracing::warn!(error = %body["error"], "Slack's users.info refused; check the bot token's scopes (users:read.email).");
            return None;
        }
        let profile: SlackProfile = serde_json::from_value(body["user"].clone()).ok()?;
        profile.linkable_email(user).map(str::to_owned)
    }
}

/// Slack mrkdwn: `&`, `<` and `>` are the only characters it needs escaped, and only because links and mentions
/// are written `<…>`.
pub fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// What can still be done to an incident in its state.
fn actions_for(status: IncidentStatus) -> &'static [ButtonAction] {
    match status {
        IncidentStatus::Triggered => &ButtonAction::ALL,
        IncidentStatus::Acknowledged => &[ButtonAction::Resolve, ButtonAction::Escalate],
        IncidentStatus::Resolved => &[],
    }
}

/// The buttons for an incident, or none when nothing can be done to it any more.
fn buttons(incident: &IncidentId, status: IncidentStatus) -> Option<Value> {
    let elements: Vec<Value> = actions_for(status)
        .iter()
        .map(|action| {
            let mut button = json!({
                "type": "button",
                "action_id": action.action_id(),
                "text": {"type": "plain_text", "text": action.label()},
                "value": incident.as_str(),
            });
            if *action == ButtonAction::Acknowledge {
                button["style"] = json!("primary");
            }
            button
        })
        .collect();
    (!elements.is_empty())
        .then(|| json!({"type": "actions", "block_id": ACTIONS_BLOCK, "elements": elements}))
}

/// A section of mrkdwn text; one too long for Slack is cut at a line's end (or a space), so that no link or
/// escaped character is cut in half.
fn section(text: &str) -> Value {
    let text = if text.chars().count() <= MAX_SECTION_CHARS {
        text.to_owned()
    } else {
        let head: String = text.chars().take(MAX_SECTION_CHARS - 1).collect();
        let cut = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .unwrap_or(head.len());
        format!("{}…", &head[..cut])
    };
    json!({"type": "section", "text": {"type": "mrkdwn", "text": text}})
}

/// A notice as a Slack message: its text (what notifications show), and, with `buttons`, Block Kit blocks with
/// the buttons for the incident it is about.
pub fn notice_message(notice: &Notice, with_buttons: bool) -> Value {
    let links = notice
        .links
        .iter()
        .map(|l| {
            format!(
                "<{}|{}>",
                l.url.replace('|', "%7C").replace('>', "%3E"),
                escape(&l.label)
            )
        })
        .collect::<Vec<_>>()
        .join(" · ");
    let (subject, body) = (escape(&notice.subject), escape(&notice.body));
    let text = lines(&[subject.clone(), body.clone(), links.clone()]);
    let Some(NoticeIncident { id, status }) = notice.incident.as_ref().filter(|_| with_buttons)
    else {
        return json!({ "text": text });
    };
    let mut blocks = vec![section(&lines(&[format!("*{subject}*"), body, links]))];
    blocks.extend(buttons(id, *status));
    json!({ "text": text, "blocks": blocks })
}

/// The clicked message, updated after an action: what it said, a line saying who did what, and the buttons the
/// incident's new state leaves. `original` is the message's blocks as the click carried them.
pub fn acted_message(
    original: Option<&[Value]>,
    fallback: &str,
    incident: &IncidentId,
    status: IncidentStatus,
    note: &str,
) -> Value {
    let mut blocks: Vec<Value> = match original {
        Some(blocks) => blocks
            .iter()
            .filter(|b| b["block_id"] != json!(ACTIONS_BLOCK))
            .cloned()
            .collect(),
        None => vec![section(&escape(fallback))],
    };
    let buttons = buttons(incident, status);
    let room = MAX_BLOCKS - 1 - usize::from(buttons.is_some());
    if blocks.len() > room {
        blocks.drain(1..=blocks.len() - room);
    }
    blocks.push(json!({"type": "context", "elements": [{"type": "mrkdwn", "text": escape(note)}]}));
    blocks.extend(buttons);
    json!({"replace_original": true, "text": escape(fallback), "blocks": blocks})
}

/// A message only the clicker sees, leaving the clicked one as it is.
pub fn ephemeral(text: &str) -> Value {
    json!({"response_type": "ephemeral", "replace_original": false, "text": text})
}

#[cfg(test)]
mod tests {
    use super::*;
    use tocsin_domain::contact::NoticeLink;

    fn notice(status: IncidentStatus) -> (Notice, IncidentId) {
        let id = IncidentId::generate();
        let notice = Notice {
            quick_link: None,
            incident: Some(NoticeIncident {
                id: id.clone(),
                status,
            }),
            subject: "[SEV-1] #7 db <primary> down".into(),
            body: "Disk full.".into(),
            links: vec![NoticeLink {
                label: "Open".into(),
                url: "https://tocsin.example.com/incidents/7".into(),
            }],
            event: json!({}),
        };
        (notice, id)
    }

    fn action_ids(message: &Value) -> Vec<String> {
        message["blocks"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["type"] == "actions")
            .flat_map(|b| b["elements"].as_array().unwrap().iter())
            .map(|e| e["action_id"].as_str().unwrap().to_owned())
            .collect()
    }

    #[test]
    fn pages_carry_the_buttons_their_state_allows() {
        let (triggered, id) = notice(IncidentStatus::Triggered);
        let message = notice_message(&triggered, true);
        assert_eq!(
            action_ids(&message),
            ["tocsin_acknowledge", "tocsin_resolve", "tocsin_escalate"]
        );
        assert_eq!(message["blocks"][1]["elements"][0]["value"], id.as_str());
        assert_eq!(
            message["blocks"][0]["text"]["text"],
            "*[SEV-1] #7 db &lt;primary&gt; down*\nDisk full.\n<https://tocsin.example.com/incidents/7|Open>"
        );
        let (acknowledged, _) = notice(IncidentStatus::Acknowledged);
        assert_eq!(
            action_ids(&notice_message(&acknowledged, true)),
            ["tocsin_resolve", "tocsin_escalate"]
        );
        let (resolved, _) = notice(IncidentStatus::Resolved);
        assert!(action_ids(&notice_message(&resolved, true)).is_empty());
        // Without interactivity, a button would only show an error in Slack: plain text then.
        assert_eq!(
            notice_message(&triggered, false),
            json!({"text": "[SEV-1] #7 db &lt;primary&gt; down\nDisk full.\n<https://tocsin.example.com/incidents/7|Open>"})
        );
    }

    #[test]
    fn an_acted_on_message_keeps_what_it_said_and_says_who_acted() {
        let (triggered, id) = notice(IncidentStatus::Triggered);
        let original = notice_message(&triggered, true)["blocks"]
            .as_array()
            .unwrap()
            .clone();
        let acked = acted_message(
            Some(&original),
            "fallback",
            &id,
            IncidentStatus::Acknowledged,
            "Acknowledged by <Ann> at 10:03 UTC",
        );
        assert_eq!(acked["replace_original"], true);
        let blocks = acked["blocks"].as_array().unwrap();
        assert_eq!(blocks[0], original[0]);
        assert_eq!(
            blocks[1]["elements"][0]["text"],
            "Acknowledged by &lt;Ann&gt; at 10:03 UTC"
        );
        assert_eq!(action_ids(&acked), ["tocsin_resolve", "tocsin_escalate"]);
        let resolved = acted_message(
            Some(blocks),
            "fallback",
            &id,
            IncidentStatus::Resolved,
            "Resolved by Bob",
        );
        let blocks = resolved["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), 3, "both notes, no buttons: {resolved}");
        assert!(action_ids(&resolved).is_empty());
        let huge: Vec<Value> = (0..60).map(|i| section(&i.to_string())).collect();
        let trimmed = acted_message(Some(&huge), "f", &id, IncidentStatus::Triggered, "n");
        let blocks = trimmed["blocks"].as_array().unwrap();
        assert_eq!(blocks.len(), MAX_BLOCKS);
        assert_eq!(
            blocks[0], huge[0],
            "the first block, the message's title, stays"
        );
        let long = format!(
            "{}\n<https://x.example/{}|link>",
            "word ".repeat(590),
            "a".repeat(40)
        );
        let cut = section(&long)["text"]["text"].as_str().unwrap().to_owned();
        assert!(cut.chars().count() <= MAX_SECTION_CHARS, "{}", cut.len());
        assert!(cut.ends_with("word …") && !cut.contains('<'), "{cut}");
        let rebuilt = acted_message(None, "#7 <db>", &id, IncidentStatus::Resolved, "n");
        assert_eq!(rebuilt["blocks"][0]["text"]["text"], "#7 &lt;db&gt;");
    }
}
