//! The pages: signing in and out, account links, home, the incident list and the incident page.

use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::extract::{Peer, from_own_origin, session_cookie_name};
use askama::Template;
use axum::Form;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{DateTime, Duration, Utc};
use serde::Deserialize;
use std::collections::{HashMap, HashSet};
use tocsin_app::{Claim, Client, SignedIn};
use tocsin_domain::account::{LinkPurpose, Password};
use tocsin_domain::catalog::UserSpec;
use tocsin_domain::ids::{ServiceId, UserId};
use tocsin_domain::incident::{Incident, IncidentStatus};
use tocsin_domain::severity::Severity;
use tocsin_store::{DeliveryFilter, IncidentFilter};

type PageResult = Result<Response, PageError>;

/// Refuses a form another site's page posted, for the forms that come before a session (signing in, account
/// links): a page elsewhere must not sign a visitor in to an account of its choosing.
pub struct OwnOrigin;

impl FromRequestParts<AppState> for OwnOrigin {
    type Rejection = PageError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, PageError> {
        if from_own_origin(parts, &state.public_url) {
            Ok(Self)
        } else {
            Err(PageError::new(
                StatusCode::FORBIDDEN,
                "This request came from another site",
                "Tocsin only accepts forms sent from its own pages.",
            ))
        }
    }
}

pub(super) fn client(address: Option<std::net::IpAddr>, headers: &HeaderMap) -> Client {
    Client {
        address,
        user_agent: headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned(),
    }
}

/// Where to go after signing in: a path on this site, never another site. Browsers drop tabs and line breaks
/// and read `\\` as `/` in URLs, so a path holding any of them, or blanks, is not trusted either.
fn local_path(next: Option<&str>) -> String {
    match next {
        Some(p)
            if p.starts_with('/')
                && !p.starts_with("//")
                && p.len() <= 1024
                && !p
                    .chars()
                    .any(|c| c == '\\' || c.is_whitespace() || c.is_control()) =>
        {
            p.to_owned()
        }
        _ => "/".to_owned(),
    }
}

pub(super) fn session_cookie(s: &AppState, value: &str, max_age: Duration) -> HeaderValue {
    let secure = if s.public_url.starts_with("https://") {
        "; Secure"
    } else {
        ""
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        session_cookie_name(&s.public_url),
        max_age.num_seconds().max(0)
    ))
    .expect("a cookie of hex digits is a valid header")
}

pub(super) fn signed_in(s: &AppState, signed: &SignedIn, to: &str) -> Response {
    let mut resp = Redirect::to(to).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        session_cookie(
            s,
            signed.token.expose(),
            s.app.account_settings().sessions.absolute,
        ),
    );
    resp
}

// ---- signing in -------------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    chrome: Chrome,
    email: String,
    next: String,
    error: Option<String>,
    /// The identity provider's name, when single sign-on is set up.
    sso: Option<String>,
}

impl LoginPage {
    fn new(s: &AppState, email: String, next: String, error: Option<String>) -> Self {
        Self {
            chrome: Chrome::new(None, "login"),
            email,
            next,
            error,
            sso: s.sso.as_ref().map(|sso| sso.label().to_owned()),
        }
    }

