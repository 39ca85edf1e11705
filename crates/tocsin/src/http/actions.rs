//! Acknowledge and resolve from a notification: the signed links in emails and chat messages, and the link to the
//! incident itself.
//!
//! Opening a link (GET) only shows a page; an action happens on the page's POST. Mail scanners and chat unfurlers
//! follow links on their own, and none of them must acknowledge an incident for anyone. The incident link shows
//! the incident read-only to the person it was sent to (its details, latest timeline, recent changes on its
//! services), with buttons for what its state allows and a way into the UI's incident page.

use super::AppState;
use super::extract::Peer;
use crate::web::links::LinkPage;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tocsin_app::Principal;
use tocsin_domain::incident::{Incident, IncidentStatus};
use tocsin_domain::links::{ActionLink, LinkAction};
use tocsin_store::StoreError;

fn verb(action: LinkAction) -> (&'static str, &'static str) {
    match action {
        LinkAction::Acknowledge => ("Acknowledge", "acknowledged"),
        LinkAction::Resolve => ("Resolve", "resolved"),
        LinkAction::View => ("View", "shown"),
    }
}

fn went_wrong(what: &str) -> Response {
    LinkPage::new("Something went wrong")
        .saying(format!("Tocsin could not {what}. Try again in a moment."))
        .render(StatusCode::INTERNAL_SERVER_ERROR)
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
            return went_wrong("load the incident");
        }
    };
    let mut page = LinkPage::new(format!("Incident #{}", incident.number)).about(incident);
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
        page.buttons.push((
            format!("/act/{token}"),
            verb(action).0,
            action == LinkAction::Acknowledge,
        ));
    }
    let skip = timeline.len().saturating_sub(TIMELINE_SHOWN);
    page.timeline = timeline
        .iter()
        .skip(skip)
        .rev()
        .map(|record| {
            (
                record.entry.at.format("%Y-%m-%d %H:%M UTC").to_string(),
                record.entry.actor.name.clone(),
                crate::wording::timeline(&record.entry),
            )
        })
        .collect();
    page.show_changes = true;
    page.changes = changes
        .iter()
        .map(|(service, change)| {
            (
                change.received_at.format("%Y-%m-%d %H:%M UTC").to_string(),
                service.clone(),
                change.summary.clone(),
            )
        })
        .collect();
    page.render(StatusCode::OK)
}

/// The link, the incident it is for, and the person it was sent to (who acts through it).
async fn verified(
    s: &AppState,
    token: &str,
) -> Result<(ActionLink, Incident, Principal), Response> {
    let link = ActionLink::verify(token, &s.link_key, s.app.now()).map_err(|e| {
        LinkPage::new("This link does not work")
            .saying(e.to_string())
            .render(StatusCode::FORBIDDEN)
    })?;
    let holder = s.app.link_holder(&link.user_id).await;
    if let Err(tocsin_app::Error::Store(StoreError::NotFound { kind: "user", .. })) = &holder {
        return Err(LinkPage::new("This link does not work")
            .saying(
                "The person this link was sent to is no longer in Tocsin, so it cannot act for them.",
            )
            .render(StatusCode::FORBIDDEN));
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
        Err(tocsin_app::Error::Store(StoreError::NotFound { .. })) => {
            Err(LinkPage::new("Incident not found")
                .saying("The incident this link is for no longer exists.")
                .render(StatusCode::NOT_FOUND))
        }
        Err(e) => {
            tracing::error!(error = %e, "Loading an incident for an action link failed.");
            Err(went_wrong("load the incident"))
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
    .map(|a| format!(" by {}", a.name))
    .unwrap_or_default();
    done.then(|| {
        LinkPage::new(format!("Already {}", incident.status.as_str()))
            .about(incident)
            .saying(format!(
                "It was {}{by}. Nothing to do.",
                incident.status.as_str()
            ))
            .render(StatusCode::OK)
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
    let mut page =
        LinkPage::new(format!("{label} incident #{}?", incident.number)).about(&incident);
    page.buttons.push((format!("/act/{token}"), label, true));
    page.after_buttons = Some(format!(
        "The incident is {done} only when you press the button."
    ));
    page.render(StatusCode::OK)
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
        return LinkPage::new("This link only shows the incident")
            .saying("Open it to see the incident and the buttons for what can be done.")
            .render(StatusCode::METHOD_NOT_ALLOWED);
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
        Ok(i) => LinkPage::new(format!("Incident #{} {done}", i.number))
            .about(&i)
            .saying("Thank you.")
            .render(StatusCode::OK),
        Err(tocsin_app::Error::Store(StoreError::Transition(e))) => {
            LinkPage::new(format!("Incident #{} was not {done}", incident.number))
                .about(&incident)
                .saying(e.to_string())
                .render(StatusCode::CONFLICT)
        }
        Err(e) => {
            tracing::error!(error = %e, "An action link failed.");
            went_wrong("record that")
        }
    }
}
