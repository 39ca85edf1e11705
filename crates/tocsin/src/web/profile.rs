//! The profile: how a person is reached (contact methods, with a test, and notification rules), their time zone,
//! calendar feed, sessions and password. Everything here is the person's own; the use cases check it is.

use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::extract::Peer;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use tocsin_domain::account::Password;
use tocsin_domain::catalog::UserSpec;
use tocsin_domain::contact::{ContactMethodSpec, ContactTarget, NotificationRuleSpec, Purpose};
use tocsin_domain::ids::{ContactMethodId, NotificationRuleId, SessionId};
use tocsin_store::{DeliveryFilter, FeedSubject};

type PageResult = Result<Response, PageError>;

pub struct MethodView {
    pub id: String,
    pub name: String,
    pub kind: &'static str,
    pub target: String,
    pub enabled: bool,
}

pub struct RuleView {
    pub id: String,
    pub method: String,
    pub urgency: &'static str,
    pub delay: u32,
}

pub struct SessionView {
    pub id: String,
    pub current: bool,
    pub agent: String,
    pub address: String,
    pub last_seen: When,
}

pub struct NotificationView {
    pub what: &'static str,
    pub channel: String,
    pub status: String,
    pub detail: String,
    pub at: When,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    chrome: Chrome,
    name: String,
    email: String,
    time_zone: String,
    methods: Vec<MethodView>,
    rules: Vec<RuleView>,
    sessions: Vec<SessionView>,
    notifications: Vec<NotificationView>,
    /// Which form an error belongs to, and what it says.
    error: Option<(&'static str, String)>,
    /// Something to show once: a new calendar feed's URL, or a new webhook's signing secret.
    shown_once: Option<(&'static str, String)>,
    updates: tocsin_domain::contact::StatusUpdates,
}

/// What a person reads of a target: an address or a number, and of a URL only its host, since chat and webhook
/// URLs are secrets.
fn shown(target: &ContactTarget) -> String {
    let host = |url: &str| {
        url::Url::parse(url)
            .ok()
            .and_then(|u| u.host_str().map(|h| format!("{h}/…")))
            .unwrap_or_else(|| "…".into())
    };
    match target {
        ContactTarget::Email { address } => address.to_string(),
        ContactTarget::Sms { number } | ContactTarget::Voice { number } => {
            number.as_str().to_owned()
        }
        ContactTarget::Slack { url }
        | ContactTarget::Teams { url }
        | ContactTarget::Mattermost { url }
        | ContactTarget::Webhook { url, .. } => host(url.as_str()),
    }
}

async fn page(
    s: &AppState,
    viewer: &Viewer,
    status: StatusCode,
    error: Option<(&'static str, String)>,
    shown_once: Option<(&'static str, String)>,
) -> PageResult {
    let now = s.app.now();
    let who = &viewer.who;
    let me = viewer.user.id.clone().into();
    let contacts = s.app.contacts();
    let methods = contacts.list_methods(who, &me).await?;
    let names: HashMap<ContactMethodId, String> = methods
        .iter()
        .map(|m| (m.id.clone(), m.name.clone()))
        .collect();
    let rules = contacts.list_rules(who, &me).await?;
    let updates = contacts.status_updates(who, &me).await?;
    let sessions = s.app.accounts().sessions(who, &me).await?;
    let notifications = contacts
        .deliveries(
            who,
            DeliveryFilter {
                incident: None,
                user: Some(me.clone()),
                limit: 10,
            },
        )
        .await?;
    Ok(render(
        status,
        &ProfilePage {
            chrome: viewer.chrome("profile"),
            name: viewer.user.name.to_string(),
            email: viewer.user.email.to_string(),
            time_zone: viewer.user.time_zone.to_string(),
            methods: methods
                .iter()
                .map(|m| MethodView {
                    id: m.id.to_string(),
                    name: m.name.clone(),
                    kind: m.target.kind(),
                    target: shown(&m.target),
                    enabled: m.enabled,
                })
                .collect(),
            rules: rules
                .iter()
                .map(|r| RuleView {
                    id: r.id.to_string(),
                    method: names.get(&r.contact_method_id).cloned().unwrap_or_default(),
                    urgency: r.urgency.as_str(),
                    delay: r.delay_minutes,
                })
                .collect(),
            sessions: sessions
                .iter()
                .map(|x| SessionView {
                    id: x.id.to_string(),
                    current: x.id == viewer.session.id,
                    agent: x.user_agent.chars().take(80).collect(),
                    address: x.address.clone().unwrap_or_default(),
                    last_seen: When::new(x.last_seen_at, viewer.tz, now),
                })
                .collect(),
            notifications: notifications
                .iter()
                .map(|d| {
                    let last = d.attempts.last();
                    NotificationView {
                        what: match d.purpose {
                            Purpose::Test => "test",
                            Purpose::Page { .. } => "page",
                            _ => "notice",
                        },
                        channel: d.channel.clone(),
                        status: serde_json::to_value(d.status)
                            .ok()
                            .and_then(|v| v.as_str().map(str::to_owned))
                            .unwrap_or_default(),
                        detail: last.map(|a| a.detail.clone()).unwrap_or_default(),
                        at: When::new(last.map_or(d.due_at, |a| a.at), viewer.tz, now),
                    }
                })
                .collect(),
            error,
            shown_once,
            updates,
        },
    ))
}

impl ProfilePage {
    /// What went wrong with the form named `form`, to show beside it.
    fn error_for(&self, form: &str) -> Option<&str> {
        self.error
            .as_ref()
            .filter(|(f, _)| *f == form)
            .map(|(_, message)| message.as_str())
    }
}

pub async fn profile(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    page(&s, &viewer, StatusCode::OK, None, None).await
}

/// A change refused for what was entered is shown next to the form it came from; anything else is an error page.
async fn or_show(
    s: &AppState,
    viewer: &Viewer,
    form: &'static str,
    result: Result<(), tocsin_app::Error>,
) -> PageResult {
    match result {
        Ok(()) => Ok(Redirect::to("/profile").into_response()),
        Err(tocsin_app::Error::Store(tocsin_store::StoreError::Invalid(errors))) => {
            page(
                s,
                viewer,
                StatusCode::BAD_REQUEST,
                Some((form, errors.to_string())),
                None,
            )
            .await
        }
        Err(tocsin_app::Error::BadCredentials) => {
            page(
                s,
                viewer,
                StatusCode::BAD_REQUEST,
                Some((form, "The current password is wrong.".into())),
                None,
            )
            .await
        }
        Err(e) => Err(e.into()),
    }
}

#[derive(Deserialize)]
pub struct TimeZoneForm {
    time_zone: String,
}

pub async fn set_time_zone(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<TimeZoneForm>,
) -> PageResult {
    let spec = serde_json::from_value::<UserSpec>(serde_json::json!({
        "name": viewer.user.name,
        "email": viewer.user.email,
        "time_zone": f.time_zone.trim(),
    }));
    let result = match spec {
        Ok(spec) => s
            .app
            .users()
            .replace(&viewer.who, &viewer.user.id.clone().into(), spec)
            .await
            .map(|_| ()),
        Err(e) => Err(invalid("time_zone", e)),
    };
    or_show(&s, &viewer, "time_zone", result).await
}

fn invalid(field: &str, e: impl std::fmt::Display) -> tocsin_app::Error {
    tocsin_store::StoreError::Invalid(tocsin_domain::FieldError::new(field, e.to_string()).into())
        .into()
}

#[derive(Deserialize)]
pub struct MethodForm {
    name: String,
    kind: String,
    target: String,
}

pub async fn add_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<MethodForm>,
) -> PageResult {
    let key = match f.kind.as_str() {
        "email" => "address",
        "sms" | "voice" => "number",
        _ => "url",
    };
    let spec = serde_json::from_value::<ContactMethodSpec>(serde_json::json!({
        "name": f.name.trim(),
        "target": {"type": f.kind, key: f.target.trim()},
    }));
    let created = match spec {
        Ok(spec) => {
            s.app
                .contacts()
                .create_method(&viewer.who, &viewer.user.id.clone().into(), spec)
                .await
        }
        Err(e) => Err(invalid("target", e)),
    };
    match created {
        Ok(method) => match method.value.target {
            ContactTarget::Webhook {
                secret: Some(secret),
                ..
            } => {
                let label =
                    "The webhook's signing secret, to verify what Tocsin sends (shown only now):";
                page(&s, &viewer, StatusCode::OK, None, Some((label, secret))).await
            }
            _ => Ok(Redirect::to("/profile").into_response()),
        },
        Err(e) => or_show(&s, &viewer, "method", Err(e)).await,
    }
}

fn method_id(id: &str) -> Result<ContactMethodId, PageError> {
    ContactMethodId::parse(id).ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such contact method.",
        )
    })
}

