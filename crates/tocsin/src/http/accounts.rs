//! Accounts in the API: invitations, sessions, and the email that carries a single-use link.

use super::AppState;
use super::catalog::Items;
use super::error::{ApiResult, ErrorResponse};
use super::extract::{Caller, UserRef, path_id};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use tocsin_domain::account::LinkPurpose;
use tocsin_domain::catalog::User;
use tocsin_domain::contact::{ContactTarget, Notice};
use tocsin_domain::ids::SessionId;
use tocsin_store::SessionRecord;

/// Emails `link` to `user`, saying what it is for; whether the relay took it. Without `[notify.smtp]` nothing is
/// sent, and whoever made the link passes it on themselves.
pub async fn mail_account_link(
    s: &AppState,
    user: &User,
    purpose: LinkPurpose,
    link: &str,
) -> bool {
    let Some(mailer) = &s.mailer else {
        tracing::warn!(user = %user.email, "No [notify.smtp] configured: an account link was made but not emailed.");
        return false;
    };
    let (subject, body) = match purpose {
        LinkPurpose::Invite => (
            "You are invited to Tocsin",
            "Set your password to sign in. The link works once, for 7 days.",
        ),
        LinkPurpose::Reset => (
            "Reset your Tocsin password",
            "Someone asked to reset your password. If it was you, set a new one; the link works once, for an \
             hour. If it was not you, ignore this email.",
        ),
        LinkPurpose::Setup => ("Set up Tocsin", "Create the first owner's account."),
    };
    let notice = Notice {
        quick_link: None,
        incident: None,
        subject: subject.into(),
        body: body.into(),
        links: vec![tocsin_domain::contact::NoticeLink {
            label: "Set my password".into(),
            url: link.to_owned(),
        }],
        event: serde_json::Value::Null,
    };
    let target = ContactTarget::Email {
        address: user.email.clone(),
    };
    let id = format!("acct_{}", ulid::Ulid::new());
    let outcome = mailer
        .send(&crate::notify::Outgoing {
            delivery_id: &id,
            target: &target,
            notice: &notice,
            now: s.app.now(),
        })
        .await;
    match outcome {
        crate::notify::SendOutcome::Delivered { .. } => true,
        other => {
            tracing::warn!(user = %user.email, outcome = ?other, "Could not email an account link.");
            false
        }
    }
}

#[derive(Serialize, Deserialize, utoipa::ToSchema)]
pub struct Invitation {
    /// The single-use link that sets the person's password; shown only now.
    pub link: String,
    pub expires_at: DateTime<Utc>,
    /// Whether it was emailed to the person (needs `[notify.smtp]`); otherwise pass it on yourself.
    pub emailed: bool,
}

/// Makes a link that lets the person set their password and sign in, and emails it to them. Admins only; owners
/// alone invite an owner.
#[utoipa::path(post, path = "/api/v1/users/{user}/invitation", tag = "catalog", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 201, body = Invitation), (status = "4XX", body = ErrorResponse)))]
pub async fn invite(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<(StatusCode, axum::Json<Invitation>)> {
    let (token, expires_at, user) = s
        .app
        .accounts()
        .invite(&caller, &UserRef::parse(&user))
        .await?;
    let link = format!("{}/account/{}", s.public_url, token.expose());
    let emailed = mail_account_link(&s, &user, LinkPurpose::Invite, &link).await;
    Ok((
        StatusCode::CREATED,
        axum::Json(Invitation {
            link,
            expires_at,
            emailed,
        }),
    ))
}

/// The person's signed-in browsers, newest first: their own, or (admins) anyone's.
#[utoipa::path(get, path = "/api/v1/users/{user}/sessions", tag = "catalog", security(("bearer" = [])),
    params(("user" = String, Path, description = "User ID or email")),
    responses((status = 200, body = Items<SessionRecord>), (status = "4XX", body = ErrorResponse)))]
pub async fn list_sessions(
    caller: Caller,
    State(s): State<AppState>,
    Path(user): Path<String>,
) -> ApiResult<axum::Json<Items<SessionRecord>>> {
    Ok(axum::Json(Items {
        items: s
            .app
            .accounts()
            .sessions(&caller, &UserRef::parse(&user))
            .await?,
    }))
}

/// Signs a browser out.
#[utoipa::path(delete, path = "/api/v1/sessions/{id}", tag = "catalog", security(("bearer" = [])),
    params(("id" = String, Path, description = "Session ID")),
    responses((status = 200, body = SessionRecord), (status = "4XX", body = ErrorResponse)))]
pub async fn end_session(
    caller: Caller,
    State(s): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SessionRecord>> {
    let id = path_id(&id, SessionId::parse, "session")?;
    Ok(axum::Json(
        s.app.accounts().end_session(&caller, &id).await?,
    ))
}
