//! The profile: how a person is reached (contact methods, with a test, and notification rules), their time zone,
//! calendar feed, sessions and password. Everything here is the person's own; the use cases check it is.

use super::forms::{self, Problems};
use super::oncall::{FeedView, live_feeds};
use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::extract::Peer;
use crate::http::extract::path_id;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use std::collections::HashMap;
use tocsin_domain::account::Password;
use tocsin_domain::auth::Need;
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

/// A person's signed-in browsers as the viewer reads them, theirs marked.
pub(super) fn session_views(
    sessions: &[tocsin_store::SessionRecord],
    viewer: &Viewer,
    now: chrono::DateTime<chrono::Utc>,
) -> Vec<SessionView> {
    sessions
        .iter()
        .map(|x| SessionView {
            id: x.id.to_string(),
            current: x.id == viewer.session.id,
            agent: x.user_agent.chars().take(80).collect(),
            address: x.address.clone().unwrap_or_default(),
            last_seen: When::new(x.last_seen_at, viewer.tz, now),
        })
        .collect()
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
    /// Which form the problems belong to: `time_zone`, `method`, `edit`, `rule` or `password`.
    problem_form: &'static str,
    problems: Problems,
    /// Shown for every form but the refused one.
    no_problems: Problems,
    /// The contact method whose edit was refused, and that edit as typed.
    edited_method: String,
    method_edit: MethodEditForm,
    method_form: MethodForm,
    rule_form: RuleForm,
    /// Something to show once: a new calendar feed's URL, or a new webhook's signing secret.
    shown_once: Option<(&'static str, String)>,
    updates: tocsin_domain::contact::StatusUpdates,
    feeds: Vec<FeedView>,
    /// Whether the person may change how they are reached (observers only read).
    may_change: bool,
    /// The Slack accounts linked to the person; none when this server does not handle Slack.
    slack: Option<Vec<SlackAccountView>>,
}

pub struct SlackAccountView {
    pub team_id: String,
    pub user_id: String,
    pub linked_by: &'static str,
    pub linked_at: When,
}

/// What a person reads of a target: an address or a number, and of a URL only its host, since chat and webhook
/// URLs are secrets.
fn target_text(target: &ContactTarget) -> String {
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

/// What the page shows besides the profile: a refused form as typed, or a secret to show once.
#[derive(Default)]
struct Shown {
    form: &'static str,
    problems: Problems,
    edited_method: String,
    method_edit: MethodEditForm,
    method: Option<MethodForm>,
    rule: Option<RuleForm>,
    time_zone: Option<String>,
    shown_once: Option<(&'static str, String)>,
}

impl Shown {
    fn refused(form: &'static str, problems: Problems) -> Self {
        Self {
            form,
            problems,
            ..Default::default()
        }
    }

    fn once(label: &'static str, value: String) -> Self {
        Self {
            shown_once: Some((label, value)),
            ..Default::default()
        }
    }
}

async fn page(s: &AppState, viewer: &Viewer, status: StatusCode, shown: Shown) -> PageResult {
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
            time_zone: shown
                .time_zone
                .unwrap_or_else(|| viewer.user.time_zone.to_string()),
            methods: methods
                .iter()
                .map(|m| MethodView {
                    id: m.id.to_string(),
                    name: m.name.clone(),
                    kind: m.target.kind(),
                    target: target_text(&m.target),
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
            sessions: session_views(&sessions, viewer, now),
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
            problem_form: shown.form,
            problems: shown.problems,
            no_problems: Problems::default(),
            edited_method: shown.edited_method,
            method_edit: shown.method_edit,
            method_form: shown.method.unwrap_or_default(),
            rule_form: shown.rule.unwrap_or_else(|| RuleForm {
                delay: "0".into(),
                ..Default::default()
            }),
            shown_once: shown.shown_once,
            updates,
            feeds: live_feeds(s, viewer, FeedSubject::User(viewer.user.id.clone())).await?,
            may_change: who.grant.allows(&Need::Own(&viewer.user.id)),
            slack: match &s.slack {
                Some(_) => Some(
                    s.app
                        .slack()
                        .accounts(who, &me)
                        .await?
                        .into_iter()
                        .map(|a| SlackAccountView {
                            team_id: a.slack.team_id,
                            user_id: a.slack.user_id,
                            linked_by: a.linked_by.as_str(),
                            linked_at: When::new(a.linked_at, viewer.tz, now),
                        })
                        .collect(),
                ),
                None => None,
            },
        },
    ))
}

impl ProfilePage {
    /// A method's name in its rename form: as typed when that edit was refused, else as stored.
    fn edit_name<'a>(&'a self, m: &'a MethodView) -> &'a str {
        if self.edited_method == m.id {
            &self.method_edit.name
        } else {
            &m.name
        }
    }

    fn edit_enabled(&self, m: &MethodView) -> bool {
        if self.edited_method == m.id {
            self.method_edit.enabled.is_some()
        } else {
            m.enabled
        }
    }

    /// A new target as typed in a refused edit; blank otherwise, which keeps the target.
    fn edit_target(&self, m: &MethodView) -> &str {
        if self.edited_method == m.id {
            &self.method_edit.target
        } else {
            ""
        }
    }

    /// The kinds of contact method, as the add form offers them.
    fn kinds(&self) -> &'static [(&'static str, &'static str)] {
        &[
            ("email", "Email"),
            ("sms", "SMS"),
            ("voice", "Phone call"),
            ("slack", "Slack"),
            ("teams", "Microsoft Teams"),
            ("mattermost", "Mattermost"),
            ("webhook", "Webhook"),
        ]
    }

    /// What is wrong with the form named `form`: nothing, unless it is the one refused.
    fn problems_of(&self, form: &str) -> &Problems {
        if self.problem_form == form {
            &self.problems
        } else {
            &self.no_problems
        }
    }
}

pub async fn profile(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    page(&s, &viewer, StatusCode::OK, Shown::default()).await
}

/// Back to the profile after a change; a change refused for what was entered is shown beside the form it came
/// from, as typed; anything else is an error page.
async fn or_show<T>(
    s: &AppState,
    viewer: &Viewer,
    result: Result<Result<T, Problems>, PageError>,
    refused: impl FnOnce(Problems) -> Shown,
) -> PageResult {
    match result? {
        Ok(_) => Ok(Redirect::to("/profile").into_response()),
        Err(p) => page(s, viewer, StatusCode::BAD_REQUEST, refused(p)).await,
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
    let spec = forms::parse::<UserSpec>(serde_json::json!({
        "name": viewer.user.name,
        "email": viewer.user.email,
        "time_zone": f.time_zone.trim(),
    }))
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let me = viewer.user.id.clone().into();
    let users = s.app.users();
    let result = forms::submit(spec, |spec| users.replace(&viewer.who, &me, spec)).await;
    or_show(&s, &viewer, result, |p| Shown {
        time_zone: Some(f.time_zone.clone()),
        ..Shown::refused("time_zone", p)
    })
    .await
}

/// A new contact method as typed.
#[derive(Deserialize, Default, Clone)]
pub struct MethodForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub kind: String,
    #[serde(default)]
    pub target: String,
}

pub async fn add_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<MethodForm>,
) -> PageResult {
    let spec = forms::parse::<ContactMethodSpec>(serde_json::json!({
        "name": f.name.trim(),
        "target": target_json(&f.kind, &f.target),
    }))
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let me = viewer.user.id.clone().into();
    let contacts = s.app.contacts();
    match forms::submit(spec, |spec| contacts.create_method(&viewer.who, &me, spec)).await? {
        Ok(method) => match method.value.target {
            ContactTarget::Webhook {
                secret: Some(secret),
                ..
            } => {
                let label =
                    "The webhook's signing secret, to verify what Tocsin sends (shown only now):";
                page(&s, &viewer, StatusCode::OK, Shown::once(label, secret)).await
            }
            _ => Ok(Redirect::to("/profile").into_response()),
        },
        Err(p) => {
            let shown = Shown {
                method: Some(f),
                ..Shown::refused("method", p)
            };
            page(&s, &viewer, StatusCode::BAD_REQUEST, shown).await
        }
    }
}