    /// The `next` of the single sign-on link, percent-encoded.
    fn sso_next(&self) -> String {
        url::form_urlencoded::byte_serialize(self.next.as_bytes()).collect()
    }
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub async fn login_form(State(s): State<AppState>, Query(q): Query<NextQuery>) -> Response {
    render(
        StatusCode::OK,
        &LoginPage::new(&s, String::new(), local_path(q.next.as_deref()), None),
    )
}

#[derive(Deserialize)]
pub struct LoginForm {
    email: String,
    password: String,
    #[serde(default)]
    next: Option<String>,
}

pub async fn login(
    State(s): State<AppState>,
    _: OwnOrigin,
    Peer(address): Peer,
    headers: HeaderMap,
    Form(f): Form<LoginForm>,
) -> Response {
    let next = local_path(f.next.as_deref());
    let refused = |status: StatusCode, error: String| {
        render(
            status,
            &LoginPage::new(&s, f.email.clone(), next.clone(), Some(error)),
        )
    };
    match s
        .app
        .accounts()
        .login(&f.email, &f.password, &client(address, &headers))
        .await
    {
        Ok(signed) => signed_in(&s, &signed, &next),
        Err(tocsin_app::Error::BadCredentials) => refused(
            StatusCode::UNAUTHORIZED,
            "The email or the password is wrong.".into(),
        ),
        Err(tocsin_app::Error::TooManyAttempts { retry_after }) => refused(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "Too many failed sign-ins for this account or from here. Try again in {} minutes.",
                retry_after.num_minutes()
            ),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

/// The cookie that remembers a single sign-on until the browser comes back from the provider. Behind https it is a
/// `__Host-` cookie, which a sibling subdomain cannot plant to slip its own sign-in into this browser.
fn sso_cookie_name(s: &AppState) -> &'static str {
    if s.public_url.starts_with("https://") {
        "__Host-tocsin_sso"
    } else {
        "tocsin_sso"
    }
}

fn sso_cookie(s: &AppState, value: &str, max_age: Duration) -> HeaderValue {
    let (secure, path) = if s.public_url.starts_with("https://") {
        ("; Secure", "/")
    } else {
        ("", "/login/sso")
    };
    HeaderValue::from_str(&format!(
        "{}={value}; Path={path}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        sso_cookie_name(s),
        max_age.num_seconds().max(0)
    ))
    .expect("a sealed flow is base64 and a dot")
}

/// Sends the browser to the identity provider to sign in, remembering where it was going.
pub async fn sso_begin(State(s): State<AppState>, Query(q): Query<NextQuery>) -> PageResult {
    let Some(sso) = &s.sso else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Single sign-on is not set up",
            "Sign in with your email and password, or ask an admin to set up [oidc].",
        ));
    };
    let next = local_path(q.next.as_deref());
    let (url, flow) = sso.begin(&next, s.app.now()).await.map_err(|e| {
        tracing::warn!(error = %e, "Single sign-on could not start.");
        PageError::new(
            StatusCode::BAD_GATEWAY,
            "The sign-in provider cannot be reached",
            "Try again in a moment, or sign in with your email and password.",
        )
    })?;
    let mut resp = Redirect::to(&url).into_response();
    resp.headers_mut().insert(
        header::SET_COOKIE,
        sso_cookie(&s, &flow, crate::sso::FLOW_LIFETIME),
    );
    Ok(resp)
}

#[derive(Deserialize)]
pub struct SsoReturn {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    error_description: Option<String>,
}

