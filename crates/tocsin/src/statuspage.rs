//! Statuspage's public API format: the documents a Statuspage-hosted page serves under `/api/v2/`, with its
//! field names, enums, nulls and timestamp form (milliseconds, in the page's time zone, `Z` for UTC), so that
//! strict decoders written against Statuspage read Tocsin's pages.

use chrono::{DateTime, Utc};
use serde::Serialize;
use tocsin_app::PublicPage;
use tocsin_domain::public_incidents::{PublicIncident, PublicStatus};
use tocsin_domain::status_page::{ComponentStatus, Indicator};

#[derive(Debug, Serialize)]
pub struct Page {
    pub id: String,
    pub name: String,
    pub url: String,
    pub time_zone: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct Component {
    pub id: String,
    pub name: String,
    pub status: ComponentStatus,
    pub created_at: String,
    pub updated_at: String,
    pub position: usize,
    pub description: Option<String>,
    pub showcase: bool,
    pub start_date: Option<String>,
    pub group_id: Option<String>,
    pub page_id: String,
    pub group: bool,
    pub only_show_if_degraded: bool,
    /// A group's members; only groups carry it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub components: Option<Vec<String>>,
}

#[derive(Debug, Serialize)]
pub struct Status {
    pub indicator: Indicator,
    pub description: &'static str,
}

#[derive(Debug, Serialize)]
pub struct Incident {
    pub id: String,
    pub name: String,
    pub status: PublicStatus,
    pub created_at: String,
    pub updated_at: String,
    pub monitoring_at: Option<String>,
    pub resolved_at: Option<String>,
    pub impact: Indicator,
    pub shortlink: String,
    pub started_at: String,
    pub page_id: String,
    pub incident_updates: Vec<IncidentUpdate>,
    /// The components it affects, as they stand now.
    pub components: Vec<Component>,
}

#[derive(Debug, Serialize)]
pub struct IncidentUpdate {
    pub id: String,
    pub status: PublicStatus,
    pub body: String,
    pub incident_id: String,
    pub created_at: String,
    pub updated_at: String,
    pub display_at: String,
    /// The components whose status it changed; null when it changed none.
    pub affected_components: Option<Vec<AffectedComponent>>,
    pub deliver_notifications: bool,
    pub custom_tweet: Option<String>,
    pub tweet_id: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct AffectedComponent {
    pub code: String,
    /// "Group - Component" for a group's member.
    pub name: String,
    pub old_status: ComponentStatus,
    pub new_status: ComponentStatus,
}

#[derive(Debug, Serialize)]
pub struct Summary {
    pub page: Page,
    pub components: Vec<Component>,
    /// Unresolved incidents.
    pub incidents: Vec<Incident>,
    /// Scheduled maintenance is not kept on pages: none.
    pub scheduled_maintenances: [(); 0],
    pub status: Status,
}

/// `scheduled-maintenances.json` and its `upcoming` and `active` views: maintenance is not scheduled on pages,
/// so there is none to list.
#[derive(Debug, Serialize)]
pub struct Maintenances {
    pub page: Page,
    pub scheduled_maintenances: [(); 0],
}

#[derive(Debug, Serialize)]
pub struct Incidents {
    pub page: Page,
    pub incidents: Vec<Incident>,
}

#[derive(Debug, Serialize)]
pub struct StatusDocument {
    pub page: Page,
    pub status: Status,
}

#[derive(Debug, Serialize)]
pub struct Components {
    pub page: Page,
    pub components: Vec<Component>,
}

/// A time as Statuspage writes it: to the millisecond, in the page's time zone, `Z` when that is UTC.
pub fn timestamp(at: DateTime<Utc>, zone: chrono_tz::Tz) -> String {
    let local = at.with_timezone(&zone);
    let text = local.format("%Y-%m-%dT%H:%M:%S%.3f%:z").to_string();
    match text.strip_suffix("+00:00") {
        Some(rest) if zone == chrono_tz::UTC => format!("{rest}Z"),
        _ => text,
    }
}

fn page(p: &PublicPage, public_url: &str) -> Page {
    let zone = p.page.zone();
    Page {
        id: p.page.id.to_string(),
        name: p.page.name.clone(),
        url: format!("{public_url}/status/{}", p.page.slug),
        time_zone: zone.name().to_owned(),
        updated_at: timestamp(p.updated_at, zone),
    }
}

/// The components in the page's order; each one's `position` counts among its siblings (the top level, or its
/// group's members) from 1, as Statuspage counts.
fn components_of(p: &PublicPage) -> Vec<Component> {
    let zone = p.page.zone();
    let mut positions: std::collections::HashMap<Option<&str>, usize> = Default::default();
    p.components
        .iter()
        .map(|shown| {
            let c = &shown.component;
            let siblings = positions
                .entry(c.group_id.as_ref().map(|g| g.as_str()))
                .or_default();
            *siblings += 1;
            Component {
                id: c.id.to_string(),
                name: c.name.clone(),
                status: shown.status,
                created_at: timestamp(c.created_at, zone),
                updated_at: timestamp(c.updated_at, zone),
                position: *siblings,
                description: c.description.clone(),
                showcase: true,
                start_date: None,
                group_id: c.group_id.as_ref().map(|g| g.to_string()),
                page_id: c.page_id.to_string(),
                group: c.group,
                only_show_if_degraded: c.only_show_if_degraded,
                components: c
                    .group
                    .then(|| shown.members.iter().map(|m| m.to_string()).collect()),
            }
        })
        .collect()
}

fn status_of(p: &PublicPage) -> Status {
    Status {
        indicator: p.status.indicator,
        description: p.status.description,
    }
}

/// The public incidents as Statuspage writes them, `unresolved` alone or all of the most recent.
fn incidents_of(p: &PublicPage, public_url: &str, unresolved: bool) -> Vec<Incident> {
    let zone = p.page.zone();
    let at = |t| timestamp(t, zone);
    let components = components_of(p);
    let page_components = || p.components.iter().map(|s| &s.component);
    let name_of = |id: &str| {
        page_components()
            .find(|c| c.id.as_str() == id)
            .map(|c| tocsin_domain::status_page::qualified_name(c, page_components()))
            .unwrap_or_default()
    };
    p.incidents
        .iter()
        .filter(|i| !unresolved || !i.status.is_resolved())
        .map(|i: &PublicIncident| Incident {
            id: i.id.to_string(),
            name: i.name.clone(),
            status: i.status,
            created_at: at(i.created_at),
            updated_at: at(i.updated_at),
            monitoring_at: i.monitoring_at.map(at),
            resolved_at: i.resolved_at.map(at),
            impact: i.impact,
            shortlink: format!("{public_url}/status/{}#incident-{}", p.page.slug, i.id),
            started_at: at(i.created_at),
            page_id: p.page.id.to_string(),
            incident_updates: i
                .updates
                .iter()
                .map(|u| IncidentUpdate {
                    id: u.id.to_string(),
                    status: u.status,
                    body: u.body.clone(),
                    incident_id: i.id.to_string(),
                    created_at: at(u.created_at),
                    updated_at: at(u.created_at),
                    display_at: at(u.created_at),
                    affected_components: (!u.changes.is_empty()).then(|| {
                        u.changes
                            .iter()
                            .map(|c| AffectedComponent {
                                code: c.component_id.to_string(),
                                name: name_of(c.component_id.as_str()),
                                old_status: c.old_status,
                                new_status: c.new_status,
                            })
                            .collect()
                    }),
                    deliver_notifications: true,
                    custom_tweet: None,
                    tweet_id: None,
                })
                .collect(),
            components: components
                .iter()
                .filter(|c| i.components.iter().any(|a| a.component_id.as_str() == c.id))
                .map(Component::clone)
                .collect(),
        })
        .collect()
}

pub fn summary(p: &PublicPage, public_url: &str) -> Summary {
    Summary {
        page: page(p, public_url),
        components: components_of(p),
        incidents: incidents_of(p, public_url, true),
        scheduled_maintenances: [],
        status: status_of(p),
    }
}

/// `incidents.json`: the 50 most recent incidents, resolved ones included.
pub fn incidents(p: &PublicPage, public_url: &str) -> Incidents {
    Incidents {
        page: page(p, public_url),
        incidents: incidents_of(p, public_url, false),
    }
}

pub fn maintenances(p: &PublicPage, public_url: &str) -> Maintenances {
    Maintenances {
        page: page(p, public_url),
        scheduled_maintenances: [],
    }
}

/// `incidents/unresolved.json`.
pub fn unresolved(p: &PublicPage, public_url: &str) -> Incidents {
    Incidents {
        page: page(p, public_url),
        incidents: incidents_of(p, public_url, true),
    }
}

pub fn status(p: &PublicPage, public_url: &str) -> StatusDocument {
    StatusDocument {
        page: page(p, public_url),
        status: status_of(p),
    }
}

pub fn components(p: &PublicPage, public_url: &str) -> Components {
    Components {
        page: page(p, public_url),
        components: components_of(p),
    }
}

/// Text made safe inside XML, in element content and attribute values alike.
fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// An incident's updates as the feeds' HTML content, newest first: when, its status, what was said.
fn history_html(i: &PublicIncident, zone: chrono_tz::Tz) -> String {
    i.updates
        .iter()
        .map(|u| {
            format!(
                "<p><small>{}</small><br><strong>{}</strong> - {}</p>",
                u.created_at.with_timezone(&zone).format("%b %e, %H:%M %Z"),
                u.status.label(),
                xml(&u.body)
            )
        })
        .collect()
}

/// `history.atom`: one entry per public incident, updated in place as it goes on.
pub fn atom(p: &PublicPage, public_url: &str) -> String {
    let zone = p.page.zone();
    let page_url = format!("{public_url}/status/{}", p.page.slug);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<feed xml:lang=\"en-US\" xmlns=\"http://www.w3.org/2005/Atom\">\n\
         <id>{page}/history.atom</id>\n<link rel=\"alternate\" type=\"text/html\" href=\"{page}\"/>\n\
         <link rel=\"self\" type=\"application/atom+xml\" href=\"{page}/history.atom\"/>\n\
         <title>{name} Status - Incident History</title>\n<updated>{updated}</updated>\n<author><name>{name}</name></author>\n",
        page = xml(&page_url),
        name = xml(&p.page.name),
        updated = p.updated_at.to_rfc3339(),
    );
    for i in &p.incidents {
        out.push_str(&format!(
            "<entry>\n<id>{page}#incident-{id}</id>\n<published>{published}</published>\n<updated>{updated}</updated>\n\
             <link rel=\"alternate\" type=\"text/html\" href=\"{page}#incident-{id}\"/>\n<title>{title}</title>\n\
             <content type=\"html\">{content}</content>\n</entry>\n",
            page = xml(&page_url),
            id = i.id,
            published = i.created_at.to_rfc3339(),
            updated = i.updated_at.to_rfc3339(),
            title = xml(&i.name),
            content = xml(&history_html(i, zone)),
        ));
    }
    out.push_str("</feed>\n");
    out
}

/// `history.rss`: the same history as RSS 2.0.
pub fn rss(p: &PublicPage, public_url: &str) -> String {
    let zone = p.page.zone();
    let page_url = format!("{public_url}/status/{}", p.page.slug);
    let mut out = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<rss version=\"2.0\" xmlns:atom=\"http://www.w3.org/2005/Atom\">\n<channel>\n\
         <title>{name} Status - Incident History</title>\n<link>{page}</link>\n\
         <description>{name} Status - Incident History</description>\n<pubDate>{updated}</pubDate>\n\
         <atom:link href=\"{page}/history.rss\" rel=\"self\" type=\"application/rss+xml\"/>\n",
        page = xml(&page_url),
        name = xml(&p.page.name),
        updated = p.updated_at.to_rfc2822(),
    );
    for i in &p.incidents {
        out.push_str(&format!(
            "<item>\n<title>{title}</title>\n<description>{content}</description>\n<pubDate>{published}</pubDate>\n\
             <link>{page}#incident-{id}</link>\n<guid>{page}#incident-{id}</guid>\n</item>\n",
            page = xml(&page_url),
            id = i.id,
            published = i.created_at.to_rfc2822(),
            title = xml(&i.name),
            content = xml(&history_html(i, zone)),
        ));
    }
    out.push_str("</channel>\n</rss>\n");
    out
}

