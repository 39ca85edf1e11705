//! Slack's requests (button clicks at `/slack/interactivity`, the `/tocsin` slash command at `/slack/commands`),
//! verified by their signature, and the API through which people link their Slack users.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiError, ApiResult, ErrorCode, ErrorResponse};
use super::extract::{Stakeholder, UserRef};
use crate::slack::{Slack, acted_message, ephemeral};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::json;
use std::sync::Arc;
use tocsin_app::{Pressed, Principal};
use tocsin_domain::incident::IncidentStatus;
use tocsin_domain::slack::{
    self as protocol, ButtonAction, ButtonClick, Command, CommandForm, SlackAccount, SlackUser,
};
use tocsin_store::StoreError;

/// How long a click waits for its action before it is answered anyway: Slack shows an error after 3 s, and the
/// action's outcome reaches the clicker through the message update either way.
const ANSWER_WITHIN: std::time::Duration = std::time::Duration::from_millis(2500);

fn form_field(body: &[u8], name: &str) -> Option<String> {
    url::form_urlencoded::parse(body)
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

/// The Slack configuration, and the request checked to be Slack's own, once.
async fn verified(s: &AppState, headers: &HeaderMap, body: &[u8]) -> ApiResult<Arc<Slack>> {
    let Some(slack) = s.slack.clone() else {
        return Err(ApiError::new(
            ErrorCode::NotFound,
            "Slack is not set up on this server: set [slack] signing_secret in its configuration",
        ));
    };
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let signature = protocol::verify(
        &slack.config.signing_secret,
        header("x-slack-request-timestamp"),
        header("x-slack-signature"),
        body,
        s.app.now(),
    )
    .map_err(|e| ApiError::new(ErrorCode::InvalidSignature, e.to_string()))?;
    if !s.app.slack().first_request(&signature).await? {
        return Err(ApiError::new(
            ErrorCode::ReplayedRequest,
            "this signed request was received before: Slack sends each request once, so it is not acted on again",
        ));
    }
    Ok(slack)
}

/// A click on a button of a page or an update: acted on as the Tocsin person the clicker is linked to, the
/// message then updated to say who did what (or an answer only the clicker sees, when nothing was done).
#[utoipa::path(post, path = "/slack/interactivity", tag = "slack",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Slack's `payload` field: a `block_actions` interaction"),
    responses((status = 200, description = "Received; the outcome is posted to the click's response_url"),
        (status = 401, body = ErrorResponse, description = "Not signed by Slack, stale or replayed"),
        (status = "4XX", body = ErrorResponse)))]
pub async fn interactivity(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let slack = verified(&s, &headers, &body).await?;
    let payload = form_field(&body, "payload").ok_or_else(|| {
        ApiError::field(
            "payload",
            "Slack sends an interaction as a form field named payload",
        )
    })?;
    let click =
        protocol::parse_click(&payload).map_err(|e| ApiError::field("payload", e.to_string()))?;
    let work = tokio::spawn(async move {
        let answer = act(&s, &slack, &click).await;
        slack.respond(&click.response_url, &answer).await;
    });
    // A slow database or Slack must not turn the click into an error in Slack: the work goes on, and its
    // outcome still reaches the message.
    let _ = tokio::time::timeout(ANSWER_WITHIN, work).await;
    Ok(StatusCode::OK)
}

