//! Administration: people and their roles, invitations, API tokens, the audit log, and the paging setup's check.

use super::forms::{self, Problems, given};
use super::{Chrome, PageError, Viewer, When, render};
use crate::http::AppState;
use crate::http::accounts::mail_account_link;
use crate::http::extract::path_id;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::json;
use tocsin_app::TokenRequest;
use tocsin_domain::account::LinkPurpose;
use tocsin_domain::auth::{Need, Role};
use tocsin_domain::catalog::UserSpec;
use tocsin_domain::ids::{SessionId, TokenId};
use tocsin_domain::refs::UserRef;
use tocsin_store::AuditFilter;

type PageResult = Result<Response, PageError>;

const ROLES: [&str; 4] = ["observer", "responder", "admin", "owner"];

pub struct PersonRow {
    pub id: String,
    pub name: String,
    pub email: String,
    pub role: &'static str,
    /// The edit form: as stored, or as typed when it was refused.
    pub edit: PersonForm,
    pub problems: Problems,
}

pub struct TeamRow {
    pub id: String,
    pub name: String,
    pub members: String,
    pub edit: TeamForm,
    pub problems: Problems,
}

/// A team as typed: members one email per line.
#[derive(Deserialize, Default, Clone)]
pub struct TeamForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub members: String,
}

impl TeamForm {
    fn spec(&self) -> Result<tocsin_domain::catalog::TeamSpec, Problems> {
        forms::parse(json!({
            "name": self.name.trim(),
            "description": self.description.trim(),
            "members": forms::list(&self.members),
        }))
        .map_err(|e| forms::problems(e).unwrap_or_default())
    }
}

pub struct TokenRow {
    pub id: String,
    pub name: String,
    pub role: String,
    pub prefix: String,
    pub person: String,
    pub expires: Option<When>,
}

pub struct FindingRow {
    pub text: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct PersonForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub time_zone: String,
    #[serde(default)]
    pub role: String,
}

#[derive(Deserialize, Default, Clone)]
pub struct TokenForm {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub role: String,
    /// The person it acts as, by email; blank for a token of its own.
    #[serde(default)]
    pub user: String,
    #[serde(default)]
    pub days: String,
}

#[derive(Template)]
#[template(path = "admin.html")]
struct AdminPage {
    chrome: Chrome,
    people: Vec<PersonRow>,
    tokens: Vec<TokenRow>,
    findings: Vec<FindingRow>,
    roles: Vec<&'static str>,
    may_grant: bool,
    person: PersonForm,
    person_problems: Problems,
    token: TokenForm,
    token_problems: Problems,
    teams: Vec<TeamRow>,
    team: TeamForm,
    team_problems: Problems,
    policies: Vec<String>,
    fallback: String,
    /// Something to show once: a new token, or an invitation link that could not be emailed.
    shown_once: Option<(String, String)>,
    notices: Vec<String>,
    /// What was refused, and why.
    refusals: Vec<String>,
}

#[derive(Default)]
struct Shown {
    person: Option<(PersonForm, Problems)>,
    token: Option<(TokenForm, Problems)>,
    team: Option<(TeamForm, Problems)>,
    /// A refused edit of an existing person or team: its ID, what was typed, what is wrong.
    edited_person: Option<(String, PersonForm, Problems)>,
    edited_team: Option<(String, TeamForm, Problems)>,
    shown_once: Option<(String, String)>,
    notices: Vec<String>,
    refusals: Vec<String>,
}