pub async fn test_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    s.app
        .contacts()
        .send_test(&viewer.who, &method_id(&id)?)
        .await?;
    Ok(Redirect::to("/profile#notifications").into_response())
}

pub async fn delete_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    s.app
        .contacts()
        .delete_method(&viewer.who, &method_id(&id)?)
        .await?;
    Ok(Redirect::to("/profile").into_response())
}

#[derive(Deserialize)]
pub struct RuleForm {
    method: String,
    urgency: String,
    #[serde(default)]
    delay: String,
}

pub async fn add_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<RuleForm>,
) -> PageResult {
    let delay = if f.delay.trim().is_empty() {
        Ok(0)
    } else {
        f.delay.trim().parse::<u32>()
    };
    let spec = match delay {
        Ok(delay) => serde_json::from_value::<NotificationRuleSpec>(serde_json::json!({
            "contact_method_id": f.method,
            "urgency": f.urgency,
            "delay_minutes": delay,
        }))
        .map_err(|e| invalid("contact_method_id", e)),
        Err(_) => Err(invalid("delay_minutes", "must be a number of minutes")),
    };
    let result = match spec {
        Ok(spec) => s
            .app
            .contacts()
            .create_rule(&viewer.who, &viewer.user.id.clone().into(), spec)
            .await
            .map(|_| ()),
        Err(e) => Err(e),
    };
    or_show(&s, &viewer, "rule", result).await
}

