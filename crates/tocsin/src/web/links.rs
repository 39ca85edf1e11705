//! The pages behind the signed links in notifications (`/act/{token}`), drawn like every other page. Their
//! handlers live with the API's routes; this is how they look.

use super::{Chrome, render};
use askama::Template;
use axum::http::StatusCode;
use axum::response::Response;
use tocsin_domain::incident::Incident;

/// The incident as a link's page shows it.
pub struct LinkIncident {
    pub number: i64,
    pub title: String,
    pub severity: &'static str,
    pub status: &'static str,
    pub impact: String,
    pub description: String,
}

impl LinkIncident {
    pub fn of(i: &Incident) -> Self {
        Self {
            number: i.number,
            title: i.title.clone(),
            severity: i.severity.as_str(),
            status: i.status.as_str(),
            impact: i.customer_impact.clone(),
            description: i.description.clone(),
        }
    }
}

#[derive(Template, Default)]
#[template(path = "link.html")]
pub struct LinkPage {
    chrome: Chrome,
    pub title: String,
    pub incident: Option<LinkIncident>,
    /// Paragraphs.
    pub message: Vec<String>,
    /// Forms that post to a URL: where, the button's label, whether it is the main action.
    pub buttons: Vec<(String, &'static str, bool)>,
    pub after_buttons: Option<String>,
    /// When, who, what.
    pub timeline: Vec<(String, String, String)>,
    pub show_changes: bool,
    /// When, which service, what.
    pub changes: Vec<(String, String, String)>,
}

impl LinkPage {
    pub fn new(title: impl Into<String>) -> Self {
        Self {
            chrome: Chrome::new(None, ""),
            title: title.into(),
            ..Default::default()
        }
    }

    pub fn about(mut self, incident: &Incident) -> Self {
        self.incident = Some(LinkIncident::of(incident));
        self
    }

    pub fn saying(mut self, paragraph: impl Into<String>) -> Self {
        self.message.push(paragraph.into());
        self
    }

    /// The page, sent without a Referer to anywhere: its URL is a credential.
    pub fn render(&self, status: StatusCode) -> Response {
        let mut resp = render(status, self);
        resp.headers_mut().insert(
            axum::http::header::REFERRER_POLICY,
            axum::http::HeaderValue::from_static("no-referrer"),
        );
        resp
    }
}