async fn admin_page(s: &AppState, viewer: &Viewer, status: StatusCode, shown: Shown) -> PageResult {
    let who = &viewer.who;
    who.require(Need::Configure)?;
    let now = s.app.now();
    let mut users = s.app.users().list(who).await?;
    users.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let mut tokens = s.app.tokens().list(who).await?;
    tokens.sort_by_key(|t| std::cmp::Reverse(t.created_at));
    let findings = s
        .app
        .escalation()
        .doctor(who)
        .await?
        .iter()
        .map(|f| FindingRow {
            text: crate::wording::finding(f),
        })
        .collect();
    let (person, person_problems) = shown.person.unwrap_or_else(|| {
        (
            PersonForm {
                time_zone: viewer.tz.name().to_owned(),
                role: "responder".into(),
                ..Default::default()
            },
            Problems::default(),
        )
    });
    let mut teams = s.app.teams().list(who).await?;
    teams.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let names: std::collections::HashMap<String, String> = users
        .iter()
        .map(|u| (u.email.to_string(), u.name.to_string()))
        .collect();
    let (team, team_problems) = shown.team.unwrap_or_default();
    let (mut edited_person, mut edited_team) = (shown.edited_person, shown.edited_team);
    let escalation = s.app.escalation();
    let mut policies: Vec<String> = escalation
        .list_policies(who)
        .await?
        .into_iter()
        .map(|p| p.name)
        .collect();
    policies.sort();
    let fallback = escalation
        .paging_settings(who)
        .await?
        .fallback_policy
        .map(|p| p.name)
        .unwrap_or_default();
    let (token, token_problems) = shown.token.unwrap_or_else(|| {
        (
            TokenForm {
                role: "observer".into(),
                days: "90".into(),
                ..Default::default()
            },
            Problems::default(),
        )
    });
    Ok(render(
        status,
        &AdminPage {
            chrome: viewer.chrome("admin"),
            people: users
                .iter()
                .map(|u| {
                    let (edit, problems) = match &mut edited_person {
                        Some((id, typed, problems)) if *id == u.id.as_str() => {
                            (typed.clone(), std::mem::take(problems))
                        }
                        _ => (
                            PersonForm {
                                name: u.name.to_string(),
                                email: u.email.to_string(),
                                time_zone: u.time_zone.to_string(),
                                role: String::new(),
                            },
                            Problems::default(),
                        ),
                    };
                    PersonRow {
                        id: u.id.to_string(),
                        name: u.name.to_string(),
                        email: u.email.to_string(),
                        role: u.role.as_str(),
                        edit,
                        problems,
                    }
                })
                .collect(),
            teams: teams
                .iter()
                .map(|t| {
                    let (edit, problems) = match &mut edited_team {
                        Some((id, typed, problems)) if *id == t.id.as_str() => {
                            (typed.clone(), std::mem::take(problems))
                        }
                        _ => (
                            TeamForm {
                                name: t.name.to_string(),
                                description: t.description.clone(),
                                members: t
                                    .members
                                    .iter()
                                    .map(|m| m.to_string())
                                    .collect::<Vec<_>>()
                                    .join("\n"),
                            },
                            Problems::default(),
                        ),
                    };
                    TeamRow {
                        id: t.id.to_string(),
                        name: t.name.to_string(),
                        members: t
                            .members
                            .iter()
                            .map(|m| {
                                names
                                    .get(m.as_str())
                                    .cloned()
                                    .unwrap_or_else(|| m.to_string())
                            })
                            .collect::<Vec<_>>()
                            .join(", "),
                        edit,
                        problems,
                    }
                })
                .collect(),
            team,
            team_problems,
            policies,
            fallback,
            tokens: tokens
                .into_iter()
                .filter(|t| t.revoked_at.is_none())
                .map(|t| TokenRow {
                    id: t.id.to_string(),
                    role: t
                        .role
                        .map(|r| r.as_str().to_owned())
                        .unwrap_or_else(|| "as its person".into()),
                    prefix: t.token_prefix,
                    person: t.user_name.unwrap_or_default(),
                    expires: t.expires_at.map(|e| When::new(e, viewer.tz, now)),
                    name: t.name,
                })
                .collect(),
            findings,
            roles: ROLES.to_vec(),
            may_grant: who.grant.allows(&Need::Grant(Role::Owner)),
            person,
            person_problems,
            token,
            token_problems,
            shown_once: shown.shown_once,
            notices: shown.notices,
            refusals: shown.refusals,
        },
    ))
}

pub async fn admin(State(s): State<AppState>, viewer: Viewer) -> PageResult {
    admin_page(&s, &viewer, StatusCode::OK, Shown::default()).await
}

fn role(text: &str, field: &str) -> Result<Role, Problems> {
    forms::parse::<Role>(json!(text.trim()))
        .map_err(|_| forms::problem(field, "must be observer, responder, admin or owner"))
}

