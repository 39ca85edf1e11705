//! Acknowledge and resolve from a notification: the signed links in emails and chat messages, and the link to the
//! incident itself.
//!
//! Opening a link (GET) only shows a page; an action happens on the page's POST. Mail scanners and chat unfurlers
//! follow links on their own, and none of them must acknowledge an incident for anyone. The incident link shows
//! the incident read-only to the person it was sent to (its details, latest timeline, recent changes on its
//! services), with buttons for what its state allows.

use super::AppState;
use super::extract::Peer;
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
         .muted{{color:#555}}.inline{{display:inline}}li{{margin:.4rem 0}}</style></head><body><h1>{}</h1>{body}</body></html>",
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
        LinkAction::View => ("View", "shown"),
    }
}

/// How many of the latest timeline entries the incident page shows.
const TIMELINE_SHOWN: usize = 15;

/// The incident as its link shows it: details, what can be done, the latest timeline, recent changes.
async fn view(s: &AppState, link: &ActionLink, incident: &Incident, who: &Principal) -> Response {
    let this = incident.id.clone().into();
    let incidents = s.app.incidents();
    let loaded = tokio::try_join!(
        incidents.timeline(who, &this),
        incidents.recent_changes(who, &this),
    );
    let (timeline, changes) = match loaded {
        Ok(both) => both,
        Err(e) => {
            tracing::error!(error = %e, "Loading an incident for its link failed.");
            return page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "<p>Tocsin could not load the incident. Try again in a moment.</p>",
            );
        }
    };
    let mut body = describe(incident);
    if !incident.customer_impact.is_empty() {
        body.push_str(&format!(
            "<p>Customer impact: {}</p>",
            escape(&incident.customer_impact)
        ));
    }
    if !incident.description.is_empty() {
        body.push_str(&format!("<p>{}</p>", escape(&incident.description)));
    }
    // The buttons act as the person the link was sent to, until the link itself expires.
    let mut actions = Vec::new();
    if incident.status == IncidentStatus::Triggered {
        actions.push(LinkAction::Acknowledge);
    }
    if incident.status != IncidentStatus::Resolved {
        actions.push(LinkAction::Resolve);
    }
    for action in actions {
        let token = ActionLink {
            incident_id: incident.id.clone(),
            action,
            user_id: link.user_id.clone(),
            expires_at: link.expires_at,
        }
        .sign(&s.link_key);
        body.push_str(&format!(
            "<form method=\"post\" action=\"/act/{token}\" class=\"inline\"><button type=\"submit\">{}</button></form> ",
            verb(action).0
        ));
    }
    body.push_str("<h2>Latest on the timeline</h2><ul>");
    let skip = timeline.len().saturating_sub(TIMELINE_SHOWN);
    for record in timeline.iter().skip(skip).rev() {
        body.push_str(&format!(
            "<li><span class=\"muted\">{} · {}</span><br>{}</li>",
            record.entry.at.format("%Y-%m-%d %H:%M UTC"),
            escape(&record.entry.actor.name),
            escape(&crate::wording::timeline(&record.entry))
        ));
    }
    body.push_str("</ul><h2>Changes on its services</h2>");
    if changes.is_empty() {
        body.push_str("<p class=\"muted\">None recorded since a day before it opened.</p>");
    } else {
        body.push_str("<ul>");
        for (service, change) in &changes {
            body.push_str(&format!(
                "<li><span class=\"muted\">{} · {}</span><br>{}</li>",
                change.received_at.format("%Y-%m-%d %H:%M UTC"),
                escape(service),
                escape(&change.summary)
            ));
        }
        body.push_str("</ul>");
    }
    page(
        StatusCode::OK,
        &format!("Incident #{}", incident.number),
        &body,
    )
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
    if let Err(tocsin_app::Error::Store(StoreError::NotFound { kind: "user", .. })) = &holder {
        return Err(page(
            StatusCode::FORBIDDEN,
            "This link does not work",
            "<p>The person this link was sent to is no longer in Tocsin, so it cannot act for them.</p>",
        ));
    }
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
    let (link, incident, who) = match verified(&s, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    if link.action == LinkAction::View {
        return view(&s, &link, &incident, &who).await;
    }
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
pub async fn act(
    State(s): State<AppState>,
    Path(token): Path<String>,
    Peer(address): Peer,
) -> Response {
    let (link, incident, who) = match verified(&s, &token).await {
        Ok(v) => v,
        Err(r) => return r,
    };
    let who = who.from_address(address);
    if link.action == LinkAction::View {
        return page(
            StatusCode::METHOD_NOT_ALLOWED,
            "This link only shows the incident",
            "<p>Open it to see the incident and the buttons for what can be done.</p>",
        );
    }
    if let Some(r) = already_done(&link, &incident) {
        return r;
    }
    let this = incident.id.clone().into();
    let result = match link.action {
        LinkAction::Acknowledge => s.app.incidents().acknowledge(&who, &this).await,
        LinkAction::Resolve => s.app.incidents().resolve(&who, &this).await,
        LinkAction::View => unreachable!("a view link is answered before any action"),
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
