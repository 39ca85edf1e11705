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

#[derive(Template)]
#[template(path = "status_page.html")]
struct StatusPageHtml {
    css: &'static str,
    name: String,
    slug: String,
    indicator: &'static str,
    description: &'static str,
    components: Vec<ComponentLine>,
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

pub async fn page(
    State(s): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Response, PageError> {
    let p = crate::http::status_pages::public_page(&s, &slug).await?;
    let zone = p.page.zone();
    Ok(render(
        StatusCode::OK,
        &StatusPageHtml {
            css: super::assets::css_url(),
            name: p.page.name.clone(),
            slug: p.page.slug.to_string(),
            indicator: indicator_class(p.status.indicator),
            description: p.status.description,
            components: lines(&p),
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