/// A badge in the shields style: `label` on grey, `message` on `color`, readable by screen readers.
pub fn badge(label: &str, message: &str, color: &str) -> String {
    // Verdana 11px averages about 7 px a character; the text is measured only to size the boxes.
    let width = |t: &str| 10 + 7 * t.chars().count();
    let (left, right) = (width(label), width(message));
    let total = left + right;
    let (label, message) = (xml(label), xml(message));
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{total}\" height=\"20\" role=\"img\" \
         aria-label=\"{label}: {message}\"><title>{label}: {message}</title>\
         <rect width=\"{left}\" height=\"20\" fill=\"#555\"/><rect x=\"{left}\" width=\"{right}\" height=\"20\" fill=\"{color}\"/>\
         <g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
         <text x=\"{lx}\" y=\"14\">{label}</text><text x=\"{rx}\" y=\"14\">{message}</text></g></svg>",
        lx = left / 2,
        rx = left + right / 2,
    )
}

/// A page's badge: its name, and its overall status.
pub fn page_badge(p: &PublicPage) -> String {
    let color = match p.status.indicator {
        Indicator::None => "#2ea44f",
        Indicator::Minor => "#b08800",
        Indicator::Major => "#d15704",
        Indicator::Critical => "#cb2431",
        Indicator::Maintenance => "#0366d6",
    };
    badge(&p.page.name, p.status.description, color)
}

/// A component's badge: its name, and its status; none for a component the page does not have.
pub fn component_badge(p: &PublicPage, id: &str) -> Option<String> {
    let shown = p
        .components
        .iter()
        .find(|c| c.component.id.as_str() == id)?;
    let color = match shown.status {
        ComponentStatus::Operational => "#2ea44f",
        ComponentStatus::DegradedPerformance => "#b08800",
        ComponentStatus::PartialOutage => "#d15704",
        ComponentStatus::MajorOutage => "#cb2431",
        ComponentStatus::UnderMaintenance => "#0366d6",
    };
    Some(badge(&shown.component.name, shown.status.label(), color))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_are_written_as_statuspage_writes_them() {
        let at: DateTime<Utc> = "2019-02-21T14:31:24.239Z".parse().unwrap();
        assert_eq!(
            timestamp(at, chrono_tz::America::Chicago),
            "2019-02-21T08:31:24.239-06:00"
        );
        assert_eq!(timestamp(at, chrono_tz::UTC), "2019-02-21T14:31:24.239Z");
        assert_eq!(
            timestamp(at, chrono_tz::Europe::London),
            "2019-02-21T14:31:24.239+00:00",
            "only UTC itself is written Z"
        );
    }
}