/// Adds a person with a role and invites them by email.
pub async fn add_person(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<PersonForm>,
) -> PageResult {
    // Its answer is the administration page, which only those who configure may see.
    viewer.who.require(Need::Configure)?;
    let refused = |f: PersonForm, p: Problems| Shown {
        person: Some((f, p)),
        ..Default::default()
    };
    let parsed = person_spec(&f);
    // Only owners give roles; others add people with the role every new person starts with.
    let who = &viewer.who;
    let wanted = if who.grant.allows(&Need::Grant(Role::Owner)) {
        match role(&f.role, "role") {
            Ok(r) => Some(r),
            Err(p) => return admin_page(&s, &viewer, StatusCode::BAD_REQUEST, refused(f, p)).await,
        }
    } else {
        None
    };
    let users = s.app.users();
    let created = match forms::submit(parsed, |spec| users.create(who, spec)).await? {
        Ok(u) => u,
        Err(p) => return admin_page(&s, &viewer, StatusCode::BAD_REQUEST, refused(f, p)).await,
    };
    let user_ref = UserRef::Id(created.id.clone());
    if let Some(wanted) = wanted.filter(|r| *r != created.role) {
        users.set_role(who, &user_ref, wanted).await?;
    }
    let (shown_once, notices) = invite_person(&s, &viewer, &user_ref).await?;
    admin_page(
        &s,
        &viewer,
        StatusCode::CREATED,
        Shown {
            shown_once,
            notices,
            ..Default::default()
        },
    )
    .await
}

type Invited = (Option<(String, String)>, Vec<String>);

/// Emails an invitation; when it cannot be emailed, the link is shown to pass on.
async fn invite_person(
    s: &AppState,
    viewer: &Viewer,
    user: &UserRef,
) -> Result<Invited, PageError> {
    let (token, _, person) = s.app.accounts().invite(&viewer.who, user).await?;
    let link = format!("{}/account/{}", s.public_url, token.expose());
    if mail_account_link(s, &person, LinkPurpose::Invite, &link).await {
        Ok((
            None,
            vec![format!("{} was emailed an invitation.", person.email)],
        ))
    } else {
        Ok((
            Some((
                format!(
                    "No email could be sent: give {} this invitation link. It works once, for 7 days.",
                    person.email
                ),
                link,
            )),
            Vec::new(),
        ))
    }
}

pub async fn invite(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
) -> PageResult {
    // Its answer is the administration page, which only those who configure may see.
    viewer.who.require(Need::Configure)?;
    let shown = match invite_person(&s, &viewer, &UserRef::parse(&user)).await {
        Ok((shown_once, notices)) => Shown {
            shown_once,
            notices,
            ..Default::default()
        },
        Err(e) if e.status == StatusCode::CONFLICT => {
            let shown = Shown {
                refusals: vec![e.message],
                ..Default::default()
            };
            return admin_page(&s, &viewer, StatusCode::CONFLICT, shown).await;
        }
        Err(e) => return Err(e),
    };
    admin_page(&s, &viewer, StatusCode::OK, shown).await
}

#[derive(Deserialize)]
pub struct RoleForm {
    #[serde(default)]
    role: String,
}

pub async fn set_role(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    Form(f): Form<RoleForm>,
) -> PageResult {
    // Its answer is the administration page, which only those who configure may see.
    viewer.who.require(Need::Configure)?;
    let wanted = match role(&f.role, "role") {
        Ok(r) => r,
        Err(p) => {
            return admin_page(
                &s,
                &viewer,
                StatusCode::BAD_REQUEST,
                Shown {
                    refusals: p.general(&[]),
                    ..Default::default()
                },
            )
            .await;
        }
    };
    match s
        .app
        .users()
        .set_role(&viewer.who, &UserRef::parse(&user), wanted)
        .await
    {
        Ok(_) => Ok(Redirect::to("/admin#people").into_response()),
        Err(e) => {
            let p = forms::problems(e)?;
            admin_page(
                &s,
                &viewer,
                StatusCode::CONFLICT,
                Shown {
                    refusals: p.general(&[]),
                    ..Default::default()
                },
            )
            .await
        }
    }
}

pub async fn create_token(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<TokenForm>,
) -> PageResult {
    // Its answer is the administration page, which only those who configure may see.
    viewer.who.require(Need::Configure)?;
    let refused = |f: TokenForm, p: Problems| Shown {
        token: Some((f, p)),
        ..Default::default()
    };
    let request = (|| {
        let role = match given(&f.role) {
            Some("as-person") if given(&f.user).is_some() => None,
            Some(r) => Some(role(r, "role")?),
            None => None,
        };
        let expires_at = match given(&f.days) {
            None => None,
            Some(d) => match d.parse::<i64>() {
                Ok(n) if (1..=3650).contains(&n) => Some(s.app.now() + chrono::Duration::days(n)),
                _ => {
                    return Err(forms::problem(
                        "expires_at",
                        "must be 1 to 3650 days, or blank for never",
                    ));
                }
            },
        };
        Ok(TokenRequest {
            name: f.name.clone(),
            role,
            expires_at,
            user: given(&f.user).map(UserRef::parse),
        })
    })();
    let tokens = s.app.tokens();
    let shown = match forms::submit(request, |r| tokens.issue(&viewer.who, r)).await? {
        Ok(issued) => Shown {
            shown_once: Some((
                format!(
                    "Token “{}”: copy it now, it is shown only once.",
                    issued.record.name
                ),
                issued.secret.expose().to_owned(),
            )),
            ..Default::default()
        },
        Err(p) => return admin_page(&s, &viewer, StatusCode::BAD_REQUEST, refused(f, p)).await,
    };
    admin_page(&s, &viewer, StatusCode::CREATED, shown).await
}