/// Where the provider sends the browser back: the sign-in it started is checked and finished.
pub async fn sso_finish(
    State(s): State<AppState>,
    Peer(address): Peer,
    headers: HeaderMap,
    parts: axum::http::request::Parts,
    Query(q): Query<SsoReturn>,
) -> PageResult {
    let Some(sso) = &s.sso else {
        return Err(PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            "Single sign-on is not set up.",
        ));
    };
    let refused = |status: StatusCode, error: String| {
        let mut resp = render(
            status,
            &LoginPage::new(&s, String::new(), "/".into(), Some(error)),
        );
        resp.headers_mut()
            .insert(header::SET_COOKIE, sso_cookie(&s, "", Duration::zero()));
        Ok(resp)
    };
    let flow = super::cookie(&parts, sso_cookie_name(&s));
    if let Some(error) = q.error {
        // What a provider says is logged, never shown: anyone can send a browser here with words of their choosing.
        tracing::info!(error = %error, description = ?q.error_description, "The provider did not sign someone in.");
        let ours = sso.refusal_is_ours(flow, q.state.as_deref(), s.app.now());
        let e = if ours {
            crate::sso::SsoError::Refused
        } else {
            crate::sso::SsoError::Flow
        };
        return refused(StatusCode::FORBIDDEN, e.to_string());
    }
    let (Some(code), Some(state)) = (q.code, q.state) else {
        return refused(
            StatusCode::BAD_REQUEST,
            crate::sso::SsoError::Flow.to_string(),
        );
    };
    let (vouched, next) = match sso.finish(flow, &code, &state, s.app.now()).await {
        Ok(v) => v,
        Err(e) => {
            tracing::warn!(error = %e, "A single sign-on did not complete.");
            let status = match e {
                crate::sso::SsoError::Provider(_) => StatusCode::BAD_GATEWAY,
                _ => StatusCode::FORBIDDEN,
            };
            return refused(status, e.to_string());
        }
    };
    let signed = match s
        .app
        .accounts()
        .sign_in_vouched(vouched, sso.join().as_ref(), &client(address, &headers))
        .await
    {
        Ok(signed) => signed,
        Err(e @ tocsin_app::Error::UnknownPerson { .. }) => {
            return refused(
                StatusCode::FORBIDDEN,
                format!("{e}. An admin can add you, then you can sign in here."),
            );
        }
        Err(e) => return Err(e.into()),
    };
    let mut resp = signed_in(&s, &signed, &local_path(Some(&next)));
    resp.headers_mut()
        .append(header::SET_COOKIE, sso_cookie(&s, "", Duration::zero()));
    Ok(resp)
}

pub async fn logout(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    s.app
        .accounts()
        .end_session(&viewer.who, &viewer.session.id)
        .await?;
    let mut resp = Redirect::to("/login").into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&s, "", Duration::zero()));
    Ok(resp)
}

#[derive(Template)]
#[template(path = "forgot.html")]
struct ForgotPage {
    chrome: Chrome,
    sent: bool,
    error: Option<String>,
}

pub async fn forgot_form() -> Response {
    render(
        StatusCode::OK,
        &ForgotPage {
            chrome: Chrome::new(None, "login"),
            sent: false,
            error: None,
        },
    )
}

#[derive(Deserialize)]
pub struct ForgotForm {
    email: String,
}

/// Answers the same whether or not anyone has the email, so that the form tells nobody who has an account.
pub async fn forgot(
    State(s): State<AppState>,
    _: OwnOrigin,
    Peer(address): Peer,
    headers: HeaderMap,
    Form(f): Form<ForgotForm>,
) -> Response {
    let page = |status, sent, error| {
        render(
            status,
            &ForgotPage {
                chrome: Chrome::new(None, "login"),
                sent,
                error,
            },
        )
    };
    match s
        .app
        .accounts()
        .request_reset(&f.email, &client(address, &headers))
        .await
    {
        Ok(Some((token, user))) => {
            let link = format!("{}/account/{}", s.public_url, token.expose());
            // Sent after answering, so that the answer takes as long whether or not the account exists.
            let state = s.clone();
            tokio::spawn(async move {
                crate::http::mail_account_link(&state, &user, LinkPurpose::Reset, &link).await;
            });
            page(StatusCode::OK, true, None)
        }
        Ok(None) => page(StatusCode::OK, true, None),
        Err(tocsin_app::Error::TooManyAttempts { .. }) => page(
            StatusCode::TOO_MANY_REQUESTS,
            false,
            Some("Too many requests for this account or from here. Try again later.".into()),
        ),
        Err(e) => PageError::from(e).into_response(),
    }
}

// ---- account links ----------------------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "account.html")]
struct AccountPage {
    chrome: Chrome,
    purpose: &'static str,
    token: String,
    person: Option<String>,
    name: String,
    email: String,
    error: Option<String>,
}

