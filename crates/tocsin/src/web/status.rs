//! The public status page: what customers read, readable on a phone, without JavaScript, in the page's time zone.

use super::PageError;
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
    /// "99.95%" over the days shown; empty before it existed.
    pub uptime: String,
    pub days: Vec<DayBar>,
}

/// One day's bar: its colour (the worst status that day, or none before the component existed) and what it
/// says on hover or tap.
pub struct DayBar {
    pub class: &'static str,
    pub text: String,
    /// Something happened that day: the bar can be focused (tapped) to read it.
    pub eventful: bool,
}

fn day_bar(d: &tocsin_app::ShownDay) -> DayBar {
    use tocsin_domain::status_page::ComponentStatus as C;
    let date = d.day.date.format("%-d %b %Y");
    if !d.day.tracked() {
        return DayBar {
            class: "none",
            text: format!("{date}: no data"),
            eventful: false,
        };
    }
    let minutes = d.day.outage_minutes().round() as i64;
    let mut text = match (minutes, d.day.worst) {
        (0, C::Operational) => format!("{date}: no downtime"),
        (0, worst) => format!("{date}: {}", worst.label().to_lowercase()),
        (1, _) => format!("{date}: 1 minute of outage"),
        (m, _) => format!("{date}: {m} minutes of outage"),
    };
    for name in &d.incidents {
        text.push_str(" · ");
        text.push_str(name);
    }
    DayBar {
        class: d.day.worst.as_str(),
        eventful: d.day.worst != C::Operational || !d.incidents.is_empty(),
        text,
    }
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
    js: &'static str,
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
    days: u32,
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
        uptime: c
            .uptime_percent
            .map(|p| format!("{}%", (p * 100.0).floor() / 100.0))
            .unwrap_or_default(),
        days: c.days.iter().map(day_bar).collect(),
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

/// The page's HTML, as rendered from one snapshot.
pub(crate) fn html(p: &PublicPage) -> String {
    let zone = p.page.zone();
    let since = p.built_at - chrono::Duration::days(PAST_DAYS);
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
    let page = StatusPageHtml {
        css: super::assets::css_url(),
        js: super::assets::js_url(),
        name: p.page.name.clone(),
        slug: p.page.slug.to_string(),
        indicator: indicator_class(p.status.indicator),
        description: p.status.description,
        components: lines(p),
        active,
        past,
        updated_iso: p.updated_at.to_rfc3339(),
        updated_local: p
            .updated_at
            .with_timezone(&zone)
            .format("%Y-%m-%d %H:%M %Z")
            .to_string(),
        time_zone: zone.name().to_owned(),
        days: tocsin_domain::uptime::HISTORY_DAYS,
    };
    page.render().unwrap_or_else(|e| {
        tracing::error!(error = %e, "Could not render a status page.");
        String::new()
    })
}

pub async fn page(
    State(s): State<AppState>,
    crate::http::extract::MaybeCaller(reader): crate::http::extract::MaybeCaller,
    Path(slug): Path<String>,
    headers: axum::http::HeaderMap,
) -> Result<Response, PageError> {
    let shown = match crate::http::status_pages::public_page(&s, &slug, reader.as_ref()).await {
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
    let slug = shown.page.page.slug.clone();
    let doc = crate::http::status_pages::Document::Html;
    match crate::http::status_pages::answer(&s, &slug, &doc, &shown, &headers) {
        Some(response) => Ok(super::secure(response)),
        None => Err(PageError::internal("the status page did not render")),
    }
}