/// Carries out a click and says how it went, as the message to post to its `response_url`.
async fn act(s: &AppState, slack: &Slack, click: &ButtonClick) -> serde_json::Value {
    if !slack.serves(&click.user.team_id) {
        return ephemeral(NOT_SERVED);
    }
    let linking = s.app.slack();
    let who = match linking.principal(&click.user, None).await {
        Ok(None) => match slack.email_of(&click.user).await {
            Some(email) => linking.principal(&click.user, Some(&email)).await,
            None => Ok(None),
        },
        found => found,
    };
    let who = match who {
        Ok(Some(who)) => who,
        Ok(None) => return ephemeral(&not_linked(s)),
        Err(e) => {
            tracing::error!(error = %e, "Finding who a Slack user is failed.");
            return ephemeral("Tocsin could not tell who you are just now. Try again in a moment.");
        }
    };
    let incident = click.incident.clone().into();
    match s.app.slack().press(&who, click.action, &incident).await {
        Ok(Pressed::Done(i)) => acted_message(
            click.message_blocks.as_deref(),
            &format!("#{} {}", i.number, i.title),
            &i.id,
            i.status,
            &note(click.action, &who.actor().name, s.app.now()),
        ),
        Ok(Pressed::Already(i)) => ephemeral(&already(&i)),
        Ok(Pressed::Merged { number, into }) => ephemeral(&format!(
            "#{number} was merged into #{into}, where its response goes on: act there ({}/incidents/{into}).",
            s.public_url
        )),
        Err(e) => ephemeral(&refusal(&who, click.action, e)),
    }
}

const NOT_SERVED: &str = "This Slack workspace is not one this Tocsin answers, so nothing was done. Ask its admins to add it to [slack] teams.";

/// "Already resolved by Ann.", for a click that finds its work done.
fn already(i: &tocsin_domain::incident::Incident) -> String {
    let by = match i.status {
        IncidentStatus::Resolved => i.resolved_by.as_ref(),
        _ => i.acknowledged_by.as_ref(),
    }
    .map(|a| format!(" by {}", a.name))
    .unwrap_or_default();
    format!(
        "Nothing to do: #{} was already {}{by}.",
        i.number,
        i.status.as_str()
    )
}

/// "Acknowledged by Ann at 10:03 UTC", under the message acted on.
fn note(action: ButtonAction, by: &str, at: DateTime<Utc>) -> String {
    let done = match action {
        ButtonAction::Acknowledge => "Acknowledged",
        ButtonAction::Resolve => "Resolved",
        ButtonAction::Escalate => "Escalated to the next level",
    };
    format!("{done} by {by} at {}", at.format("%H:%M UTC"))
}

/// Why a click did nothing, for the clicker alone.
fn refusal(who: &Principal, action: ButtonAction, e: tocsin_app::Error) -> String {
    let verb = action.label().to_lowercase();
    match e {
        tocsin_app::Error::Forbidden { role, needs } => format!(
            "You hold the {role} role in Tocsin; to {verb} an incident needs {needs}. Nothing was done."
        ),
        tocsin_app::Error::Store(StoreError::Transition(t)) => {
            format!("Nothing to {verb}: {t}.")
        }
        tocsin_app::Error::Store(StoreError::NotFound { .. }) => {
            "That incident is no longer in Tocsin.".into()
        }
        tocsin_app::Error::Store(StoreError::Conflict(c)) => {
            format!("Could not {verb}: {c}.")
        }
        other => {
            tracing::error!(error = %other, user = %who.actor().name, "A Slack button failed.");
            format!("Tocsin could not {verb} the incident just now. Try again in a moment.")
        }
    }
}

fn not_linked(s: &AppState) -> String {
    format!(
        "Tocsin does not know who you are yet, so nothing was done. Open your profile in Tocsin \
         (<{}/profile#slack|Profile>), get a link code, and type `/tocsin link CODE` here.",
        s.public_url
    )
}

/// The `/tocsin` slash command: `link CODE` links the Slack user to the person who was shown CODE.
#[utoipa::path(post, path = "/slack/commands", tag = "slack",
    request_body(content = String, content_type = "application/x-www-form-urlencoded",
        description = "Slack's slash command fields (team_id, user_id, command, text)"),
    responses((status = 200, description = "The answer Slack shows the person who typed the command"),
        (status = 401, body = ErrorResponse, description = "Not signed by Slack, stale or replayed"),
        (status = "4XX", body = ErrorResponse)))]