fn link_gone() -> PageError {
    PageError::new(
        StatusCode::NOT_FOUND,
        "This link no longer works",
        "It was used already, or it expired. Ask an admin for a new invitation, or reset your password from the sign-in page.",
    )
}

pub async fn account_form(State(s): State<AppState>, Path(token): Path<String>) -> PageResult {
    let Some(link) = s.app.accounts().link(&token).await? else {
        return Err(link_gone());
    };
    Ok(render(
        StatusCode::OK,
        &AccountPage {
            chrome: Chrome::new(None, "login"),
            purpose: link.purpose.as_str(),
            token,
            person: link.user.map(|u| u.email.to_string()),
            name: String::new(),
            email: String::new(),
            error: None,
        },
    ))
}

#[derive(Deserialize)]
pub struct AccountForm {
    password: String,
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    email: Option<String>,
}

pub async fn account(
    State(s): State<AppState>,
    _: OwnOrigin,
    Path(token): Path<String>,
    Peer(address): Peer,
    headers: HeaderMap,
    Form(f): Form<AccountForm>,
) -> PageResult {
    let Some(link) = s.app.accounts().link(&token).await? else {
        return Err(link_gone());
    };
    let again = |error: String| {
        render(
            StatusCode::BAD_REQUEST,
            &AccountPage {
                chrome: Chrome::new(None, "login"),
                purpose: link.purpose.as_str(),
                token: token.clone(),
                person: link.user.as_ref().map(|u| u.email.to_string()),
                name: f.name.clone().unwrap_or_default(),
                email: f.email.clone().unwrap_or_default(),
                error: Some(error),
            },
        )
    };
    let password = match Password::parse(&f.password) {
        Ok(p) => p,
        Err(e) => return Ok(again(format!("Password: {e}"))),
    };
    let claim = if link.purpose == LinkPurpose::Setup {
        let spec = serde_json::json!({
            "name": f.name.as_deref().unwrap_or("").trim(),
            "email": f.email.as_deref().unwrap_or("").trim(),
        });
        match serde_json::from_value::<UserSpec>(spec) {
            Ok(spec) => Claim::Owner { spec, password },
            Err(e) => return Ok(again(e.to_string())),
        }
    } else {
        Claim::Password(password)
    };
    let signed = s
        .app
        .accounts()
        .redeem(&token, claim, &client(address, &headers))
        .await?;
    Ok(signed_in(&s, &signed, "/"))
}

// ---- incidents as rows ------------------------------------------------------------------------------------------

pub struct IncidentRow {
    pub number: i64,
    pub title: String,
    pub status: &'static str,
    pub severity: &'static str,
    pub opened: When,
    pub services: String,
    pub unassigned: bool,
    /// The incident it was merged into.
    pub merged_into: Option<i64>,
}

pub(super) async fn service_names(
    s: &AppState,
    viewer: &Viewer,
) -> Result<HashMap<ServiceId, String>, PageError> {
    Ok(names_of(&s.app.services().list(&viewer.who).await?))
}

/// A key named in a page's path (a role's, a checklist's, a runbook's); anything else names nothing there is.
pub(super) fn key_in_path(raw: &str, what: &str) -> Result<tocsin_domain::refs::Key, PageError> {
    raw.parse().map_err(|_| {
        PageError::new(
            StatusCode::NOT_FOUND,
            "Not found",
            &format!("There is no such {what}."),
        )
    })
}

/// Choices for a form's select, as (value, label), by label: people, services, schedules, teams.
pub(super) fn by_name<K: std::fmt::Display>(
    entries: impl IntoIterator<Item = (K, String)>,
) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = entries
        .into_iter()
        .map(|(id, name)| (id.to_string(), name))
        .collect();
    v.sort_by(|a, b| a.1.cmp(&b.1));
    v
}

/// Services' names by ID, for a page that has listed them anyway.
pub(super) fn names_of(services: &[tocsin_domain::catalog::Service]) -> HashMap<ServiceId, String> {
    services
        .iter()
        .map(|svc| (svc.id.clone(), svc.name.to_string()))
        .collect()
}