pub async fn revoke_token(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(id): Path<String>,
) -> PageResult {
    // Its answer is the administration page, which only those who configure may see.
    viewer.who.require(Need::Configure)?;
    let id = path_id(&id, TokenId::parse, "token")?;
    s.app.tokens().revoke(&viewer.who, &id).await?;
    Ok(Redirect::to("/admin#tokens").into_response())
}

// ---- the audit log ----------------------------------------------------------------------------------------------

#[derive(Deserialize, Default)]
pub struct AuditQuery {
    #[serde(default)]
    actor: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    target: String,
    /// A `datetime-local` value in the viewer's zone.
    #[serde(default)]
    since: String,
    #[serde(default)]
    cursor: Option<String>,
}

pub struct AuditRow {
    pub at: When,
    pub actor: String,
    pub action: String,
    pub target: String,
    pub summary: String,
    pub address: String,
}

#[derive(Template)]
#[template(path = "audit.html")]
struct AuditPage {
    chrome: Chrome,
    rows: Vec<AuditRow>,
    actor: String,
    action: String,
    target: String,
    since: String,
    problems: Problems,
    next_url: Option<String>,
}

pub async fn audit(
    State(s): State<AppState>,
    viewer: Viewer,
    Query(q): Query<AuditQuery>,
) -> PageResult {
    let now = s.app.now();
    let (since, problems) = match given(&q.since).map(|t| forms::local_time(t, viewer.tz)) {
        None => (None, Problems::default()),
        Some(Ok(t)) => (Some(t), Problems::default()),
        Some(Err(m)) => (None, forms::problem("since", &m)),
    };
    let page = s
        .app
        .audit()
        .list(
            &viewer.who,
            AuditFilter {
                actor: given(&q.actor).map(str::to_owned),
                action: given(&q.action).map(str::to_owned),
                target: given(&q.target).map(str::to_owned),
                since,
                until: None,
                limit: 100,
                cursor: q.cursor.clone(),
            },
        )
        .await?;
    let next_url = page.next_cursor.map(|c| {
        let mut pairs = url::form_urlencoded::Serializer::new(String::new());
        for (k, v) in [
            ("actor", &q.actor),
            ("action", &q.action),
            ("target", &q.target),
            ("since", &q.since),
        ] {
            pairs.append_pair(k, v);
        }
        pairs.append_pair("cursor", &c);
        format!("/admin/audit?{}", pairs.finish())
    });
    Ok(render(
        if problems.is_empty() {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        },
        &AuditPage {
            chrome: viewer.chrome("admin"),
            rows: page
                .items
                .into_iter()
                .map(|r| AuditRow {
                    at: When::new(r.entry.at, viewer.tz, now),
                    actor: r.entry.actor.name,
                    action: r.entry.action,
                    target: r.entry.target,
                    summary: summary_text(&r.entry.summary),
                    address: r.entry.address.unwrap_or_default(),
                })
                .collect(),
            actor: q.actor,
            action: q.action,
            target: q.target,
            since: q.since,
            problems,
            next_url,
        },
    ))
}

/// A change's summary on one line, cut short: the full record is in `GET /api/v1/audit`.
fn summary_text(summary: &serde_json::Value) -> String {
    if summary.as_object().is_some_and(|o| o.is_empty()) || summary.is_null() {
        return String::new();
    }
    let text = summary.to_string();
    if text.chars().count() > 300 {
        format!("{}…", text.chars().take(300).collect::<String>())
    } else {
        text
    }
}

// ---- someone's signed-in browsers -------------------------------------------------------------------------------

#[derive(Template)]
#[template(path = "person_sessions.html")]
struct PersonSessionsPage {
    chrome: Chrome,
    name: String,
    email: String,
    sessions: Vec<super::profile::SessionView>,
    /// Where each session's sign-out form posts, under this person.
    end_under: String,
}

