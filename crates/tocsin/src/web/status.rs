//! The public status page: what customers read, readable on a phone, without JavaScript, in the page's time zone.

use super::{PageError, render};
use crate::http::AppState;
use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tocsin_app::PublicPage;

/// One line of the component list.
pub struct ComponentLine {
    pub name: String,
    pub description: Option<String>,
    pub status: &'static str,
    pub label: &'static str,
    /// Shown indented under its group.
    pub member: bool,
}

/// A public incident as the page tells it.
pub struct IncidentView {
    pub id: String,
    pub name: String,
    pub impact: &'static str,
    pub status: &'static str,
    /// Newest first: status, text, when (ISO and in the page's zone).
    pub updates: Vec<(&'static str, String, String, String)>,
}

#[derive(Template)]
#[template(path = "status_page.html")]
struct StatusPageHtml {
    css: &'static str,
    name: String,
    slug: String,
    indicator: &'static str,
    description: &'static str,
    components: Vec<ComponentLine>,
    /// Unresolved, newest first.
    active: Vec<IncidentView>,
    /// Resolved in the last week, newest first.
    past: Vec<IncidentView>,
    updated_iso: String,
    updated_local: String,
    time_zone: String,
}

fn indicator_class(i: tocsin_domain::status_page::Indicator) -> &'static str {
    use tocsin_domain::status_page::Indicator;
    match i {
        Indicator::None => "none",
        Indicator::Maintenance => "maintenance",
        Indicator::Minor => "minor",
        Indicator::Major => "major",
        Indicator::Critical => "critical",
    }
}

/// The lines in reading order: each top-level component, a group followed by its members; a component shown only
/// when degraded is left out while it is operational.
fn lines(p: &PublicPage) -> Vec<ComponentLine> {
    let shown = |c: &tocsin_app::ShownComponent| {
        !(c.component.only_show_if_degraded
            && c.status == tocsin_domain::status_page::ComponentStatus::Operational)
    };
    let line = |c: &tocsin_app::ShownComponent, member: bool| ComponentLine {
        name: c.component.name.clone(),
        description: c.component.description.clone(),
        status: c.status.as_str(),
        label: c.status.label(),
        member,
    };
    let mut out = Vec::new();
    for top in p
        .components
        .iter()
        .filter(|c| c.component.group_id.is_none())
    {
        if !shown(top) {
            continue;
        }
        out.push(line(top, false));
        for member_id in &top.members {
            if let Some(member) = p
                .components
                .iter()
                .find(|c| &c.component.id == member_id)
                .filter(|c| shown(c))
            {
                out.push(line(member, true));
            }
        }
    }
    out
}

/// How long a resolved incident stays on the page.
const PAST_DAYS: i64 = 7;

fn incident_view(
    i: &tocsin_domain::public_incidents::PublicIncident,
    zone: chrono_tz::Tz,
) -> IncidentView {
    IncidentView {
        id: i.id.to_string(),
        name: i.name.clone(),
        impact: indicator_class(i.impact),
        status: i.status.label(),
        updates: i
            .updates
            .iter()
            .map(|u| {
                (
                    u.status.label(),
                    u.body.clone(),
                    u.created_at.to_rfc3339(),
                    u.created_at
                        .with_timezone(&zone)
                        .format("%Y-%m-%d %H:%M %Z")
                        .to_string(),
                )
            })
            .collect(),
    }
}

pub async fn page(
    State(s): State<AppState>,
    crate::http::extract::MaybeCaller(reader): crate::http::extract::MaybeCaller,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let p = match crate::http::status_pages::public_page(&s, &slug, reader.as_ref()).await {
        Ok(p) => p,
        // The same answer for a page that does not exist and one that is private: neither is shown.
        Err(e) if e.0.code == crate::http::error::ErrorCode::NotFound && reader.is_none() => {
            return Err(PageError::new(
                StatusCode::NOT_FOUND,
                "Not found",
                "There is no status page here, or it is private: sign in to Tocsin first to see a private one.",
            ));
        }
        Err(e) => return Err(e.into()),
    };
    let zone = p.page.zone();
    let since = s.app.now() - chrono::Duration::days(PAST_DAYS);
    let active = p
        .incidents
        .iter()
        .filter(|i| !i.status.is_resolved())
        .map(|i| incident_view(i, zone))
        .collect();
    let past = p
        .incidents
        .iter()
        .filter(|i| i.status.is_resolved() && i.updated_at >= since)
        .map(|i| incident_view(i, zone))
        .collect();
    Ok(render(
        StatusCode::OK,
        &StatusPageHtml {
            css: super::assets::css_url(),
            name: p.page.name.clone(),
            slug: p.page.slug.to_string(),
            indicator: indicator_class(p.status.indicator),
            description: p.status.description,
            components: lines(&p),
            active,
            past,
            updated_iso: p.updated_at.to_rfc3339(),
            updated_local: p
                .updated_at
                .with_timezone(&zone)
                .format("%Y-%m-%d %H:%M %Z")
                .to_string(),
            time_zone: zone.name().to_owned(),
        },
    ))
}