/// The teams whose services, schedules and policies the viewer may make and change, by name: all of them for
/// admins, their own for others.
pub(super) async fn usable_teams(
    s: &AppState,
    viewer: &Viewer,
) -> Result<Vec<(String, tocsin_domain::ids::TeamId)>, PageError> {
    let mut teams: Vec<(String, tocsin_domain::ids::TeamId)> = s
        .app
        .teams()
        .list(&viewer.who)
        .await?
        .into_iter()
        .filter(|t| {
            viewer
                .who
                .grant
                .allows(&tocsin_domain::auth::Need::Team(Some(&t.id)))
        })
        .map(|t| (t.name.to_string(), t.id))
        .collect();
    teams.sort();
    Ok(teams)
}

/// Everyone's name by ID, for the pages that name people.
pub(super) async fn people(
    s: &AppState,
    viewer: &Viewer,
) -> Result<HashMap<UserId, String>, PageError> {
    Ok(s.app
        .users()
        .list(&viewer.who)
        .await?
        .into_iter()
        .map(|u| (u.id, u.name.to_string()))
        .collect())
}

pub(super) fn row(
    i: &Incident,
    names: &HashMap<ServiceId, String>,
    viewer: &Viewer,
    now: DateTime<Utc>,
) -> IncidentRow {
    IncidentRow {
        number: i.number,
        title: i.title.clone(),
        status: i.status.as_str(),
        severity: i.severity.as_str(),
        opened: When::new(i.created_at, viewer.tz, now),
        services: i
            .services
            .iter()
            .filter_map(|id| names.get(id).cloned())
            .collect::<Vec<_>>()
            .join(", "),
        unassigned: i.unassigned_since.is_some(),
        merged_into: i.merged_into,
    }
}

pub(super) const OPEN: [IncidentStatus; 2] =
    [IncidentStatus::Triggered, IncidentStatus::Acknowledged];

// ---- home -------------------------------------------------------------------------------------------------------

pub struct SeverityGroup {
    pub severity: &'static str,
    pub rows: Vec<IncidentRow>,
}

pub struct OnCallRow {
    pub schedule: String,
    pub person: Option<String>,
    /// When the shift ends, unless it goes on past the horizon the page looked at.
    pub until: Option<When>,
}

pub struct ShiftRow {
    pub schedule: String,
    pub start: When,
    pub end: When,
    pub now: bool,
    /// The shift goes on past the horizon the page looked at.
    pub open_ended: bool,
    starts_at: DateTime<Utc>,
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    chrome: Chrome,
    name: String,
    mine: Vec<IncidentRow>,
    open: Vec<SeverityGroup>,
    open_count: String,
    on_call: Vec<OnCallRow>,
    next_shift: Option<ShiftRow>,
}

/// How far ahead the home page looks for the viewer's next shift.
const SHIFT_HORIZON_DAYS: i64 = 60;