fn method_id(id: &str) -> Result<ContactMethodId, PageError> {
    Ok(path_id(id, ContactMethodId::parse, "contact method")?)
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

/// A notification rule as typed.
#[derive(Deserialize, Default, Clone)]
pub struct RuleForm {
    #[serde(default)]
    pub method: String,
    #[serde(default)]
    pub urgency: String,
    #[serde(default)]
    pub delay: String,
}

pub async fn add_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<RuleForm>,
) -> PageResult {
    let spec = match forms::given(&f.delay).map_or(Ok(0), str::parse::<u32>) {
        Ok(delay) => forms::parse::<NotificationRuleSpec>(serde_json::json!({
            "contact_method_id": f.method,
            "urgency": f.urgency,
            "delay_minutes": delay,
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default()),
        Err(_) => Err(forms::problem(
            "delay_minutes",
            "must be a whole number of minutes",
        )),
    };
    let me = viewer.user.id.clone().into();
    let contacts = s.app.contacts();
    let result = forms::submit(spec, |spec| contacts.create_rule(&viewer.who, &me, spec)).await;
    or_show(&s, &viewer, result, |p| Shown {
        rule: Some(f.clone()),
        ..Shown::refused("rule", p)
    })
    .await
}

pub async fn delete_rule(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, NotificationRuleId::parse, "notification rule")?;
    s.app.contacts().delete_rule(&viewer.who, &id).await?;
    Ok(Redirect::to("/profile").into_response())
}

pub async fn end_session(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    let id = path_id(&id, SessionId::parse, "session")?;
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
    let refused = |p| {
        page(
            &s,
            &viewer,
            StatusCode::BAD_REQUEST,
            Shown::refused("password", p),
        )
    };
    let new = match Password::parse(&f.new) {
        Ok(p) => p,
        Err(e) => return refused(forms::problem("new", &e.to_string())).await,
    };
    let client = super::pages::client(address, &headers);
    match s
        .app
        .accounts()
        .change_password(&viewer.who, &f.current, new, &client)
        .await
    {
        Ok(signed) => Ok(super::pages::signed_in(&s, &signed, "/profile")),
        Err(tocsin_app::Error::BadCredentials) => {
            refused(forms::problem("current", "is not your current password")).await
        }
        Err(e) => refused(forms::problems(e)?).await,
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
    page(&s, &viewer, StatusCode::OK, Shown::once(label, url)).await
}

/// A contact method's change as typed.
#[derive(Deserialize, Default, Clone)]
pub struct MethodEditForm {
    #[serde(default)]
    pub name: String,
    /// A checkbox: present when ticked.
    #[serde(default)]
    pub enabled: Option<String>,
    /// Where it sends instead, of the same kind; blank keeps it.
    #[serde(default)]
    pub target: String,
}

/// A contact target as the API takes it, from a kind and what was typed for it.
fn target_json(kind: &str, typed: &str) -> serde_json::Value {
    let key = match kind {
        "email" => "address",
        "sms" | "voice" => "number",
        _ => "url",
    };
    serde_json::json!({"type": kind, key: typed.trim()})
}

/// Renames a contact method, turns it off and on, or points it elsewhere (its kind stays, and a webhook keeps its
/// signing secret).
pub async fn edit_method(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
    Form(f): Form<MethodEditForm>,
) -> PageResult {
    let id = method_id(&id)?;
    let contacts = s.app.contacts();
    let current = contacts.get_method(&viewer.who, &id).await?;
    let checked = match forms::given(&f.target) {
        None => {
            let spec = ContactMethodSpec {
                name: f.name.trim().to_owned(),
                target: current.target,
                enabled: f.enabled.is_some(),
            };
            spec.validate().map(|()| spec).map_err(Into::into)
        }
        Some(typed) => forms::parse::<ContactMethodSpec>(serde_json::json!({
            "name": f.name.trim(),
            "target": target_json(current.target.kind(), typed),
            "enabled": f.enabled.is_some(),
        })),
    }
    .map_err(|e| forms::problems(e).unwrap_or_default());
    let result = forms::submit(checked, |spec| {
        contacts.replace_method(&viewer.who, &id, spec)
    })
    .await;
    or_show(&s, &viewer, result, |p| Shown {
        edited_method: id.to_string(),
        method_edit: f.clone(),
        ..Shown::refused("edit", p)
    })
    .await
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

/// A one-time code that links the person's Slack account when they type it in Slack.
pub async fn create_slack_code(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let (code, _) = s.app.slack().offer_link_code(&viewer.who).await?;
    let label = "In Slack, type this within 10 minutes to link your Slack account to you:";
    page(
        &s,
        &viewer,
        StatusCode::OK,
        Shown::once(label, format!("/tocsin link {code}")),
    )
    .await
}

/// Unlinks one of the person's Slack accounts.
pub async fn unlink_slack(
    State(s): State<AppState>,
    viewer: Viewer,
    Path((team_id, user_id)): Path<(String, String)>,
) -> Result<Redirect, PageError> {
    let slack = tocsin_domain::slack::SlackUser { team_id, user_id };
    s.app
        .slack()
        .unlink(&viewer.who, &viewer.user.id.clone().into(), &slack)
        .await?;
    Ok(Redirect::to("/profile#slack"))
}