pub async fn delete_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = NotificationRuleId::parse(&id).ok_or_else(|| {
        PageError::new(StatusCode::NOT_FOUND, "Not found", "There is no such rule.")
    })?;
    s.app.contacts().delete_rule(&viewer.who, &id).await?;
    Ok(Redirect::to("/profile").into_response())
}

pub async fn end_session(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = SessionId::parse(&id).ok_or_else(|| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "There is no such session.",
        )
    })?;
    s.app.accounts().end_session(&viewer.who, &id).await?;
    Ok(Redirect::to("/profile").into_response())
}

#[derive(Deserialize)]
pub struct PasswordForm {
    current: String,
    new: String,
}

pub async fn change_password(
    State(s): State<AppState>,
    viewer: Viewer,
    Peer(address): Peer,
    headers: HeaderMap,
    Form(f): Form<PasswordForm>,
) -> PageResult {
    let new = match Password::parse(&f.new) {
        Ok(p) => p,
        Err(e) => return or_show(&s, &viewer, "password", Err(invalid("new", e))).await,
    };
    let client = super::pages::client(address, &headers);
    match s
        .app
        .accounts()
        .change_password(&viewer.who, &f.current, new, &client)
        .await
    {
        Ok(signed) => Ok(super::pages::signed_in(&s, &signed, "/profile")),
        Err(e) => or_show(&s, &viewer, "password", Err(e)).await,
    }
}

/// A calendar URL with the person's shifts, shown once: it is the feed's only credential.
pub async fn create_feed(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let issued = s
        .app
        .oncall()
        .issue_feed(&viewer.who, FeedSubject::User(viewer.user.id.clone()))
        .await?;
    let url = format!("{}/calendar/{}.ics", s.public_url, issued.secret.expose());
    let label =
        "Subscribe to this URL in your calendar; it is shown only now and works until revoked:";
    page(&s, &viewer, StatusCode::OK, None, Some((label, url))).await
}

#[derive(Deserialize)]
pub struct MethodEditForm {
    name: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    enabled: Option<String>,
}

/// Renames a contact method, or turns it off and on; where it sends is kept as it is (a webhook keeps its secret).
pub async fn edit_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<MethodEditForm>,
) -> PageResult {
    let id = method_id(&id)?;
    let contacts = s.app.contacts();
    let current = contacts.get_method(&viewer.who, &id).await?;
    let spec = ContactMethodSpec {
        name: f.name.trim().to_owned(),
        target: current.target,
        enabled: f.enabled.is_some(),
    };
    let result = match spec.validate() {
        Ok(()) => contacts
            .replace_method(&viewer.who, &id, spec)
            .await
            .map(drop),
        Err(e) => Err(tocsin_store::StoreError::Invalid(e).into()),
    };
    or_show(&s, &viewer, "method", result).await
}

#[derive(Deserialize)]
pub struct StatusUpdatesForm {
    #[serde(default)]
    acknowledged: Option<String>,
    #[serde(default)]
    resolved: Option<String>,
}

/// Whether to hear when someone else acknowledges or resolves an incident one was paged for.
pub async fn set_status_updates(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<StatusUpdatesForm>,
) -> PageResult {
    s.app
        .contacts()
        .set_status_updates(
            &viewer.who,
            &viewer.user.id.clone().into(),
            tocsin_domain::contact::StatusUpdates {
                acknowledged: f.acknowledged.is_some(),
                resolved: f.resolved.is_some(),
            },
        )
        .await?;
    Ok(Redirect::to("/profile#updates").into_response())
}