pub async fn home(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    let now = s.app.now();
    let who = &viewer.who;
    let names = service_names(&s, &viewer).await?;
    let open_page = s
        .app
        .incidents()
        .list(
            who,
            IncidentFilter {
                statuses: OPEN.to_vec(),
                limit: 500,
                ..Default::default()
            },
        )
        .await?;
    let more_open = open_page.next_cursor.is_some();
    let open = open_page.items;
    let paged_me: HashSet<_> = s
        .app
        .contacts()
        .deliveries(
            who,
            DeliveryFilter {
                incident: None,
                user: Some(viewer.user.id.clone().into()),
                limit: 500,
            },
        )
        .await?
        .into_iter()
        .filter(|d| matches!(d.purpose, tocsin_domain::contact::Purpose::Page { .. }))
        .filter_map(|d| d.incident_id)
        .collect();
    let mine = open
        .iter()
        .filter(|i| paged_me.contains(&i.id))
        .map(|i| row(i, &names, &viewer, now))
        .collect();
    let groups = [
        Severity::Sev0,
        Severity::Sev1,
        Severity::Sev2,
        Severity::Sev3,
    ]
    .into_iter()
    .map(|sev| SeverityGroup {
        severity: sev.as_str(),
        rows: open
            .iter()
            .filter(|i| i.severity == sev)
            .map(|i| row(i, &names, &viewer, now))
            .collect(),
    })
    .filter(|g| !g.rows.is_empty())
    .collect();

    let people = people(&s, &viewer).await?;
    let horizon = now + Duration::days(SHIFT_HORIZON_DAYS);
    let mut on_call = Vec::new();
    let mut next_shift: Option<ShiftRow> = None;
    for record in s.app.oncall().list_schedules(who).await? {
        let schedule = record.schedule();
        let shifts = tocsin_domain::oncall::final_schedule(&schedule, now, horizon);
        let current = shifts.iter().find(|sh| sh.start <= now && now < sh.end);
        on_call.push(OnCallRow {
            schedule: record.name.clone(),
            person: current.and_then(|sh| people.get(&sh.user).cloned()),
            until: current
                .filter(|sh| sh.end < horizon)
                .map(|sh| When::new(sh.end, viewer.tz, now)),
        });
        if let Some(sh) = shifts
            .iter()
            .find(|sh| sh.user == viewer.user.id && sh.end > now)
            && next_shift.as_ref().is_none_or(|n| sh.start < n.starts_at)
        {
            next_shift = Some(ShiftRow {
                schedule: record.name.clone(),
                start: When::new(sh.start, viewer.tz, now),
                end: When::new(sh.end, viewer.tz, now),
                now: sh.start <= now,
                open_ended: sh.end >= horizon,
                starts_at: sh.start,
            });
        }
    }
    Ok(render(
        StatusCode::OK,
        &HomePage {
            chrome: viewer.chrome("home"),
            name: viewer.user.name.to_string(),
            mine,
            open_count: if more_open {
                format!("{}+", open.len())
            } else {
                open.len().to_string()
            },
            open: groups,
            on_call,
            next_shift,
        },
    ))
}

// ---- the incident list ------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct ListQuery {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    severity: Option<String>,
    #[serde(default)]
    service: Option<String>,
    #[serde(default)]
    team: Option<String>,
    /// Opened within the last `24h`, `7d`, `30d` or `90d`; any time when absent.
    #[serde(default)]
    within: Option<String>,
    #[serde(default)]
    cursor: Option<String>,
    /// Only the rows, for the script that keeps the list live.
    #[serde(default)]
    fragment: Option<String>,
}