pub async fn command(
    State(s): State<AppState>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    verified(&s, &headers, &body).await?;
    let field = |name| form_field(&body, name).unwrap_or_default();
    let form = CommandForm {
        team_id: field("team_id"),
        user_id: field("user_id"),
        command: field("command"),
        text: field("text"),
    };
    let user = form
        .user()
        .map_err(|e| ApiError::field("user_id", e.to_string()))?;
    let command = if form.command.is_empty() {
        "/tocsin"
    } else {
        &form.command
    };
    if !s
        .slack
        .as_ref()
        .is_some_and(|slack| slack.serves(&user.team_id))
    {
        return Ok(
            axum::Json(json!({"response_type": "ephemeral", "text": NOT_SERVED})).into_response(),
        );
    }
    let text = match Command::parse(&form.text) {
        Command::Link(code) => match s.app.slack().redeem_link_code(&user, &code).await {
            Ok(person) => format!(
                "Linked: in Tocsin you are {}. The buttons on pages and updates act as you from now on.",
                person.name
            ),
            Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => format!(
                "That code is wrong, used or expired. Get a new one on your profile in Tocsin \
                 (<{}/profile#slack|Profile>) and type `{command} link CODE` within 10 minutes.",
                s.public_url
            ),
            // Slack shows a failed command as a bare error; the person is told in words instead.
            Err(e) => {
                tracing::error!(error = %e, "Linking a Slack user failed.");
                "Tocsin could not link you just now. Try again in a moment.".into()
            }
        },
        Command::Help => format!(
            "`{command} link CODE` links your Slack account to your Tocsin account, so that the buttons on pages \
             and updates act as you. Get the code on your profile in Tocsin (<{}/profile#slack|Profile>).",
            s.public_url
        ),
    };
    Ok(axum::Json(json!({"response_type": "ephemeral", "text": text})).into_response())
}

/// A code to type in Slack.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct LinkCode {
    pub code: String,
    pub expires_at: DateTime<Utc>,
    /// What to type in Slack.
    pub command: String,
}

/// A one-time code that links the caller's Slack user to them when they type `/tocsin link CODE` in Slack; it
/// works for 10 minutes, and replaces the caller's earlier code.
#[utoipa::path(post, path = "/api/v1/slack/link-codes", tag = "slack", security(("bearer" = [])),
    responses((status = 201, body = LinkCode), (status = "4XX", body = ErrorResponse)))]
pub async fn create_link_code(
    caller: Stakeholder,
    State(s): State<AppState>,
) -> ApiResult<(StatusCode, axum::Json<LinkCode>)> {
    let (code, expires_at) = s.app.slack().offer_link_code(&caller).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(LinkCode {
            command: format!("/tocsin link {code}"),
            code,
            expires_at,
        }),
    ))
}

/// The Slack users linked to a person (their own, or anyone's for admins).
#[utoipa::path(get, path = "/api/v1/users/{user}/slack-accounts", tag = "slack", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = Items<SlackAccount>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_slack_accounts(
    caller: Stakeholder,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<Items<SlackAccount>>> {
    let items = s
        .app
        .slack()
        .accounts(&caller, &UserRef::parse(&user))
        .await?;
    Ok(axum::Json(Items { items }))
}

/// Unlinks a Slack user from a person: its clicks no longer act as them.
#[utoipa::path(delete, path = "/api/v1/users/{user}/slack-accounts/{team_id}/{slack_user_id}", tag = "slack",
    security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email"),
        ("team_id" = String, Path, description = "The Slack workspace's ID"),
        ("slack_user_id" = String, Path, description = "The Slack user's ID")),
    responses((status = 204), (status = "4XX", body = ErrorResponse)))]
pub async fn unlink_slack_account(
    caller: Stakeholder,
    State(s): State<AppState>,
    Path((user, team_id, slack_user_id)): Path<(String, String, String)>,
) -> ApiResult<StatusCode> {
    let slack = SlackUser {
        team_id,
        user_id: slack_user_id,
    };
    s.app
        .slack()
        .unlink(&caller, &UserRef::parse(&user), &slack)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
