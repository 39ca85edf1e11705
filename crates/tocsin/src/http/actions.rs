//! Acknowledge and resolve from a notification: the signed links in emails and chat messages.
//!
//! Opening a link (GET) only shows a confirmation page; the action happens on the page's POST. Mail scanners and
//! chat unfurlers follow links on their own, and none of them must acknowledge an incident for anyone.

use super::AppState;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use tocsin_app::Principal;
use tocsin_domain::incident::{Incident, IncidentStatus};
use tocsin_domain::links::{ActionLink, LinkAction};
use tocsin_store::StoreError;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

fn page(status: StatusCode, title: &str, body: &str) -> Response {
    let html = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <meta name=\"referrer\" content=\"no-referrer\"><title>{} · Tocsin</title>\
         <style>body{{font-family:system-ui,sans-serif;max-width:36rem;margin:3rem auto;padding:0 1rem;line-height:1.5}}\
         button{{font-size:1.1rem;padding:.6rem 1.4rem;border-radius:.4rem;border:0;background:#b3261e;color:#fff;cursor:pointer}}\
         .muted{{color:#555}}</style></head><body><h1>{}</h1>{body}</body></html>",
        escape(title),
        escape(title)
    );
    let mut resp = (status, Html(html)).into_response();
    // The URL is a credential: keep it out of caches and other sites' logs.
    resp.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        axum::http::HeaderValue::from_static("no-store"),
    );
    resp
}

fn verb(action: LinkAction) -> (&'static str, &'static str) {
    match action {
        LinkAction::Acknowledge => ("Acknowledge", "acknowledged"),
        LinkAction::Resolve => ("Resolve", "resolved"),
    }
}

fn describe(i: &Incident) -> String {
    format!(
        "<p><strong>#{} {}</strong><br><span class=\"muted\">{} · {}</span></p>",
        i.number,
        escape(&i.title),
        i.severity,
        i.status.as_str()
    )
}

/// The link, the incident it is for, and the person it was sent to (who acts through it).
async fn verified(
    s: &AppState,
    token: &str,
) -> Result<(ActionLink, Incident, Principal), Response> {
    let link = ActionLink::verify(token, &s.link_key, s.app.now()).map_err(|e| {
        page(
            StatusCode::FORBIDDEN,
            "This link does not work",
            &format!("<p>{}</p>", escape(&e.to_string())),
        )
    })?;
    let holder = s.app.link_holder(&link.user_id).await;
    let found = match holder {
        Ok(who) => s
            .app
            .incidents()
            .get(&who, &link.incident_id.clone().into())
            .await
            .map(|i| (i, who)),
        Err(e) => Err(e),
    };
    match found {
        Ok((i, who)) => Ok((link, i, who)),
        Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => Err(page(
            StatusCode::NOT_FOUND,
            "Incident not found",
            "<p>The incident this link is for no longer exists.</p>",
        )),
        Err(e) => {
            tracing::error!(error = %e, "Loading an incident for an action link failed.");
            Err(page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Tocsin could not load the incident. Try again in a moment.</p>",
            ))
        }
    }
}

/// The answer for a link whose action has already happened (by this link or otherwise): nothing to do.
fn already_done(link: &ActionLink, incident: &Incident) -> Option<Response> {
    let done = matches!(
        (link.action, incident.status),
        (_, IncidentStatus::Resolved) | (LinkAction::Acknowledge, IncidentStatus::Acknowledged)
    );
    let by = match incident.status {
        IncidentStatus::Resolved => incident.resolved_by.as_ref(),
        _ => incident.acknowledged_by.as_ref(),
    }
    .map(|a| format!(" by {}", escape(&a.name)))
    .unwrap_or_default();
    done.then(|| {
        page(
            StatusCode::OK,
            &format!("Already {}", incident.status.as_str()),
            &format!(
                "{}<p>It was {}{by}. Nothing to do.</p>",
                describe(incident),
                incident.status.as_str()
            ),
        )
    })
}

/// The confirmation page: what the link will do, and a button that does it.
#[utoipa::path(get, path = "/act/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The signed token from a notification link")),
    responses((status = 200, description = "Confirmation page", content_type = "text/html"),
        (status = 403, description = "Expired or altered link", content_type = "text/html")))]
pub async fn confirm(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    let (link, incident, _) = match verified(&s, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let (label, done) = verb(link.action);
    if let Some(r) = already_done(&link, &incident) {
        return r;
    }
    page(
        StatusCode::OK,
        &format!("{label} incident #{}?", incident.number),
        &format!(
            "{}<form method=\"post\"><button type=\"submit\">{label}</button></form>\
             <p class=\"muted\">The incident is {done} only when you press the button.</p>",
            describe(&incident)
        ),
    )
}

/// Carries out the link's action as the user it was sent to.
#[utoipa::path(post, path = "/act/{token}", tag = "notifications",
    params(("token" = String, Path, description = "The signed token from a notification link")),
    responses((status = 200, description = "Done", content_type = "text/html"),
        (status = 403, description = "Expired or altered link", content_type = "text/html"),
        (status = 409, description = "The incident was already resolved", content_type = "text/html")))]
pub async fn act(State(s): State<AppState>, Path(token): Path<String>) -> Response {
    let (link, incident, who) = match verified(&s, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if let Some(r) = already_done(&link, &incident) {
        return r;
    }
    let this = incident.id.clone().into();
    let result = match link.action {
        LinkAction::Acknowledge => s.app.incidents().acknowledge(&who, &this).await,
        LinkAction::Resolve => s.app.incidents().resolve(&who, &this).await,
    };
    let (_, done) = verb(link.action);
    match result {
        Ok(i) => page(
            StatusCode::OK,
            &format!("Incident #{} {done}", i.number),
            &format!("{}<p>Thank you.</p>", describe(&i)),
        ),
        Err(tocsin_app::Error::Store(StoreError::Transition(e))) => page(
            StatusCode::CONFLICT,
            &format!("Incident #{} was not {done}", incident.number),
            &format!("{}<p>{}</p>", describe(&incident), escape(&e.to_string())),
        ),
        Err(e) => {
            tracing::error!(error = %e, "An action link failed.");
            page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Tocsin could not record that. Try again in a moment.</p>",
            )
        }
    }
}