pub struct Choice {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

#[derive(Template)]
#[template(path = "incidents.html")]
struct IncidentsPage {
    chrome: Chrome,
    rows: Vec<IncidentRow>,
    statuses: Vec<Choice>,
    severities: Vec<Choice>,
    services: Vec<Choice>,
    teams: Vec<Choice>,
    within: Vec<Choice>,
    live_url: Option<String>,
    next_url: Option<String>,
    /// Declaring an incident by hand: who may, the services to choose, the form as typed and its problems.
    can_declare: bool,
    service_names: Vec<String>,
    declare: DeclareForm,
    declare_problems: super::forms::Problems,
    /// The severities to declare with, named, and what each means.
    declare_severities: Vec<Choice>,
    severity_guide: Vec<super::severities::GuideEntry>,
}

/// An incident declared by hand, as typed.
#[derive(Default, Clone)]
pub struct DeclareForm {
    pub title: String,
    pub severity: String,
    pub services: Vec<String>,
    pub description: String,
}

impl IncidentsPage {
    fn declares(&self, service: &str) -> bool {
        self.declare.services.iter().any(|s| s == service)
    }
}

#[derive(Template)]
#[template(path = "incident_rows.html")]
struct IncidentRows {
    rows: Vec<IncidentRow>,
}

/// A filter's choice of service: any, or one by name.
pub(super) fn service_choices(names: &HashMap<ServiceId, String>, chosen: &str) -> Vec<Choice> {
    let mut sorted: Vec<&String> = names.values().collect();
    sorted.sort();
    std::iter::once(Choice {
        value: String::new(),
        label: "Any service".into(),
        selected: chosen.is_empty(),
    })
    .chain(sorted.into_iter().map(|n| Choice {
        value: n.clone(),
        label: n.clone(),
        selected: n == chosen,
    }))
    .collect()
}

pub(super) fn choices(options: &[(&str, &str)], chosen: &str) -> Vec<Choice> {
    options
        .iter()
        .map(|(value, label)| Choice {
            value: (*value).to_owned(),
            label: (*label).to_owned(),
            selected: *value == chosen,
        })
        .collect()
}

pub async fn incidents(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<ListQuery>,
) -> PageResult {
    incidents_page(&s, &viewer, q, StatusCode::OK, None).await
}

const WITHIN: [(&str, &str, i64); 5] = [
    ("", "Any time", 0),
    ("24h", "Last 24 hours", 1),
    ("7d", "Last 7 days", 7),
    ("30d", "Last 30 days", 30),
    ("90d", "Last 90 days", 90),
];

async fn incidents_page(
    s: &AppState,
    viewer: &Viewer,
    q: ListQuery,
    status_code: StatusCode,
    declared: Option<(DeclareForm, super::forms::Problems)>,
) -> PageResult {
    let (s, viewer) = (s.clone(), viewer);
    let now = s.app.now();
    let status = q.status.clone().unwrap_or_else(|| "open".into());
    let statuses = match status.as_str() {
        "open" => OPEN.to_vec(),
        "all" => Vec::new(),
        other => other
            .parse::<IncidentStatus>()
            .map(|st| vec![st])
            .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Unknown status", &e))?,
    };
    let severity = q.severity.clone().unwrap_or_default();
    let severities = match severity.as_str() {
        "" => Vec::new(),
        other => vec![
            other
                .parse::<Severity>()
                .map_err(|e| PageError::new(StatusCode::BAD_REQUEST, "Unknown severity", &e))?,
        ],
    };
    let service = q.service.clone().unwrap_or_default();
    let team = q.team.clone().unwrap_or_default();
    let within = q.within.clone().unwrap_or_default();
    let days = WITHIN
        .iter()
        .find(|(v, ..)| *v == within)
        .map(|(.., d)| *d)
        .ok_or_else(|| {
            PageError::new(
                StatusCode::BAD_REQUEST,
                "Unknown time range",
                "Choose 24h, 7d, 30d or 90d.",
            )
        })?;
    let page = s
        .app
        .incidents()
        .list(
            &viewer.who,
            IncidentFilter {
                statuses,
                severities,
                service: (!service.is_empty()).then(|| service.as_str().into()),
                team: (!team.is_empty()).then(|| team.as_str().into()),
                created_after: (days > 0).then(|| now - Duration::days(days)),
                limit: 50,
                cursor: q.cursor.clone(),
                ..Default::default()
            },
        )
        .await?;
    let names = service_names(&s, viewer).await?;
    let rows: Vec<IncidentRow> = page
        .items
        .iter()
        .map(|i| row(i, &names, viewer, now))
        .collect();
    if q.fragment.is_some() {
        return Ok(render(StatusCode::OK, &IncidentRows { rows }));
    }
    let query = |extra: &[(&str, &str)]| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        pairs.append_pair("status", &status);
        if !severity.is_empty() {
            pairs.append_pair("severity", &severity);
        }
        if !service.is_empty() {
            pairs.append_pair("service", &service);
        }
        if !team.is_empty() {
            pairs.append_pair("team", &team);
        }
        if !within.is_empty() {
            pairs.append_pair("within", &within);
        }
        for (k, v) in extra {
            pairs.append_pair(k, v);
        }
        format!("/incidents?{}", pairs.finish())
    };
    let service_choices = service_choices(&names, &service);
    let mut team_names: Vec<String> = s
        .app
        .teams()
        .list(&viewer.who)
        .await?
        .into_iter()
        .map(|t| t.name.to_string())
        .collect();
    team_names.sort();
    let team_choices = std::iter::once(Choice {
        value: String::new(),
        label: "Any team".into(),
        selected: team.is_empty(),
    })
    .chain(team_names.into_iter().map(|n| Choice {
        selected: n == team,
        value: n.clone(),
        label: n,
    }))
    .collect();
    let mut all_services: Vec<String> = names.values().cloned().collect();
    all_services.sort();
    let (declare, declare_problems) = declared.unwrap_or_else(|| {
        (
            DeclareForm {
                severity: "SEV-2".into(),
                ..Default::default()
            },
            super::forms::Problems::default(),
        )
    });
    let can_declare = viewer.who.grant.allows(&tocsin_domain::auth::Need::Respond);
    let severity_levels = super::severities::levels(&s, viewer).await?;
    Ok(render(
        status_code,
        &IncidentsPage {
            chrome: viewer.chrome("incidents"),
            declare_severities: super::severities::choices(&severity_levels, &declare.severity),
            severity_guide: super::severities::guide(&severity_levels),
            teams: team_choices,
            within: WITHIN
                .iter()
                .map(|(v, label, _)| Choice {
                    value: (*v).to_owned(),
                    label: (*label).to_owned(),
                    selected: *v == within,
                })
                .collect(),
            can_declare,
            service_names: all_services,
            declare,
            declare_problems,
            rows,
            statuses: choices(
                &[
                    ("open", "Open"),
                    ("triggered", "Triggered"),
                    ("acknowledged", "Acknowledged"),
                    ("resolved", "Resolved"),
                    ("all", "All"),
                ],
                &status,
            ),
            severities: std::iter::once(Choice {
                value: String::new(),
                label: "Any severity".into(),
                selected: severity.is_empty(),
            })
            .chain(super::severities::choices(&severity_levels, &severity))
            .collect(),
            services: service_choices,
            // An older page stays as it is; the first follows what happens.
            live_url: q.cursor.is_none().then(|| query(&[("fragment", "1")])),
            next_url: page.next_cursor.as_deref().map(|c| query(&[("cursor", c)])),
        },
    ))
}