/// Where a person signed in, for an admin to sign them out of a lost device.
pub async fn person_sessions(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
) -> PageResult {
    let person = s
        .app
        .users()
        .get(&viewer.who, &UserRef::parse(&user))
        .await?;
    let sessions = s
        .app
        .accounts()
        .sessions(&viewer.who, &person.id.clone().into())
        .await?;
    Ok(render(
        StatusCode::OK,
        &PersonSessionsPage {
            chrome: viewer.chrome("admin"),
            sessions: super::profile::session_views(&sessions, &viewer, s.app.now()),
            end_under: format!("/admin/people/{}/sessions", person.id),
            name: person.name.to_string(),
            email: person.email.to_string(),
        },
    ))
}

pub async fn end_person_session(
    State(s): State<AppState>,
    viewer: Viewer,
    // The session names its person; the path's is for reading.
    Path((_, id)): Path<(String, String)>,
) -> PageResult {
    let id = path_id(&id, SessionId::parse, "session")?;
    let ended = s.app.accounts().end_session(&viewer.who, &id).await?;
    Ok(Redirect::to(&format!("/admin/people/{}/sessions", ended.user_id)).into_response())
}

// ---- people's details, teams, and the fallback policy -----------------------------------------------------------

fn person_spec(f: &PersonForm) -> Result<UserSpec, Problems> {
    forms::parse::<UserSpec>(json!({
        "name": f.name.trim(),
        "email": f.email.trim(),
        "time_zone": given(&f.time_zone).unwrap_or("UTC"),
    }))
    .map_err(|e| forms::problems(e).unwrap_or_default())
}

pub async fn update_person(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
    Form(f): Form<PersonForm>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    let users = s.app.users();
    let this = UserRef::parse(&user);
    match forms::submit(person_spec(&f), |spec| {
        users.replace(&viewer.who, &this, spec)
    })
    .await?
    {
        Ok(_) => Ok(Redirect::to("/admin#people").into_response()),
        Err(p) => {
            let shown = Shown {
                edited_person: Some((user, f, p)),
                ..Default::default()
            };
            admin_page(&s, &viewer, StatusCode::BAD_REQUEST, shown).await
        }
    }
}

pub async fn delete_person(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(user): Path<String>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    match s
        .app
        .users()
        .delete(&viewer.who, &UserRef::parse(&user))
        .await
    {
        Ok(()) => Ok(Redirect::to("/admin#people").into_response()),
        Err(e) => {
            let shown = Shown {
                refusals: forms::problems(e)?.general(&[]),
                ..Default::default()
            };
            admin_page(&s, &viewer, StatusCode::CONFLICT, shown).await
        }
    }
}

pub async fn create_team(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<TeamForm>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    let teams = s.app.teams();
    match forms::submit(f.spec(), |spec| teams.create(&viewer.who, spec)).await? {
        Ok(_) => Ok(Redirect::to("/admin#teams").into_response()),
        Err(p) => {
            let shown = Shown {
                team: Some((f, p)),
                ..Default::default()
            };
            admin_page(&s, &viewer, StatusCode::BAD_REQUEST, shown).await
        }
    }
}

pub async fn update_team(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(team): Path<String>,
    Form(f): Form<TeamForm>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    let teams = s.app.teams();
    let this = tocsin_domain::refs::TeamRef::parse(&team);
    match forms::submit(f.spec(), |spec| teams.replace(&viewer.who, &this, spec)).await? {
        Ok(_) => Ok(Redirect::to("/admin#teams").into_response()),
        Err(p) => {
            let shown = Shown {
                edited_team: Some((team, f, p)),
                ..Default::default()
            };
            admin_page(&s, &viewer, StatusCode::BAD_REQUEST, shown).await
        }
    }
}

pub async fn delete_team(
    State(s): State<AppState>,
    viewer: Viewer,
    Path(team): Path<String>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    s.app
        .teams()
        .delete(&viewer.who, &tocsin_domain::refs::TeamRef::parse(&team))
        .await?;
    Ok(Redirect::to("/admin#teams").into_response())
}

#[derive(Deserialize)]
pub struct FallbackForm {
    #[serde(default)]
    policy: String,
}

pub async fn set_fallback(
    State(s): State<AppState>,
    viewer: Viewer,
    Form(f): Form<FallbackForm>,
) -> PageResult {
    viewer.who.require(Need::Configure)?;
    s.app
        .escalation()
        .set_fallback_policy(
            &viewer.who,
            given(&f.policy).map(tocsin_domain::refs::PolicyRef::parse),
        )
        .await?;
    Ok(Redirect::to("/admin#doctor").into_response())
}