/// Declares an incident by hand (a customer's report, something no monitor sees) and opens its page.
pub async fn declare(
    State(s): State<AppState>,
    viewer: Viewer,
    axum::Form(pairs): axum::Form<Vec<(String, String)>>,
) -> PageResult {
    let f = super::forms::Fields::new(pairs);
    let typed = DeclareForm {
        title: f.one("title"),
        severity: f.one("severity"),
        services: f.all("services"),
        description: f.one("description"),
    };
    let new = typed
        .severity
        .parse::<Severity>()
        .map_err(|e| super::forms::problem("severity", &e))
        .map(|severity| tocsin_store::NewIncident {
            title: typed.title.trim().to_owned(),
            description: typed.description.trim().to_owned(),
            severity,
            services: typed.services.iter().map(|n| n.as_str().into()).collect(),
        });
    let incidents = s.app.incidents();
    match super::forms::submit(new, |new| incidents.declare(&viewer.who, new)).await? {
        Ok(declared) => {
            Ok(Redirect::to(&format!("/incidents/{}", declared.value.number)).into_response())
        }
        Err(problems) => {
            incidents_page(
                &s,
                &viewer,
                ListQuery::default(),
                StatusCode::BAD_REQUEST,
                Some((typed, problems)),
            )
            .await
        }
    }
}
